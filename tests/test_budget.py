"""Time budgets: no trial starts once spent; running ones finish, or are stopped after the
grace period (``timeout``); the job's summary and report say the budget ended it."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_procs import all_dead, pids_of
from runner_matrix import RUNNERS

from tunegym.agents.base import AgentConfig
from tunegym.agents.random_search import RandomAgent
from tunegym.budget import TimeBudget
from tunegym.cli.main import main
from tunegym.env.workload import EnvSettings
from tunegym.loop import TrialLoop
from tunegym.outputs.toml import dumps
from tunegym.run import open_env
from tunegym.runners import LocalRunner
from tunegym.spec import load
from tunegym.trial import TrialDatabase, TrialStore


def _env(tmp_path: Path, path: Path, parallel: int, runner: Any = None) -> Any:
    (job,) = load(path).jobs
    db = TrialDatabase(tmp_path / "trials.sqlite")
    store = TrialStore(db, job.name, 0, tmp_path / "job", [])
    runner = LocalRunner() if runner is None else runner
    return open_env(job, store, runner, EnvSettings(parallel=parallel, cache=False))


@pytest.mark.parametrize("parallel", [1, 2])
def test_the_budget_stops_a_job_within_one_grace_period(
    parallel: int,
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    data = objective_workload(agent={"type": "random", "metrics": ["score"]})
    data["command"] = [*data["command"], "--sleep=0.6"]
    data["params"] = {"x": {"low": 0.0, "high": 6.0}, "y": ["a"]}
    env = _env(tmp_path, write_toml("w.toml", data), parallel)
    # Trials of 0.6 s (about 0.65 s with the interpreter's start) in a 1 s budget: the
    # second wave starts near 0.65 s and is stopped at the end of the 0.2 s grace; a third
    # would start near 1.3 s. No wave ends near the deadline, where a trial dispatched just
    # before it is launched by its worker thread just after it.
    budget = TimeBudget(1.0, grace_s=0.2)
    start_wall = time.time() - (time.monotonic() - budget.started)
    agent = RandomAgent(env, AgentConfig(max_steps=100, seed=1, parallel=parallel))
    TrialLoop(env, agent, 100, parallel=parallel, seed=1, time_budget=budget).run()
    rows = env.store.rows()
    env.close()
    assert budget.ended_job and 1 <= len(rows) < 100
    assert all(r.started_at < start_wall + budget.seconds for r in rows), "started after it"
    ends = [r.started_at + r.duration_s for r in rows]
    # one grace period, plus what stopping a process group and recording take
    assert max(ends) <= start_wall + budget.seconds + budget.grace_s + 1.0
    stopped = [r for r in rows if r.status == "timeout"]
    assert budget.stopped_trials == len(stopped)
    for row in stopped:
        assert row.error is not None and "time budget" in row.error


def test_without_a_grace_period_running_trials_finish(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    data = objective_workload(agent={"type": "random", "metrics": ["score"]})
    data["command"] = [*data["command"], "--sleep=0.5"]
    data["params"] = {"x": {"low": 0.0, "high": 6.0}, "y": ["a"]}
    env = _env(tmp_path, write_toml("w.toml", data), 2)
    budget = TimeBudget(0.3)
    agent = RandomAgent(env, AgentConfig(max_steps=100, seed=1, parallel=2))
    TrialLoop(env, agent, 100, parallel=2, seed=1, time_budget=budget).run()
    rows = env.store.rows()
    env.close()
    assert [r.status for r in rows] == ["ok", "ok"]  # the first two, run to their end
    assert budget.ended_job and budget.stopped_trials == 0


def test_a_budget_that_is_not_reached_does_not_end_the_job(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    env = _env(tmp_path, write_toml("w.toml", objective_workload()), 1)
    budget = TimeBudget(600.0, grace_s=1.0)
    agent = RandomAgent(env, AgentConfig(max_steps=3, seed=1))
    TrialLoop(env, agent, 3, seed=1, time_budget=budget).run()
    assert len(env.store.rows()) == 3 and not budget.ended_job
    env.close()


def test_run_budget_flag_is_reported(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = objective_workload(agent={"type": "random", "metrics": ["score"], "max_steps": 50})
    data["command"] = [sys.executable, *data["command"][1:], "--sleep=30"]
    data["params"] = {"x": {"low": 0.0, "high": 6.0}, "y": ["a"]}
    path = write_toml("w.toml", data)
    out = tmp_path / "runs"
    flags = ["--no-progress", "--budget", "2", "--budget-grace", "0", "--parallel", "2"]
    code = main(["run", str(path), "--output", str(out), *flags])
    assert code == 1  # no trial succeeded: both were stopped
    printed = capsys.readouterr().out
    # the budget as given, not the 1.9 s of it left once the job had loaded
    assert "the run's time budget (--budget 2 s) ended the job; 2 running trial(s) stopped" in (
        printed
    )
    (run_dir,) = out.iterdir()
    job = json.loads((run_dir / "summary.json").read_text())["jobs"][0]
    assert job["budget"]["ended_job"] is True and job["budget"]["stopped_trials"] == 2
    assert job["budget"]["source"] == "--budget" and job["budget"]["given_s"] == 2
    assert 0 < job["budget"]["budget_s"] <= 2
    assert job["counts"]["timeout"] == 2 and job["best"] is None
    assert (
        "The run&#x27;s time budget (--budget 2 s) ended this job"
        in (run_dir / "report.html").read_text()
    )


def _sleepy_workload(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> Path:
    """Random search of 8 trials that each sleep 30 s (a budget stops them)."""
    data = objective_workload(agent={"type": "random", "metrics": ["score"], "max_steps": 8})
    data["command"] = [sys.executable, *data["command"][1:], "--sleep=30"]
    data["params"] = {"x": {"low": 0.0, "high": 6.0}, "y": ["a"]}
    return write_toml("w.toml", data)


def test_a_resumed_run_keeps_its_budget_and_takes_a_new_one_when_given(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    path = _sleepy_workload(write_toml, objective_workload)
    out = tmp_path / "runs"
    flags = ["--no-progress", "--budget-grace", "0", "--parallel", "2"]
    assert main(["run", str(path), "--output", str(out), "--budget", "2", *flags]) == 1
    (run_dir,) = out.iterdir()

    def budget_after_resume(*extra: str) -> dict[str, Any]:
        assert main(["run", "--resume", str(run_dir), *flags, *extra]) == 1
        return json.loads((run_dir / "summary.json").read_text())["jobs"][0]["budget"]

    kept = budget_after_resume()  # --budget 2 again, on a fresh clock
    assert kept["ended_job"] is True and kept["given_s"] == 2 and kept["source"] == "--budget"
    given = budget_after_resume("--budget", "1.5")
    assert given["ended_job"] is True and given["given_s"] == 1.5
    assert budget_after_resume()["given_s"] == 1.5  # the new one was recorded


def test_a_resumed_run_keeps_its_budget_grace_and_takes_a_new_one_when_given(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    # --budget-grace was not recorded: a resume let the running trials run to their end.
    path = _sleepy_workload(write_toml, objective_workload)
    out = tmp_path / "runs"
    flags = ["--no-progress", "--budget", "1", "--parallel", "2"]
    assert main(["run", str(path), "--output", str(out), *flags, "--budget-grace", "0"]) == 1
    (run_dir,) = out.iterdir()

    def budget_after_resume(*extra: str) -> dict[str, Any]:
        argv = ["run", "--resume", str(run_dir), "--no-progress", "--parallel", "2", *extra]
        assert main(argv) == 1
        return json.loads((run_dir / "summary.json").read_text())["jobs"][0]["budget"]

    kept = budget_after_resume()
    assert kept["grace_s"] == 0 and kept["stopped_trials"] == 2
    assert budget_after_resume("--budget-grace", "0.5")["grace_s"] == 0.5
    assert budget_after_resume()["grace_s"] == 0.5  # the new one was recorded
    info = json.loads((run_dir / "summary.json").read_text())
    assert (info["budget_s"], info["budget_grace_s"]) == (1, 0.5)


# A trial that runs until stopped, with a child in its group; it writes both pids.
HANG = """
import os, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
open("pids.txt", "w").write("%d %d" % (os.getpid(), child.pid))  # no braces: a template
time.sleep(300)
"""

# A trial whose command prints its result and exits 0 at once, leaving a child deaf to
# SIGTERM in its group: the runner sweeps it for kill_grace_s (5 s), so the trial is
# still running then although its command has ended.
LINGER = """
import signal, subprocess, sys
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
print("score: 1.0", flush=True)
"""


def _script_workload(script: str) -> dict[str, Any]:
    return {
        "name": "budgeted",
        "command": [sys.executable, "-c", script, "{x}"],
        "params": {"x": {"low": 0.0, "high": 6.0}},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "random", "metrics": ["score"]},
    }


def _run_budgeted(
    script: str, runner: Any, budget: TimeBudget, parallel: int, tmp_path: Path
) -> tuple[Any, list[Any], float]:
    """A random search over ``script`` under ``budget`` on ``runner``: its (closed) env,
    its rows and the wall time the budget started."""
    path = tmp_path / "w.toml"
    path.write_text(dumps(_script_workload(script)))
    env = _env(tmp_path, path, parallel, runner)
    start_wall = time.time() - (time.monotonic() - budget.started)
    agent = RandomAgent(env, AgentConfig(max_steps=20, seed=1, parallel=parallel))
    try:
        TrialLoop(env, agent, 20, parallel=parallel, seed=1, time_budget=budget).run()
        return env, env.store.rows(), start_wall
    finally:
        env.close()


@pytest.mark.parametrize("name", ["ray", "slurm", "slurm-array"])
def test_the_budget_stops_running_trials_on_each_runner(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    runner = RUNNERS[name](request)  # first: starting a cluster must not eat the budget
    budget = TimeBudget(3.0, grace_s=0.5)
    env, rows, start_wall = _run_budgeted(HANG, runner, budget, 2, tmp_path)
    assert [r.status for r in rows] == ["timeout", "timeout"]  # the two first, never more
    assert all(r.error is not None and "time budget" in r.error for r in rows)
    assert budget.ended_job and budget.stopped_trials == 2
    # They ran until the stop (a row's start is when it began running, not when it was
    # sent), and ended within one grace period plus what cancelling a job or task and
    # recording it take.
    stop_at = start_wall + budget.seconds + budget.grace_s
    ends = [r.started_at + r.duration_s for r in rows]
    assert min(ends) >= stop_at - 0.05, [end - stop_at for end in ends]
    assert max(ends) <= stop_at + 3.0, [end - stop_at for end in ends]
    for row in rows:
        assert all_dead(pids_of(env.sweep.trial_dir(row.step))), f"trial {row.step} left a process"


@pytest.mark.parametrize("name", list(RUNNERS))
def test_a_budget_stop_that_comes_after_the_command_ended_is_not_counted(
    name: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    # The stop comes while the runner sweeps the lingering child: the trial's own result
    # stands and the budget did not stop it. A Slurm runner learns that only when it reads
    # the job's final state, after the stop was sent; a Ray task, once it returns.
    runner = RUNNERS[name](request)
    budget = TimeBudget(4.0, grace_s=0.0)
    _, (row,), start_wall = _run_budgeted(LINGER, runner, budget, 1, tmp_path)
    assert row.started_at + row.duration_s > start_wall + budget.seconds, "ended before the stop"
    assert row.status == "ok" and row.observation["score"] == 1.0, row
    assert budget.ended_job and budget.stopped_trials == 0


def test_a_time_budget_rejects_negative_values() -> None:
    with pytest.raises(ValueError):
        TimeBudget(-1.0)
    with pytest.raises(ValueError):
        TimeBudget(1.0, grace_s=-1.0)


def test_a_run_ended_by_its_budget_says_how_many_trials_fitted_when_ngopt_planned_for_more(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 12 s: importing nevergrad alone takes 1.5-3 s of a job's budget (more on a cold or
    # loaded machine), and a job the budget ends before any trial ran fails
    data = objective_workload(agent={"metrics": ["score"], "max_steps": 10_000, "budget_s": 12})
    del data["agent"]["type"]  # auto: NGOpt on float ranges
    data["params"] = {"x": {"low": 0.0, "high": 6.0}, "z": {"low": 0.0, "high": 1.0}}
    data["command"] = [*data["command"][:2], "--x={x}", "--y=a", "--sleep=0.2"]
    path = write_toml("w.toml", data)
    out = tmp_path / "runs"
    assert main(["run", str(path), "--output", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    (run_dir,) = out.iterdir()
    job = json.loads((run_dir / "summary.json").read_text())["jobs"][0]
    assert job["search"]["method"] == "ngopt" and job["budget"]["ended_job"] is True, printed
    trials = job["trials"]
    assert 1 <= trials < 100, printed
    assert (
        f"NGOpt planned for max_steps = 10000 evaluations and {trials} fitted in the budget: "
        f"set max_steps near {trials}"
    ) in printed


def test_a_budget_spent_before_the_first_trial_is_a_failure_that_says_so(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = objective_workload(agent={"type": "random", "metrics": ["score"], "max_steps": 5})
    path = write_toml("w.toml", data)
    out = tmp_path / "runs"
    code = main(["run", str(path), "--output", str(out), "--no-progress", "--budget", "1e-6"])
    assert code == 1  # nothing was measured: not a success
    printed = capsys.readouterr().out
    assert (
        "the run's time budget (--budget 1e-06 s) ended the job before any trial ran: nothing "
        "was measured (raise --budget)"
    ) in printed
    (run_dir,) = out.iterdir()
    job = json.loads((run_dir / "summary.json").read_text())["jobs"][0]
    assert job["status"] == "agent_failed" and job["trials"] == 0
    assert job["budget"]["ended_job"] is True


def test_a_budget_that_ends_a_job_after_a_success_is_not_a_failure(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    data = objective_workload(agent={"type": "random", "metrics": ["score"], "max_steps": 50})
    data["command"] = [*data["command"], "--sleep=0.3"]
    data["params"] = {"x": {"low": 0.0, "high": 6.0}, "y": ["a"]}
    path = write_toml("w.toml", data)
    out = tmp_path / "runs"
    # 3 s: what is left of the run's budget once the job has loaded must fit a 0.3 s trial
    # on a loaded machine too
    flags = ["--no-progress", "--budget", "3", "--budget-grace", "5"]
    assert main(["run", str(path), "--output", str(out), *flags]) == 0
    (run_dir,) = out.iterdir()
    job = json.loads((run_dir / "summary.json").read_text())["jobs"][0]
    assert job["status"] == "ok" and job["budget"]["ended_job"] is True
    assert 1 <= job["trials"] < 50 and job["best"] is not None
