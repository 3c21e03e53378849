from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tunegym.env.workload import EnvSettings, WorkloadEnv
from tunegym.run import open_env
from tunegym.runners import DryRunRunner, LocalRunner
from tunegym.spec import load
from tunegym.trial import TrialDatabase, TrialStore


@pytest.fixture
def make_env(
    tmp_path: Path, write_toml: Callable[[str, dict[str, Any]], Path]
) -> Iterator[Callable[..., WorkloadEnv]]:
    """Build a WorkloadEnv from a workload dict, writing into tmp_path/run."""
    opened: list[tuple[WorkloadEnv, TrialDatabase]] = []

    def make(data: dict[str, Any], dry_run: bool = False, **settings: Any) -> WorkloadEnv:
        path = write_toml(f"{data['name']}.toml", data)
        (job,) = load(path).jobs
        run_dir = tmp_path / "run"
        run_dir.mkdir(exist_ok=True)
        db = TrialDatabase(run_dir / "trials.sqlite")
        runner = DryRunRunner() if dry_run else LocalRunner()
        store = TrialStore(db, job.name, 0, run_dir / job.name / "0", list(job.workload.env_params))
        env = open_env(job, store, runner, EnvSettings(dry_run=dry_run, **settings))
        opened.append((env, db))
        return env

    yield make
    for env, db in opened:
        env.close()
        db.close()
