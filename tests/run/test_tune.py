"""tunegym.tune: ``tunegym run`` from Python, returning the run it wrote as data."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tunegym
from tunegym.cli.main import main
from tunegym.errors import SpecError, UsageError


def _outcomes(run: Any) -> list[tuple[int, dict[str, Any], str, float | None]]:
    return [(r.step, dict(r.action), r.status.value, r.reward) for job in run for r in job.rows]


@pytest.fixture
def grid_file(objective_workload: Callable[..., dict[str, Any]], write_toml: Callable) -> Path:
    """A grid over 8 points of the objective script; the best is x = 3, y = b (1.0)."""
    return write_toml("workload.toml", objective_workload())


def test_tune_runs_the_file_and_returns_what_tunegym_run_writes(
    grid_file: Path, tmp_path: Path
) -> None:
    run = tunegym.tune(grid_file, output=tmp_path / "api", verbosity=0)
    assert run.status == "ok"
    assert run.best is not None
    assert dict(run.best.action) == {"x": 3, "y": "b"} and run.best.reward == 1.0
    assert run.best == run.job("objective").best
    (run_dir,) = (tmp_path / "api").iterdir()
    assert run.run_dir == run_dir
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["best"]["action"] == {"x": 3, "y": "b"}

    assert main(["run", str(grid_file), "--output", str(tmp_path / "cli"), "--quiet"]) == 0
    (cli_dir,) = (tmp_path / "cli").iterdir()
    assert _outcomes(run) == _outcomes(tunegym.load_run(cli_dir))
    assert len(run.job("objective").rows) == 8


def test_tune_overrides_the_spec_as_the_command_line_does(
    objective_workload: Callable[..., dict[str, Any]], write_toml: Callable, tmp_path: Path
) -> None:
    path = write_toml("random.toml", objective_workload(agent={"type": "random", "seed": 1}))
    run = tunegym.tune(path, output=tmp_path / "runs", max_steps=3, seed=5, verbosity=0)
    assert len(run.job("objective").rows) == 3
    assert run.info["seed"] == 5 and run.info["max_steps"] == 3


def test_tune_resume_with_more_steps_extends_the_same_run(
    objective_workload: Callable[..., dict[str, Any]], write_toml: Callable, tmp_path: Path
) -> None:
    path = write_toml("random.toml", objective_workload(agent={"type": "random", "seed": 1}))
    first = tunegym.tune(path, output=tmp_path / "runs", max_steps=3, verbosity=0)
    more = tunegym.tune(resume=first.run_dir, max_steps=5, verbosity=0)  # the recorded spec
    assert more.run_dir == first.run_dir and more.status == "ok"
    steps = [row.step for row in more.job("objective").rows]
    assert steps == [1, 2, 3, 4, 5]
    assert _outcomes(more)[:3] == _outcomes(first)


def test_a_run_where_every_trial_failed_is_agent_failed_with_no_best(
    objective_workload: Callable[..., dict[str, Any]], write_toml: Callable, tmp_path: Path
) -> None:
    data = objective_workload()
    data["command"] = [*data["command"], "--fail=yes"]
    run = tunegym.tune(write_toml("fails.toml", data), output=tmp_path / "runs", verbosity=0)
    assert run.status == "agent_failed"
    assert run.best is None
    assert {row.status.value for row in run.job("objective").rows} == {"failed"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_steps": 0}, r"max_steps must be a whole number in \[1, 1000000000\], got 0"),
        ({"max_steps": 2.5}, r"max_steps must be a whole number .* got 2\.5"),
        ({"seed": -1}, r"seed must be a whole number in \[0, 2147483647\], got -1"),
        ({"parallel": True}, r"parallel must be a whole number .* got True"),
        ({"budget_s": 0}, r"budget_s must be seconds from more than 0 to 1e\+09, got 0"),
        ({"budget_s": float("nan")}, r"budget_s must be seconds .* got nan"),
        ({"budget_grace_s": -1}, r"budget_grace_s must be seconds from 0 to 1e\+09, got -1"),
        ({"budget_grace_s": "5"}, r"budget_grace_s must be seconds .* got '5'"),
        ({"runner": "k8s"}, r"runner must be one of local, ray, slurm, got 'k8s'"),
        ({"ray_address": "nope"}, r"ray_address: expected local, auto, HOST:PORT or ray://"),
        ({"verbosity": 3}, r"verbosity must be 0 \(quiet\), 1 or 2 \(verbose\), got 3"),
        ({"resume": "somewhere", "seed": 1}, r"seed cannot change a resumed run"),
        ({"resume": "somewhere", "dry_run": True}, r"dry_run cannot change a resumed run"),
        ({"dry_run": 0}, r"^dry_run must be True or False, got 0$"),
        ({"dry_run": 1}, r"^dry_run must be True or False, got 1$"),
        ({"dry_run": None}, r"^dry_run must be True or False, got None$"),
        ({"dry_run": ""}, r"^dry_run must be True or False, got ''$"),
        ({"dry_run": np.True_}, r"^dry_run must be True or False, got (np\.)?True_?$"),
        ({"resume": "somewhere", "dry_run": "yes"}, r"^dry_run must be True or False"),
    ],
)
def test_a_bad_option_is_refused_by_name_before_anything_is_written(
    grid_file: Path, tmp_path: Path, options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        tunegym.tune(grid_file, output=tmp_path / "runs", **{"verbosity": 0, **options})
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("option", ["output", "log_file", "resume"])
@pytest.mark.parametrize("value", [42, b"runs", ["runs"]])
def test_a_path_option_that_is_not_a_path_is_refused_by_name(
    grid_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, option: str, value: object
) -> None:
    # Path(42) raised a bare TypeError from inside tune().
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    message = rf"^{option} must be a path \(a str or os\.PathLike\), got "
    with pytest.raises(UsageError, match=message):
        tunegym.tune(grid_file, verbosity=0, **{option: value})  # type: ignore[arg-type]
    assert list(work.iterdir()) == []  # no runs/ folder


def test_no_file_and_no_resume_and_a_missing_file_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"give a scenario or workload file \(or resume=RUN_DIR\)"):
        tunegym.tune()
    with pytest.raises(SpecError, match=r"nope\.toml: no such file"):
        tunegym.tune(tmp_path / "nope.toml", output=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_resuming_a_folder_that_is_not_a_run_says_so_as_the_command_line_does(
    tmp_path: Path,
) -> None:
    message = rf"cannot resume: {re.escape(str(tmp_path))}: no trials\.sqlite here"
    with pytest.raises(UsageError, match=message):
        tunegym.tune(resume=tmp_path, output=tmp_path / "runs", verbosity=0)
    assert not (tmp_path / "runs").exists()


def test_verbosity_zero_prints_nothing_and_one_shows_progress(
    grid_file: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    tunegym.tune(grid_file, output=tmp_path / "quiet", verbosity=0)
    assert capfd.readouterr() == ("", "")
    tunegym.tune(grid_file, output=tmp_path / "normal")
    out, _ = capfd.readouterr()
    assert "[objective] trial 8/8 step 8: ok" in out  # as `tunegym run` prints it


def test_import_tunegym_stays_light_until_tune_is_used() -> None:
    code = (
        "import sys, tunegym\n"
        "assert 'tunegym.run' not in sys.modules and 'pydantic' not in sys.modules\n"
        "assert tunegym.tune.__module__ == 'tunegym.run.tune'\n"
        "try:\n"
        "    tunegym.nope\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "module 'tunegym' has no attribute 'nope'"


def test_a_log_file_that_is_a_folder_is_refused_before_anything_runs(
    grid_file: Path, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match=r"^log_file .*: is a folder; give a file path$"):
        tunegym.tune(grid_file, output=tmp_path / "runs", log_file=tmp_path, verbosity=0)
    assert not (tmp_path / "runs").exists()


def test_a_log_file_gets_every_trial_line(grid_file: Path, tmp_path: Path) -> None:
    log = tmp_path / "logs" / "tune.log"
    tunegym.tune(grid_file, output=tmp_path / "runs", log_file=log, verbosity=0)
    lines = log.read_text().splitlines()
    assert sum("[objective] trial" in line for line in lines) == 8


def test_on_trial_sees_every_row_as_it_is_recorded(grid_file: Path, tmp_path: Path) -> None:
    seen: list[tuple[str, int, str]] = []

    def on_trial(job: str, row: Any) -> None:
        seen.append((job, row.step, row.status.value))

    run = tunegym.tune(grid_file, output=tmp_path / "runs", verbosity=0, on_trial=on_trial)
    assert seen == [("objective", r.step, r.status.value) for r in run.job("objective").rows]
    assert len(seen) == 8


def test_on_trial_is_called_for_the_new_trials_of_an_extended_run(
    objective_workload: Callable[..., dict[str, Any]], write_toml: Callable, tmp_path: Path
) -> None:
    path = write_toml("random.toml", objective_workload(agent={"type": "random", "seed": 1}))
    first = tunegym.tune(path, output=tmp_path / "runs", max_steps=3, verbosity=0)
    steps: list[int] = []
    tunegym.tune(
        resume=first.run_dir,
        max_steps=5,
        verbosity=0,
        on_trial=lambda _, row: steps.append(row.step),
    )
    assert steps == [4, 5]


class _TrackerDown(RuntimeError):
    pass


def test_an_on_trial_that_raises_stops_the_run_and_keeps_what_was_recorded(
    grid_file: Path, tmp_path: Path
) -> None:
    def on_trial(job: str, row: Any) -> None:
        if row.step == 3:
            raise _TrackerDown("the tracker is down")

    with pytest.raises(_TrackerDown, match="the tracker is down"):
        tunegym.tune(grid_file, output=tmp_path / "runs", verbosity=0, on_trial=on_trial)
    (run_dir,) = (tmp_path / "runs").iterdir()
    run = tunegym.load_run(run_dir)
    assert run.status == "error"
    assert [row.step for row in run.job("objective").rows] == [1, 2, 3]
    assert "_TrackerDown: the tracker is down" in (run_dir / "failure.txt").read_text()


def test_an_on_trial_that_is_not_callable_is_refused(grid_file: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^on_trial must be callable, got 'print'$"):
        tunegym.tune(grid_file, output=tmp_path / "runs", on_trial="print")  # type: ignore[arg-type]
    assert not (tmp_path / "runs").exists()


def test_an_on_trial_that_raises_in_a_parallel_run_stops_the_running_trials(
    write_toml: Callable, tmp_path: Path
) -> None:
    script = tmp_path / "slow.py"
    script.write_text(
        "import os, sys, time\n"
        "s = float(sys.argv[1])\n"
        "open(f'{os.environ[\"PIDS\"]}/{os.getpid()}', 'w').close()\n"
        "time.sleep(s)\n"
        "print(f'score: {s}')\n"
    )
    pids = tmp_path / "pids"
    pids.mkdir()
    path = write_toml(
        "slow.toml",
        {
            "name": "slow",
            "command": [sys.executable, str(script), "{s}"],
            "params": {"s": [0.1, 30, 31]},
            "env": {"PIDS": str(pids)},
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid", "parallel": 2},
        },
    )

    def on_trial(job: str, row: Any) -> None:
        raise _TrackerDown("the tracker is down")

    with pytest.raises(_TrackerDown):
        tunegym.tune(path, output=tmp_path / "runs", verbosity=0, on_trial=on_trial)
    started = [int(p.name) for p in pids.iterdir()]
    assert len(started) >= 2  # the quick trial and a 30 s one
    for pid in started:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"trial {pid} still runs"


def test_a_trial_that_finished_before_on_trial_raised_is_recorded_in_a_parallel_run(
    write_toml: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trial 2 runs until on_trial sees trial 3 (quick); on_trial then waits for trial 2
    # to finish and raises: trial 2 finished before the error, so its row is kept.
    from concurrent.futures import wait

    from tunegym.env.base import PendingTrial
    from tunegym.env.workload import WorkloadEnv

    go = tmp_path / "go"
    script = tmp_path / "gated.py"
    script.write_text(
        "import os, sys, time\n"
        "s = int(sys.argv[1])\n"
        "while s == 2 and not os.path.exists(sys.argv[2]):\n"
        "    time.sleep(0.01)\n"
        "print(f'score: {s}')\n"
    )
    path = write_toml(
        "gated.toml",
        {
            "name": "gated",
            "command": [sys.executable, str(script), "{s}", str(go)],
            "params": {"s": [1, 2, 3, 4]},
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid", "parallel": 2},
        },
    )
    submitted: dict[int, PendingTrial] = {}
    submit = WorkloadEnv.submit

    def spy(env: WorkloadEnv, action: Any) -> PendingTrial:
        pending = submit(env, action)
        submitted[pending.step] = pending
        return pending

    monkeypatch.setattr(WorkloadEnv, "submit", spy)

    def on_trial(job: str, row: Any) -> None:
        if row.step == 3:
            go.touch()
            wait([submitted[2].future], timeout=60)  # type: ignore[list-item]
            raise _TrackerDown("the tracker is down")

    with pytest.raises(_TrackerDown):
        tunegym.tune(path, output=tmp_path / "runs", verbosity=0, on_trial=on_trial)
    (run_dir,) = (tmp_path / "runs").iterdir()
    rows = tunegym.load_run(run_dir).job("gated").rows
    assert sorted((row.step, row.status.value, row.reward) for row in rows) == [
        (1, "ok", 1.0),
        (2, "ok", 2.0),
        (3, "ok", 3.0),
    ]


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def test_resuming_a_run_whose_spec_moved_asks_for_its_new_path(
    grid_file: Path, tmp_path: Path
) -> None:
    run = tunegym.tune(grid_file, output=tmp_path / "runs", max_steps=2, verbosity=0)
    moved = grid_file.rename(grid_file.with_name("moved.toml"))
    message = rf"cannot resume: the run was started from {re.escape(str(grid_file))}, which"
    with pytest.raises(UsageError, match=message + r" is no longer there; give the spec"):
        tunegym.tune(resume=run.run_dir, verbosity=0)
    resumed = tunegym.tune(moved, resume=run.run_dir, max_steps=3, verbosity=0)
    assert len(resumed.records()) == 3  # the moved spec went on with the same run
