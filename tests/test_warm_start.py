"""``[agent] warm_start``: an earlier run's trials teach the agent before it proposes."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.bandit import BanditAgent
from tunegym.agents.base import AgentConfig
from tunegym.agents.optuna import OptunaAgent
from tunegym.agents.warm_start import load_warm_start, resolve_store
from tunegym.cli.main import main
from tunegym.env.function import FunctionEnv
from tunegym.errors import SpecError
from tunegym.expr import ExprError
from tunegym.run import RunOptions, run_scenario
from tunegym.space import Categorical, Continuous, SearchSpace
from tunegym.spec import load
from tunegym.trial.store import TrialDatabase, TrialRow

SPACE = SearchSpace({"x": Continuous("x", 0.0, 10.0), "m": Categorical("m", ("a", "b", "c"))})


def score(p: Mapping[str, Any]) -> float:
    return -((p["x"] - 7.0) ** 2) + {"a": 0.0, "b": 3.0, "c": 1.0}[p["m"]]


def earlier_run(tmp_path: Path, job: str = "w", n: int = 30, extra: list[TrialRow] = ()) -> Path:
    """A run folder whose trials.sqlite holds ``n`` random trials of ``SPACE``."""
    import numpy as np

    folder = tmp_path / "earlier"
    folder.mkdir(exist_ok=True)
    db = TrialDatabase(folder / "trials.sqlite")
    rng = np.random.default_rng(123)
    for step in range(1, n + 1):
        action = SPACE.sample(rng)
        reward = score(action)
        db.insert(job, 0, TrialRow(step, action, {}, {"score": reward}, reward, "ok"))
    for row in extra:
        db.insert(job, 0, row)
    db.close()
    return folder


def first_proposals(agent_cls: Any, env: FunctionEnv, warm: Path | None, n: int, **kw: Any) -> list:
    agent = agent_cls(env, AgentConfig(max_steps=n, seed=0, **kw))
    if warm is not None:
        feedback = load_warm_start(resolve_store(str(warm), Path("/")), "w", SPACE).feedback
        assert agent.warm_start(feedback) == len(feedback)
    agent.run()
    return [f for f in env.history]


def test_warm_start_changes_the_first_proposals_of_optuna(tmp_path: Path) -> None:
    warm_dir = earlier_run(tmp_path)
    cold = first_proposals(OptunaAgent, FunctionEnv(SPACE, score), None, 6)
    warm = first_proposals(OptunaAgent, FunctionEnv(SPACE, score), warm_dir, 6)
    assert [f.action for f in warm] != [f.action for f in cold]
    # 30 earlier trials are past TPE's 10 random startup trials: it exploits right away.
    mean = lambda fs: sum(f.reward for f in fs) / len(fs)  # noqa: E731
    assert mean(warm) > mean(cold)
    assert sum(f.action["m"] == "b" for f in warm) >= 4


def test_warm_start_of_the_bandit_skips_arms_it_already_knows(tmp_path: Path) -> None:
    space = SearchSpace({"m": Categorical("m", ("a", "b", "c"))})
    db_dir = tmp_path / "bandit"
    db_dir.mkdir()
    db = TrialDatabase(db_dir / "trials.sqlite")
    for step, (m, r) in enumerate([("a", 1.0), ("b", 5.0), ("b", 5.0)], start=1):
        db.insert("w", 0, TrialRow(step, {"m": m}, {}, {"score": r}, r, "ok"))
    db.close()
    env = FunctionEnv(space, lambda p: {"a": 1.0, "b": 5.0, "c": 0.0}[p["m"]])
    agent = BanditAgent(env, AgentConfig(max_steps=1, seed=0))
    warm = load_warm_start(db_dir / "trials.sqlite", "w", space)
    assert agent.warm_start(warm.feedback) == 3
    agent.run()
    assert env.history[0].action == {"m": "c"}  # the only arm not pulled before


def test_trials_that_do_not_fit_are_skipped_and_none_fitting_is_an_error(tmp_path: Path) -> None:
    misfit = TrialRow(99, {"x": 50.0, "m": "a"}, {}, {"score": 1.0}, 1.0, "ok")
    cached = TrialRow(100, {"x": 1.0, "m": "a"}, {}, {"score": 1.0}, 1.0, "cached", cached=True)
    folder = earlier_run(tmp_path, n=3, extra=[misfit, cached])
    warm = load_warm_start(folder / "trials.sqlite", "w", SPACE)
    assert len(warm.feedback) == 3 and warm.skipped == 1  # cache hits repeat a measurement
    other = SearchSpace({"z": Categorical("z", (1, 2))})
    with pytest.raises(SpecError, match=r"none of the 4 trials of job 'w' .* fit this job's"):
        load_warm_start(folder / "trials.sqlite", "w", other)


def test_the_job_is_found_by_name_or_as_the_only_job(tmp_path: Path) -> None:
    folder = earlier_run(tmp_path, job="renamed", n=4)
    assert load_warm_start(folder / "trials.sqlite", "w", SPACE).job == "renamed"
    db = TrialDatabase(folder / "trials.sqlite")
    db.insert("third", 0, TrialRow(1, {"x": 1.0, "m": "a"}, {}, {}, 1.0, "ok"))
    db.close()
    with pytest.raises(SpecError, match=r"no trials of job 'w' \(jobs: renamed, third\)"):
        load_warm_start(folder / "trials.sqlite", "w", SPACE)


def test_a_missing_warm_start_is_a_clear_error_before_anything_runs(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("w.toml", objective_workload(agent={"type": "optuna", "warm_start": "nope"}))
    assert main(["run", str(path), "--output", str(tmp_path / "runs")]) == 2
    assert "warm_start: no such file:" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match=r"has no trials\.sqlite"):
        resolve_store("empty", tmp_path)


def test_warm_start_end_to_end_through_tunegym_run(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    params = {"x": {"low": 0.0, "high": 6.0}, "y": ["a", "b", "c"]}
    agent = {"type": "optuna", "metrics": ["score"], "seed": 4}
    data = objective_workload(params=params, agent={**agent, "max_steps": 12})
    first = write_toml("first.toml", data)
    earlier = run_scenario(load(first), RunOptions(output=tmp_path / "a", progress=False))

    def three_trials(warm_start: str | None) -> dict:
        extra = {"warm_start": warm_start} if warm_start else {}
        data = objective_workload(params=params, agent={**agent, "max_steps": 3, **extra})
        path = write_toml("second.toml", data)
        result = run_scenario(load(path), RunOptions(output=tmp_path / "b", progress=False))
        assert result.exit_code == 0
        summary = json.loads((result.run_dir / "summary.json").read_text())
        with (result.run_dir / "objective" / "0" / "trajectory.csv").open() as fh:
            actions = [json.loads(r["action"]) for r in csv.DictReader(fh)]
        return {"summary": summary["jobs"][0], "actions": actions}

    relative = str(earlier.run_dir.relative_to(tmp_path))  # relative to the workload file
    warm, cold = three_trials(relative), three_trials(None)
    entry = dict(warm["summary"]["warm_start"])
    earlier_best = entry.pop("earlier_best")
    assert entry == {
        "source": str(earlier.run_dir / "trials.sqlite"),
        "job": "objective",
        "trials": 12,
        "skipped": 0,
    }
    # The earlier run's best is shown too, marked as such (issue 15, item 5).
    before = json.loads((earlier.run_dir / "summary.json").read_text())["jobs"][0]["best"]
    assert earlier_best["earlier_run"] is True
    assert earlier_best["reward"] == before["reward"] and earlier_best["action"] == before["action"]
    assert earlier_best["step"] == before["step"]
    assert "warm_start" not in cold["summary"]
    assert len(warm["actions"]) == len(cold["actions"]) == 3
    assert warm["actions"] != cold["actions"]


@pytest.mark.parametrize("content", [b"", b"print('a script')\n", b"SQLite format 2\x00 old"])
def test_a_warm_start_that_is_not_a_database_is_refused_before_anything_runs(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    content: bytes,
) -> None:
    (tmp_path / "bench.py").write_bytes(content)
    agent = {"type": "optuna", "warm_start": "bench.py"}
    path = write_toml("w.toml", objective_workload(agent=agent))
    assert main(["verify", str(path)]) == 2
    assert main(["run", str(path), "--output", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert f"agent.warm_start: {tmp_path / 'bench.py'} is not an SQLite database" in err
    assert not (tmp_path / "runs").exists()


def test_an_earlier_run_scored_another_way_is_scored_again_by_this_jobs_reward(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    """The earlier run minimised the score (reward = "negative"); this job maximises it.
    Its trials are taught with this job's rewards, so the earlier best is its highest score."""
    params = {"x": [1, 2, 3, 4, 5], "y": "a"}
    earlier = objective_workload(
        params=params, agent={"type": "grid", "metrics": ["score"], "reward": "negative"}
    )
    first = write_toml("earlier.toml", earlier)
    assert main(["run", str(first), "--output", str(tmp_path / "a"), "-q"]) == 0
    (earlier_dir,) = (tmp_path / "a").iterdir()
    agent = {"type": "optuna", "metrics": ["score"], "max_steps": 2, "warm_start": str(earlier_dir)}
    second = write_toml(
        "now.toml", objective_workload(params={"x": [1, 2, 3, 4, 5, 6], "y": "a"}, agent=agent)
    )
    assert main(["run", str(second), "--output", str(tmp_path / "b"), "-q"]) == 0
    (run_dir,) = (tmp_path / "b").iterdir()
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    best = job["warm_start"]["earlier_best"]
    assert best["action"] == {"x": 3} and best["reward"] == 0.0  # the highest score, x = 3

    # A reward that cannot score an earlier trial (a metric it never measured) skips it.
    def unscorable(observation: Mapping[str, float]) -> float:
        raise ExprError("no metric 'throughput'")

    space = SearchSpace({"x": Categorical("x", (1, 2, 3, 4, 5))}, {"y": "a"})
    with pytest.raises(
        SpecError,
        match=r"none of the 5 trials .* this job's reward cannot "
        r"score them \(no metric 'throughput'\)",
    ):
        load_warm_start(earlier_dir / "trials.sqlite", "objective", space, unscorable)


def test_a_warm_start_from_another_workload_is_refused_before_any_job_runs(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It passed verify; run ran the jobs before it, then stopped with status error and
    # a failure.txt, and the message named neither the file nor the field.
    other = objective_workload(name="other", params={"z": [1, 2]})  # x, y and z: 16 actions
    earlier = run_scenario(
        load(write_toml("other.toml", other)), RunOptions(output=tmp_path / "a", progress=False)
    )
    first = write_toml("first.toml", objective_workload(name="first"))
    agent = {"type": "optuna", "metrics": ["score"], "warm_start": str(earlier.run_dir)}
    second = write_toml("second.toml", objective_workload(agent=agent))
    scenario = write_toml(
        "scenario.toml",
        {"name": "two", "jobs": [{"workload": "first.toml"}, {"workload": "second.toml"}]},
    )
    assert first.exists()
    said = (
        f"tunegym: error: {second}: agent.warm_start: none of the 16 trials of job 'other' in "
        f"{earlier.run_dir / 'trials.sqlite'} fit this job's search space"
    )
    for argv in (
        ["verify", str(scenario)],
        ["run", str(scenario), "--output", str(tmp_path / "b")],
    ):
        capsys.readouterr()
        assert main(argv) == 2
        assert capsys.readouterr().err.strip().splitlines()[-1].startswith(said)
    assert not (tmp_path / "b").exists()


def test_a_warm_start_that_measured_the_whole_space_says_its_best(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # It said "ok, 0 trial(s)" and "no successful trial: no best configuration".
    agent = {"type": "optuna", "metrics": ["score"], "max_steps": 8}
    earlier = run_scenario(
        load(write_toml("first.toml", objective_workload(agent=agent))),
        RunOptions(output=tmp_path / "a", progress=False),
    )
    best = json.loads((earlier.run_dir / "summary.json").read_text())["jobs"][0]["best"]
    agent["warm_start"] = str(earlier.run_dir)
    path = write_toml("second.toml", objective_workload(agent=agent))
    capsys.readouterr()
    assert main(["run", str(path), "--output", str(tmp_path / "b"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "ok, 0 trial(s)" in out
    assert (
        "  no trial left to run: the warm start's run measured every action; its best reward "
        f"{best['reward']:.6g} at step {best['step']}: {json.dumps(best['action'])} "
        f"(in {earlier.run_dir / 'trials.sqlite'})"
    ) in out
