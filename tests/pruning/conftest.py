"""A training-like workload: prints ``epoch <n> loss=<v>`` per epoch (and appends JSON
lines to ``progress.jsonl``); ``--hang`` keeps it (and a child in its process group)
alive after the last epoch, so only a stop ends it early."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

TRAINER = textwrap.dedent(
    """
    import argparse, json, os, subprocess, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--lr", type=float)
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--sleep", type=float, default=0.05)
    p.add_argument("--hang", type=float, default=0.0)
    a = p.parse_args()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open("pids.txt", "w") as fh:
        fh.write(f"{os.getpid()} {child.pid}\\n")
    loss = 0.0
    for epoch in range(1, a.epochs + 1):
        loss = abs(a.lr - 0.3) + 1.0 / epoch
        print(f"epoch {epoch} loss={loss:.5f}", flush=True)
        with open("progress.jsonl", "a") as fh:
            fh.write(json.dumps({"step": epoch, "loss": loss}) + "\\n")
        time.sleep(a.sleep)
    time.sleep(a.hang)
    child.kill()
    print(f"done loss={loss:.5f}")
    """
)


@pytest.fixture
def trainer(tmp_path: Path) -> Path:
    path = tmp_path / "trainer.py"
    path.write_text(TRAINER)
    return path


@pytest.fixture
def trainer_workload(trainer: Path) -> Callable[..., dict[str, Any]]:
    """A workload dict over the trainer, median pruner; keyword arguments update it."""

    def make(**overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": "trainer",
            "command": [sys.executable, str(trainer), "--lr={lr}"],
            "params": {"lr": [0.3, 0.35, 0.4, 2.0, 2.5]},
            "metrics": [{"name": "loss", "progress": r"epoch (\d+) loss=(\S+)"}],
            "agent": {
                "type": "grid",
                "reward": "negative",
                "pruner": {"type": "median", "n_startup_trials": 2, "poll_interval_s": 0.05},
            },
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    return make


@pytest.fixture
def open_env_of(tmp_path: Path, write_toml: Callable[[str, dict[str, Any]], Path]) -> Any:
    """``open(data, run_dir=..., **settings)``: a WorkloadEnv over a workload dict with a
    local runner, recording into ``run_dir`` (default tmp_path/run); closed at the end."""
    from tunegym.env.workload import EnvSettings
    from tunegym.run import open_env
    from tunegym.runners import LocalRunner
    from tunegym.spec import load
    from tunegym.trial import TrialDatabase, TrialStore

    opened: list[Any] = []

    def make(data: dict[str, Any], run_dir: Path | None = None, **settings: Any) -> Any:
        path = write_toml(f"{data['name']}.toml", data)
        (job,) = load(path).jobs
        run_dir = run_dir or tmp_path / "run"
        run_dir.mkdir(exist_ok=True)
        db = TrialDatabase(run_dir / "trials.sqlite")
        store = TrialStore(db, job.name, 0, run_dir / job.name / "0", [])
        env = open_env(job, store, LocalRunner(), EnvSettings(**settings))
        opened.append((env, db))
        return env

    yield make
    for env, db in opened:
        env.close()
        db.close()
