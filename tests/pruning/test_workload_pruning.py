"""A running command's progress is read, recorded and judged; a pruned trial is stopped
at once (its whole process group), recorded ``pruned`` with its curve, and a resumed run
keeps both."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cluster_procs import alive, pids_of

from tunegym.agents.base import AgentConfig
from tunegym.agents.random_search import RandomAgent
from tunegym.loop import TrialLoop
from tunegym.trial.status import TrialStatus


def _grid(env: Any, lrs: list[float]) -> list[Any]:
    return [env.step({"lr": lr})[3]["row"] for lr in lrs]


def test_a_pruned_trial_is_stopped_at_once_and_recorded_with_its_curve(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    data = trainer_workload()
    data["command"] = [*data["command"], "--hang=60"]  # only a stop ends a trial early...
    data["params"] = {"lr": [0.3, 0.35, 2.5]}
    env = open_env_of({**data, "command": data["command"][:-1]})  # ...but not the first two
    good = _grid(env, [0.3, 0.35])
    assert [r.status for r in good] == ["ok", "ok"]
    assert good[0].curve == tuple((e, round(1.0 / e, 5)) for e in range(1, 7))
    assert good[0].observation["loss"] == good[0].curve[-1][1]  # progress only: last point
    env.close()

    env = open_env_of(data)
    env.resume()  # the same run folder: the two finished trials are in the study
    t0 = time.monotonic()
    row = env.step({"lr": 2.5})[3]["row"]
    took = time.monotonic() - t0
    assert row.status is TrialStatus.PRUNED
    assert row.curve[0] == (1, 3.2)  # worse than the median at its first epoch already
    assert row.error == "pruned at step 1: loss = 3.2"
    assert row.curve[-1][0] < 6  # what it printed before it was stopped is kept too
    assert took < 30, "the trial hangs for 60 s unless it is stopped"
    for pid in pids_of(env.sweep.trial_dir(row.step)):
        assert not alive(pid), "a process of the pruned trial is still running"
    assert env.store.curves()[row.step] == row.curve  # recorded as it was read


LATE_TRAINER = '''
import os, signal, subprocess, sys
lr = float(sys.argv[1])
lines = "".join(f"epoch {e} loss={abs(lr - 0.3) + 1.0 / e:.5f}\\n" for e in range(1, 7))
if lr < 1:
    sys.stdout.write(lines)
    sys.exit(0)
# The command ends at once. A child left in its process group, deaf to SIGTERM (so the
# runner sweeps it for kill_grace_s), prints the epochs once the command is gone: the
# pruner judges them after the trial's command ended on its own.
signal.signal(signal.SIGTERM, signal.SIG_IGN)
CHILD = """
import sys, time
def gone(pid):
    try:
        return open(f"/proc/{pid}/stat").read().split(") ", 1)[1][0] == "Z"
    except FileNotFoundError:
        return True
while not gone(int(sys.argv[1])):
    time.sleep(0.01)
print(sys.argv[2], end="", flush=True)
time.sleep(60)
"""
subprocess.Popen([sys.executable, "-c", CHILD, str(os.getpid()), lines])
'''


def test_a_trial_that_ended_before_its_prune_decision_keeps_its_result(
    open_env_of: Callable[..., Any],
    trainer_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    script = tmp_path / "late.py"
    script.write_text(LATE_TRAINER)
    env = open_env_of(trainer_workload(command=[sys.executable, str(script), "{lr}"]))
    first, second, late = _grid(env, [0.3, 0.35, 2.5])
    assert [first.status, second.status] == ["ok", "ok"]
    # Its first point is worse than the median: the pruner says stop, but the command had
    # already exited 0, so the stop came too late and the finished measurement stands.
    assert late.status is TrialStatus.OK and late.error is None
    assert late.curve == tuple((e, round(2.2 + 1.0 / e, 5)) for e in range(1, 7))
    assert late.observation["loss"] == late.curve[-1][1]
    assert env.pruning.pruned == []


def test_the_pruned_group_is_gone_within_a_second_of_the_decision(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    data = trainer_workload()
    env = open_env_of(data)
    _grid(env, [0.3, 0.35])
    env.close()
    data["command"] = [*data["command"], "--hang=60"]
    env = open_env_of(data)
    env.resume()
    decided: list[float] = []
    study = env.pruning
    original = study.report

    def report(key: int, step: int, value: float) -> bool:
        verdict = original(key, step, value)
        if verdict:
            decided.append(time.monotonic())
        return verdict

    study.report = report  # type: ignore[method-assign]
    row = env.step({"lr": 2.5})[3]["row"]
    ended = time.monotonic()
    assert row.status == "pruned" and len(decided) == 1
    assert ended - decided[0] < 1.0  # the runner returned once the whole group was gone
    assert not any(alive(pid) for pid in pids_of(env.sweep.trial_dir(row.step)))


def test_resume_keeps_pruning_decisions_and_curves(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    data = trainer_workload()
    env = open_env_of(data)
    rows = _grid(env, [0.3, 0.35, 2.5])
    assert [r.status for r in rows] == ["ok", "ok", "pruned"]
    env.close()

    resumed = open_env_of(data)
    plan = resumed.resume()
    assert [item.row.status for item in plan] == ["ok", "ok", "pruned"]
    assert [item.row.curve for item in plan] == [r.curve for r in rows]
    assert len(resumed.pruning) == 3  # the decisions count for the next trials
    # A repeat of the pruned action is answered from the cache, still pruned.
    again = resumed.step({"lr": 2.5})[3]["row"]
    assert again.status == "pruned" and again.cached


def test_progress_file_json_lines_are_read_while_the_trial_runs(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    data = trainer_workload(
        metrics=[{"name": "loss", "progress_file": "progress.jsonl", "regex": r"done loss=(\S+)"}]
    )
    env = open_env_of(data)
    rows = _grid(env, [0.3, 0.35, 2.5])
    assert [r.status for r in rows] == ["ok", "ok", "pruned"]
    assert len(rows[0].curve) == 6 and rows[2].curve[0] == (1, 3.2) and len(rows[2].curve) < 6


def test_pruning_with_parallel_trials(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    data = trainer_workload(params={"lr": {"low": 0.0, "high": 3.0}})
    data["agent"]["type"] = "random"
    data["command"] = [*data["command"], "--sleep=0.1"]
    env = open_env_of(data, parallel=2)
    agent = RandomAgent(env, AgentConfig(max_steps=10, seed=3, parallel=2))
    TrialLoop(env, agent, 10, parallel=2, seed=3).run()
    rows = env.store.rows()
    statuses = [r.status for r in rows]
    assert len(rows) == 10 and "pruned" in statuses and "ok" in statuses
    for row in rows:
        if row.status == "pruned":
            # Where a parallel trial is judged depends on how far the others got (timing),
            # up to its last epoch; that it was judged there, and stopped, does not.
            judged = {f"pruned at step {s}: loss = {v:g}" for s, v in row.curve}
            assert row.error in judged
            assert not any(alive(p) for p in pids_of(env.sweep.trial_dir(row.step)))
        assert env.store.curves()[row.step] == row.curve


def test_without_a_pruner_progress_is_recorded_and_nothing_is_stopped(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    data = trainer_workload(agent={"type": "grid", "reward": "negative", "pruner": None})
    del data["agent"]["pruner"]
    env = open_env_of(data)
    rows = _grid(env, [0.3, 0.35, 2.5])
    assert [r.status for r in rows] == ["ok", "ok", "ok"]
    assert all(len(r.curve) == 6 for r in rows)
    assert env.pruning is None


def test_a_pruned_trial_is_never_the_best(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    trainer_workload: Callable[..., dict[str, Any]],
) -> None:
    import json

    from tunegym.run import RunOptions, run_scenario
    from tunegym.spec import load

    # maximise: the trainer's bad trials would look best if pruned rows counted
    data = trainer_workload()
    data["agent"]["reward"] = "identity"
    data["agent"]["pruner"]["direction"] = "min"
    path = write_toml("trainer.toml", data)
    result = run_scenario(load(path), RunOptions(output=tmp_path / "runs", progress=False))
    summary = json.loads((result.run_dir / "summary.json").read_text())["jobs"][0]
    assert summary["counts"]["pruned"] >= 1
    assert summary["pruning"]["pruned"] == summary["counts"]["pruned"]
    from tunegym.trial.store import open_run_db

    db = open_run_db(result.run_dir)
    rows = db.rows("trainer", 0)
    db.close()
    pruned = [dict(r.action) for r in rows if r.status == "pruned"]
    assert pruned and summary["best"]["action"] not in pruned
    html = (result.run_dir / "report.html").read_text()
    assert "Intermediate values" in html and "pruned at step" in html
    # the time it spent, and the estimate of what pruning saved, from the rows themselves
    timing = summary["pruning"]
    full = [r.duration_s for r in rows if r.status == "ok"]
    stopped = [r.duration_s for r in rows if r.status == "pruned"]
    assert timing["trial_seconds"] == pytest.approx(sum(full) + sum(stopped))
    assert timing["pruned_seconds"] == pytest.approx(sum(stopped))
    mean_full = sum(full) / len(full)
    saved = sum(max(0.0, mean_full - s) for s in stopped)
    assert timing["saved_seconds"] == pytest.approx(saved) and saved > 0
    assert "saved against running them to the end" in html


def test_no_saving_is_estimated_before_a_trial_completed(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    trainer_workload: Callable[..., dict[str, Any]],
) -> None:
    import json

    from tunegym.run import RunOptions, run_scenario
    from tunegym.spec import load

    # every trial is stopped by the budget's end: none completed, none pruned
    data = trainer_workload(agent={"budget_s": 0.3, "budget_grace_s": 0.0})
    data["command"] = [*data["command"], "--hang=60"]
    result = run_scenario(
        load(write_toml("trainer.toml", data)), RunOptions(output=tmp_path / "runs", progress=False)
    )
    timing = json.loads((result.run_dir / "summary.json").read_text())["jobs"][0]["pruning"]
    assert timing["pruned"] == 0 and timing["saved_seconds"] is None
    html = (result.run_dir / "report.html").read_text()
    assert "Intermediate values" in html and "trial time spent in them." in html
    assert "saved against running them to the end" not in html


def _printing(lines: str) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.stdout.write({lines!r})", "--lr={lr}"]


def test_a_step_too_large_for_sqlite_is_ignored_and_the_trial_recorded(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    """A step of 2^70 once crashed the watcher thread (SQLite stores 64-bit integers), so
    the trial was neither watched nor scored."""
    lines = "epoch 1 loss=0.9\nepoch 1180591620717411303424 loss=0.5\nepoch 2 loss=0.4\n"
    env = open_env_of(trainer_workload(command=_printing(lines), params={"lr": [0.3]}))
    (row,) = _grid(env, [0.3])
    assert row.status is TrialStatus.OK and row.observation["loss"] == 0.4
    assert row.curve == ((1, 0.9), (2, 0.4)) and env.store.curves()[row.step] == row.curve


def test_a_flood_of_points_is_read_to_its_end(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    """A command that prints more than one read's worth (4 MiB) and ends: its last point
    is its final value (the final read used to stop at 4 MiB, and take a cut line). What
    the watcher did not read while it ran is read from its newest 4 MiB at most, so the
    curve may have one gap, never a cut line."""
    script = (
        "import sys\n"
        "lines = ('epoch %d loss=%.9f\\n' % (e, 1 + 1 / e) for e in range(1, 250001))\n"
        "sys.stdout.write(''.join(lines))"
    )
    data = trainer_workload(command=[sys.executable, "-c", script, "--lr={lr}"])
    data["params"] = {"lr": [0.3]}
    data["agent"]["pruner"] = {"type": "none"}
    env = open_env_of(data)
    (row,) = _grid(env, [0.3])
    assert row.status is TrialStatus.OK
    assert row.observation["loss"] == round(1 + 1 / 250_000, 9)
    steps = [step for step, _ in row.curve]
    assert steps[-1] == 250_000 and steps == sorted(set(steps))
    assert sum(1 for a, b in itertools.pairwise(steps) if b != a + 1) <= 1
    assert all(value == round(1 + 1 / step, 9) for step, value in row.curve)


def test_progress_lines_without_a_usable_value_say_why_the_metric_is_missing(
    open_env_of: Callable[..., Any], trainer_workload: Callable[..., dict[str, Any]]
) -> None:
    lines = "epoch 1 loss=abc\nepoch 2 loss=nan\n"
    env = open_env_of(trainer_workload(command=_printing(lines), params={"lr": [0.3]}))
    (row,) = _grid(env, [0.3])
    assert row.status is TrialStatus.METRIC_MISSING
    assert "2 progress line(s) of 'loss' matched but none had a whole-number step" in row.error


def test_a_progress_regex_that_backtracks_leaves_the_metric_missing_with_its_reason(
    open_env_of: Callable[..., Any],
    trainer_workload: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader gives up on a line that takes its regex too long; the trial's last point
    read is then not its final value."""
    from tunegym.metrics import progress

    monkeypatch.setattr(progress, "LINE_TIMEOUT_S", 0.1)
    data = trainer_workload(command=_printing("1a\n" + "a" * 60 + "!\n3a\n"))
    data["params"] = {"lr": [0.3]}
    data["metrics"] = [{"name": "loss", "progress": r"^(\d*)(a|aa)+$"}]
    data["agent"]["pruner"] = {"type": "none"}
    env = open_env_of(data)
    (row,) = _grid(env, [0.3])
    assert row.status is TrialStatus.METRIC_MISSING
    assert "took longer than 0.1 s on one line" in row.error
