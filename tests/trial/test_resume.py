"""Resume after SIGKILL: no finished trial repeated, none lost, files aligned."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]

TRIAL = """
import json, os, sys, time
step = int(os.environ["TUNEGYM_STEP"])
log = sys.argv[1]
with open(log, "a") as fh:
    fh.write(json.dumps({"step": step, "pid": os.getpid()}) + "\\n")
if os.environ.get("KILL_AT_STEP") == str(step):
    time.sleep(120)
x, y = int(sys.argv[2]), sys.argv[3]
print(f"score: {-(x - 5) ** 2 + (y == 'b')}")
"""


def _workload(tmp_path: Path, log: Path, parallel: int = 1, agent: str = "random") -> dict:
    script = tmp_path / "trial.py"
    script.write_text(TRIAL)
    return {
        "name": "resumable",
        "command": [sys.executable, str(script), str(log), "{x}", "{y}"],
        "params": {"x": list(range(8)), "y": ["a", "b"], "load": ["lo", "hi"]},
        "env_params": {"load": {}},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": agent, "max_steps": 7, "seed": 11, "parallel": parallel},
    }


def _rows(run_dir: Path) -> list[tuple]:
    db = sqlite3.connect(run_dir / "trials.sqlite")
    rows = db.execute(
        "SELECT step, action, env_params, status, reward FROM trials ORDER BY step"
    ).fetchall()
    db.close()
    return rows


def _run(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*TUNEGYM, *args],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, **(env or {})},
    )


def _kill_during(args: list[str], log: Path, step: int) -> None:
    env = {**os.environ, "KILL_AT_STEP": str(step)}
    proc = subprocess.Popen(
        [*TUNEGYM, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None and time.monotonic() < deadline
        lines = log.read_text().splitlines() if log.exists() else []
        started = [json.loads(line) for line in lines]
        if any(s["step"] == step for s in started):
            break
        time.sleep(0.02)
    proc.kill()  # SIGKILL: no clean-up at all
    proc.wait()
    for entry in started:  # the orphaned trial too (its group is its own)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(entry["pid"], signal.SIGKILL)


@pytest.mark.parametrize(
    ("kill_at", "agent"), [(1, "random"), (4, "random"), (7, "random"), (5, "optuna")]
)
def test_resume_after_sigkill_matches_an_uninterrupted_run(
    tmp_path: Path, write_toml: Callable[..., Path], kill_at: int, agent: str
) -> None:
    reference_log = tmp_path / "reference.log"
    reference = write_toml("reference.toml", _workload(tmp_path, reference_log, agent=agent))
    assert _run(["run", str(reference), "--output", str(tmp_path / "ref")]).returncode == 0
    (ref_dir,) = (tmp_path / "ref").iterdir()

    log = tmp_path / "resumed.log"
    path = write_toml("workload.toml", _workload(tmp_path, log, agent=agent))
    _kill_during(["run", str(path), "--output", str(tmp_path / "out")], log, kill_at)
    (run_dir,) = (tmp_path / "out").iterdir()
    assert len(_rows(run_dir)) == kill_at - 1  # everything before the kill was recorded

    resumed = _run(["run", "--resume", str(run_dir)])
    assert resumed.returncode == 0, resumed.stderr
    assert f"tunegym: resuming {run_dir}: resumable" in resumed.stdout
    recorded = kill_at - 1
    start = (
        f"[resumable] resumed: {recorded} of 7 trial(s) already recorded (ok {recorded})"
        if recorded
        else "[resumable] started: up to 7 trial(s)"
    )
    assert start in resumed.stdout, resumed.stdout

    assert _rows(run_dir) == _rows(ref_dir)  # same steps, actions, env params, results
    executions = Counter(json.loads(line)["step"] for line in log.read_text().splitlines())
    assert executions[kill_at] == 2  # the killed trial ran again ...
    assert all(n == 1 for step, n in executions.items() if step != kill_at)  # ... no other
    folder = run_dir / "resumable" / "0"
    traj = [r["step"] for r in csv.DictReader((folder / "trajectory.csv").open())]
    env = [r["step"] for r in csv.DictReader((folder / "env.csv").open())]
    assert traj == env == [str(s) for s in range(1, 8)]
    summary = json.loads((run_dir / "summary.json").read_text())
    ref_summary = json.loads((ref_dir / "summary.json").read_text())
    best, ref_best = summary["jobs"][0]["best"], ref_summary["jobs"][0]["best"]
    for key in ("step", "action", "env_params", "reward"):
        assert best[key] == ref_best[key]
    assert summary["status"] == "ok" and len(summary["resumed_at"]) == 1


def test_torn_csv_is_rebuilt_from_the_store(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    log = tmp_path / "run.log"
    path = write_toml("workload.toml", _workload(tmp_path, log))
    _kill_during(["run", str(path), "--output", str(tmp_path / "out")], log, 5)
    (run_dir,) = (tmp_path / "out").iterdir()
    traj = run_dir / "resumable" / "0" / "trajectory.csv"
    traj.write_text(traj.read_text()[:-25])  # a torn last line
    assert _run(["run", "--resume", str(run_dir)]).returncode == 0
    rows = list(csv.DictReader(traj.open()))
    assert [r["step"] for r in rows] == [str(s) for s in range(1, 8)]
    assert all(r["status"] == "ok" for r in rows)


def test_resume_with_a_changed_workload_is_refused(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    log = tmp_path / "run.log"
    data = _workload(tmp_path, log)
    data["agent"]["max_steps"] = 2
    path = write_toml("workload.toml", data)
    assert _run(["run", str(path), "--output", str(tmp_path / "out")]).returncode == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    data["params"]["x"] = [1, 2, 3]
    write_toml("workload.toml", data)
    before = _rows(run_dir)
    proc = _run(["run", "--resume", str(run_dir)])
    assert proc.returncode == 2
    assert "changed at params.x (was [0, 1, 2, 3, 4, 5, 6, 7], now [1, 2, 3])" in proc.stderr
    assert _rows(run_dir) == before  # nothing recorded was touched


def test_resume_of_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path: Path) -> None:
    proc = _run(["run", "--resume", str(tmp_path)])
    assert proc.returncode == 2
    assert (
        f"cannot resume: {tmp_path}: no trials.sqlite here; is it a tunegym run folder?"
        in proc.stderr
    )
    proc = _run(["run", "--resume", str(tmp_path), "--seed", "3"])
    assert proc.returncode == 2 and "--seed cannot change a resumed run" in proc.stderr
    # --output was ignored without a word: a resumed run stays in its own folder
    proc = _run(["run", "--resume", str(tmp_path), "--output", str(tmp_path / "elsewhere")])
    assert proc.returncode == 2 and "--output cannot change a resumed run" in proc.stderr
    assert not (tmp_path / "elsewhere").exists()


def test_parallel_resume_loses_and_repeats_nothing(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    log = tmp_path / "run.log"
    path = write_toml("workload.toml", _workload(tmp_path, log, parallel=3))
    _kill_during(["run", str(path), "--output", str(tmp_path / "out")], log, 5)
    (run_dir,) = (tmp_path / "out").iterdir()
    finished = {row[0] for row in _rows(run_dir)}
    assert _run(["run", "--resume", str(run_dir)]).returncode == 0
    rows = _rows(run_dir)
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))
    executions = Counter(json.loads(line)["step"] for line in log.read_text().splitlines())
    assert all(executions[step] == 1 for step in finished)  # finished never rerun
    assert len(rows) == 7


def test_resume_reruns_an_interrupted_run_once_job(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    log = tmp_path / "once.log"
    data = _workload(tmp_path, log)
    data["params"] = {"x": 5, "y": "b"}  # nothing to search: the job runs once
    del data["env_params"]
    path = write_toml("once.toml", data)
    _kill_during(["run", str(path), "--output", str(tmp_path / "out")], log, 1)
    (run_dir,) = (tmp_path / "out").iterdir()
    assert _rows(run_dir) == []
    assert _run(["run", "--resume", str(run_dir)]).returncode == 0
    rows = _rows(run_dir)
    assert [(r[0], r[3], r[4]) for r in rows] == [(1, "ok", 1.0)]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["trials"] == 1 and summary["jobs"][0]["status"] == "ok"
    assert _run(["run", "--resume", str(run_dir)]).returncode == 0  # a finished one stays
    assert len(_rows(run_dir)) == 1 and len(log.read_text().splitlines()) == 2


def test_a_trial_waiting_on_an_in_flight_twin_is_recorded_as_dispatched(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    from tunegym.env.workload import EnvSettings
    from tunegym.run import open_env
    from tunegym.runners import LocalRunner
    from tunegym.spec import load
    from tunegym.trial import TrialDatabase, TrialStore
    from tunegym.trial.resume import replay_plan

    data = _workload(tmp_path, tmp_path / "w.log")
    del data["env_params"]
    (job,) = load(write_toml("w.toml", data)).jobs
    db = TrialDatabase(tmp_path / "trials.sqlite")
    store = TrialStore(db, job.name, 0, tmp_path / "job", [])
    env = open_env(job, store, LocalRunner(), EnvSettings(parallel=2))
    first = env.submit({"x": 1, "y": "a", "load": "lo"})
    twin = env.submit({"x": 1, "y": "a", "load": "lo"})
    assert twin.waits_for is first
    # Crash now: both steps started, neither finished; a resume must rerun both.
    assert [item.step for item in replay_plan(db, "resumable", 0, env.action_space)] == [1, 2]
    for pending in (first, twin):
        env.complete(pending)
    assert [r.status for r in env.store.rows()] == ["ok", "cached"]
    env.close()
    db.close()


# -- extending a finished run: --resume RUN_DIR --max-steps N (issue 15, item 5) ---------
def _plain(tmp_path: Path, log: Path, agent: str = "optuna") -> dict:
    """The workload without env params (nothing in it depends on the budget)."""
    data = _workload(tmp_path, log, agent=agent)
    del data["env_params"]
    data["params"]["load"] = "lo"
    return data


def test_extending_a_finished_run_continues_its_study(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    """7 trials, then --max-steps 12: the same 12 trials as one run of 12 (the study
    learned the first 7 and went on), none of the first 7 run again."""
    ref = write_toml("reference.toml", _plain(tmp_path, tmp_path / "reference.log"))
    assert (
        _run(["run", str(ref), "--max-steps", "12", "--output", str(tmp_path / "ref")]).returncode
        == 0
    )
    (ref_dir,) = (tmp_path / "ref").iterdir()

    log = tmp_path / "run.log"
    path = write_toml("workload.toml", _plain(tmp_path, log))
    assert _run(["run", str(path), "--output", str(tmp_path / "out")]).returncode == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    assert len(_rows(run_dir)) == 7
    extended = _run(["run", "--resume", str(run_dir), "--max-steps", "12"])
    assert extended.returncode == 0, extended.stderr
    assert _rows(run_dir) == _rows(ref_dir)
    executions = Counter(json.loads(line)["step"] for line in log.read_text().splitlines())
    assert executions == Counter(range(1, 13))  # every step ran exactly once
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["max_steps"] == 12 and summary["jobs"][0]["max_steps"] == 12
    assert [e["from_max_steps"] for e in summary["extended"]] == [None]
    assert summary["jobs"][0]["trials"] == 12


@pytest.mark.parametrize("agent", ["optuna", "random"])
def test_a_crash_on_the_extended_part_resumes_like_a_clean_extension(
    tmp_path: Path, write_toml: Callable[..., Path], agent: str
) -> None:
    """With env params (the agent re-measures, and that depends on the budget), an
    extension killed at step 10 and resumed records what a clean extension does."""
    clean_log = tmp_path / "clean.log"
    clean = write_toml("clean.toml", _workload(tmp_path, clean_log, agent=agent))
    assert _run(["run", str(clean), "--output", str(tmp_path / "clean")]).returncode == 0
    (clean_dir,) = (tmp_path / "clean").iterdir()
    assert _run(["run", "--resume", str(clean_dir), "--max-steps", "12"]).returncode == 0

    log = tmp_path / "run.log"
    path = write_toml("workload.toml", _workload(tmp_path, log, agent=agent))
    assert _run(["run", str(path), "--output", str(tmp_path / "out")]).returncode == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    _kill_during(["run", "--resume", str(run_dir), "--max-steps", "12"], log, 10)
    assert len(_rows(run_dir)) == 9
    resumed = _run(["run", "--resume", str(run_dir)])  # keeps the extended budget
    assert resumed.returncode == 0, resumed.stderr
    assert _rows(run_dir) == _rows(clean_dir)
    executions = Counter(json.loads(line)["step"] for line in log.read_text().splitlines())
    assert executions[10] == 2 and all(n == 1 for s, n in executions.items() if s != 10)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["trials"] == 12 and summary["status"] == "ok"


def test_a_smaller_budget_for_a_resumed_run_is_refused(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    log = tmp_path / "run.log"
    path = write_toml("workload.toml", _plain(tmp_path, log, agent="random"))
    assert _run(["run", str(path), "--output", str(tmp_path / "out")]).returncode == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    before = _rows(run_dir)
    summary_before = (run_dir / "summary.json").read_text()
    proc = _run(["run", "--resume", str(run_dir), "--max-steps", "5"])
    assert proc.returncode == 2
    assert "--max-steps 5 does not extend the run: job 'resumable' already has max_steps 7" in (
        proc.stderr
    )
    assert _rows(run_dir) == before and (run_dir / "summary.json").read_text() == summary_before
    same = _run(["run", "--resume", str(run_dir), "--max-steps", "7"])
    assert same.returncode == 2  # the run keeps its own budget unless it grows
