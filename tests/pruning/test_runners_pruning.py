"""Pruning works the same with the Ray and Slurm runners: the running trial's progress is
read from its folder (Ray with ``shared_fs``; Slurm's output file is ``stdout.txt``) and a
pruned trial's task or job is cancelled, its processes gone."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_procs import all_dead, pids_of, wait_until
from runner_matrix import RUNNERS, slurm_array_runner

from tunegym.env.workload import EnvSettings
from tunegym.run import open_env
from tunegym.runners.base import StopSignal, TrialSpec
from tunegym.spec import load
from tunegym.spec.models import RaySpec
from tunegym.trial import TrialDatabase, TrialStore
from tunegym.trial.status import TrialStatus


@pytest.fixture(params=list(RUNNERS))
def any_runner(request: pytest.FixtureRequest) -> Any:
    return RUNNERS[request.param](request)


def _gone(pids: list[int], within: float) -> bool:
    return wait_until(lambda: all_dead(pids), within, None, interval_s=0.05)


HANG = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open(sys.argv[1], "w").write(f"{os.getpid()} {child.pid}")
print("epoch 1 loss=9.0", flush=True)
time.sleep(300)
"""


def _start(
    runner: Any, script: str, tmp_path: Path, **spec: Any
) -> tuple[threading.Thread, list[Any], list[int]]:
    """Run ``script`` (given the pids file to write, ``"LEADER CHILD"``) in a thread;
    (the thread, where its result lands, the two pids) once the pids are written."""
    pids_file = tmp_path / "pids"
    (tmp_path / "trial").mkdir()
    trial = TrialSpec((sys.executable, "-c", script, str(pids_file)), tmp_path / "trial", **spec)
    results: list[Any] = []
    worker = threading.Thread(target=lambda: results.append(runner.run(trial)), daemon=True)
    worker.start()
    deadline = time.monotonic() + 120
    while not (pids_file.exists() and len(pids_file.read_text().split()) == 2):
        assert time.monotonic() < deadline, "the trial never started"
        time.sleep(0.05)
    return worker, results, [int(p) for p in pids_file.read_text().split()]


def test_a_stop_signal_ends_a_running_trial_and_its_group(any_runner: Any, tmp_path: Path) -> None:
    stop = StopSignal()
    worker, results, pids = _start(any_runner, HANG, tmp_path, stop=stop)
    assert stop.stop(TrialStatus.PRUNED, "pruned at step 1")
    assert not stop.stop(TrialStatus.TIMEOUT, "later"), "the first stop wins"
    worker.join(60)
    assert not worker.is_alive(), "run() did not return after the stop"
    assert results[0].status != "ok" and stop.landed
    assert _gone(pids, 10), "a process of the stopped trial is still running"
    assert "epoch 1 loss=9.0" in (tmp_path / "trial" / "stdout.txt").read_text()


@pytest.mark.parametrize("name", ["slurm", "slurm-array"])
def test_a_stopped_slurm_trial_is_timed_by_its_own_script(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # A pruned trial's duration_s is the run time its script recorded, as a completed
    # trial's is, not the time between the polls that saw it start and end (which made a
    # pruned trial look longer than a whole one and pruning's savings look small).
    stop = StopSignal()
    t0 = time.monotonic()
    worker, results, pids = _start(RUNNERS[name](request), HANG, tmp_path, stop=stop)
    time.sleep(1.0)
    assert stop.stop(TrialStatus.PRUNED, "pruned at step 1")
    worker.join(60)
    waited = time.monotonic() - t0
    (result,) = results
    code, outcome, started, finished = (tmp_path / "trial" / "exitcode").read_text().split()
    assert (code, outcome) == ("143", "cancelled")
    assert result.duration_s == pytest.approx(float(finished) - float(started))
    assert 1.0 <= result.duration_s < waited
    assert result.started_at == pytest.approx(float(started))
    assert result.returncode is None  # 143 is the script's trap, not the command's code
    assert _gone(pids, 10)


def test_a_stopped_ray_trial_brings_back_its_output_and_its_own_timing(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # Without a shared filesystem the trial runs in a scratch folder on the node. A stop
    # (here a budget's: pruning needs shared_fs) used to make the driver record an empty
    # stdout and time the trial from its submission, worker start included; the task now
    # catches the cancellation and returns what the trial wrote and how long it ran.
    request.getfixturevalue("ray_two_cpus")
    from tunegym.runners.ray import RayRunner

    stop = StopSignal()
    submitted = time.time()
    worker, results, pids = _start(RayRunner(RaySpec(shared_fs=False)), HANG, tmp_path, stop=stop)
    assert stop.stop(TrialStatus.TIMEOUT, "the time budget is spent")
    worker.join(60)
    (result,) = results
    assert stop.landed and result.status == "failed" and result.error == "cancelled"
    assert "epoch 1 loss=9.0" in (tmp_path / "trial" / "stdout.txt").read_text()
    assert result.returncode == -15  # the command's own end (SIGTERM), seen by the task
    assert submitted <= result.started_at <= time.time() - result.duration_s
    assert _gone(pids, 10)


LINGER = """
import os, signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the child inherits it: the sweep waits for it
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open(sys.argv[1], "w").write(f"{os.getpid()} {child.pid}")
print("epoch 1 loss=1.0", flush=True)
"""


def test_a_stop_after_the_command_ended_leaves_its_result(any_runner: Any, tmp_path: Path) -> None:
    # The command exits 0 at once and leaves a child deaf to SIGTERM in its group, so the
    # runner is still sweeping the trial (for kill_grace_s) when the stop comes (a Ray
    # task is still running then: it is cancelled, and returns the result all the same).
    stop = StopSignal()
    worker, results, (leader, child) = _start(
        any_runner, LINGER, tmp_path, kill_grace_s=2.0, stop=stop
    )
    assert _gone([leader], 30), "the command did not exit"
    assert worker.is_alive(), "the runner returned before sweeping the lingering child"
    assert stop.stop(TrialStatus.PRUNED, "pruned at step 1")
    worker.join(60)
    assert not worker.is_alive()
    assert results[0].status == "ok" and results[0].returncode == 0, results[0]
    assert not stop.landed, "a stop that came after the command ended was taken as landed"
    assert _gone([child], 10), "the lingering child outlived the trial"


def test_pruning_with_each_runner(
    any_runner: Any,
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    trainer_workload: Callable[..., dict[str, Any]],
) -> None:
    data = trainer_workload()
    data["command"] = [*data["command"], "--sleep=0.2"]
    (job,) = load(write_toml("trainer.toml", data)).jobs
    db = TrialDatabase(tmp_path / "trials.sqlite")
    store = TrialStore(db, job.name, 0, tmp_path / "trainer" / "0", [])
    env = open_env(job, store, any_runner, EnvSettings())
    try:
        rows = [env.step({"lr": lr})[3]["row"] for lr in (0.3, 0.35)]
        assert [r.status for r in rows] == ["ok", "ok"]
        assert len(rows[0].curve) == 6
        bad = env.step({"lr": 2.5})[3]["row"]
        assert bad.status == "pruned" and bad.curve[0] == (1, 3.2) and len(bad.curve) < 6
        pids = pids_of(env.sweep.trial_dir(bad.step))
        assert _gone(pids, 10)
        assert store.curves()[bad.step] == bad.curve
    finally:
        env.close()
        db.close()


def test_a_stop_cancels_one_array_task_and_the_others_run_on(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    runner = slurm_array_runner(request)
    pids_file = tmp_path / "pids"
    stop = StopSignal()
    (tmp_path / "hang").mkdir()
    (tmp_path / "quick").mkdir()
    hang = TrialSpec((sys.executable, "-c", HANG, str(pids_file)), tmp_path / "hang", stop=stop)
    quick = TrialSpec(
        (sys.executable, "-c", "import time; time.sleep(3); print('done')"),
        tmp_path / "quick",
        stop=StopSignal(),
    )
    results: dict[str, Any] = {}
    workers = [
        threading.Thread(target=lambda s=s, k=k: results.__setitem__(k, runner.run(s)))
        for k, s in (("hang", hang), ("quick", quick))
    ]
    for worker in workers:
        worker.start()
    deadline = time.monotonic() + 120
    while not (pids_file.exists() and len(pids_file.read_text().split()) == 2):
        assert time.monotonic() < deadline, "the array task never started"
        time.sleep(0.05)
    pids = [int(p) for p in pids_file.read_text().split()]
    assert stop.stop(TrialStatus.PRUNED, "pruned at step 1")
    assert _gone(pids, 10), "a process of the stopped array task is still running"
    for worker in workers:
        worker.join(60)
        assert not worker.is_alive()
    assert (tmp_path / "array-1.sbatch.sh").exists() and not (
        tmp_path / "array-2.sbatch.sh"
    ).exists()
    assert results["hang"].status != "ok"
    assert results["quick"].status == "ok", "the array's other task was cancelled too"
    assert "done" in (tmp_path / "quick" / "stdout.txt").read_text()


SLOW_WHEN_BAD = """
import sys, time
lr = float(sys.argv[1])
for epoch in range(1, 11):
    print(f"epoch {epoch} loss={abs(lr - 0.3) + 1.0 / epoch:.5f}", flush=True)
    time.sleep(0.05 if lr < 1 else 3.0)
"""


def test_pruning_in_slurm_batch_mode_stops_the_later_tasks(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
) -> None:
    # The whole grid is one job array; the node runs two tasks at a time, so the two good
    # settings end first and the median pruner judges the two bad ones against them. Each
    # trial's result used to wait for the whole array: no trial had completed when the bad
    # ones were judged, so both ran their 30 s to the end.
    request.getfixturevalue("slurm_plain")
    from run_helpers import only_run_dir, trial_rows

    from tunegym.cli.main import main

    (tmp_path / "trainer.py").write_text(SLOW_WHEN_BAD)
    data = {
        "name": "batch-pruning",
        "command": [sys.executable, str(tmp_path / "trainer.py"), "{lr}"],
        "params": {"lr": [0.3, 0.35, 2.0, 2.5]},
        "metrics": [{"name": "loss", "progress": r"epoch (\d+) loss=(\S+)"}],
        "runner": "slurm",
        "slurm": {"poll_interval_s": 0.2, "batch": True},
        "agent": {
            "type": "grid",
            "reward": "negative",
            "pruner": {"type": "median", "n_startup_trials": 2, "poll_interval_s": 0.05},
        },
    }
    path = write_toml("batch.toml", data)
    code = main(["run", str(path), "--output", str(tmp_path / "out"), "--no-progress"])
    assert code == 0
    rows = trial_rows(only_run_dir(tmp_path / "out"))
    by_lr = {row["action"]["lr"]: row for row in rows}
    assert [by_lr[lr]["status"] for lr in (0.3, 0.35)] == ["ok", "ok"]
    assert [by_lr[lr]["status"] for lr in (2.0, 2.5)] == ["pruned", "pruned"], rows
    assert all(by_lr[lr]["duration_s"] < 20 for lr in (2.0, 2.5))
