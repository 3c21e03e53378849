"""The ``auto`` agent: its rule, its arms (Optuna samplers, Nevergrad NGOpt), its
explanations (verify, summary.json) and its resume exactness on each arm."""

from __future__ import annotations

import json
import math
import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.auto import AutoAgent
from tunegym.agents.auto_rule import GP_MAX_STEPS, choose
from tunegym.agents.base import AgentConfig
from tunegym.agents.ngopt import NGOptAgent
from tunegym.agents.optuna import OptunaAgent
from tunegym.agents.registry import default_agent_reason
from tunegym.cli.main import main
from tunegym.env.function import FunctionEnv
from tunegym.run import RunOptions, run_scenario
from tunegym.space import Categorical, Continuous, SearchSpace
from tunegym.spec import load

FLOATS = SearchSpace({n: Continuous(n, -5.0, 5.0) for n in ("a", "b", "c")})
INTS = SearchSpace({"n": Continuous("n", 1, 64, "int"), "x": Continuous("x", 0.0, 1.0)})
MIXED = SearchSpace({"c": Categorical("c", ("p", "q")), "x": Continuous("x", 0.0, 1.0)})


def sphere(params: Mapping[str, Any]) -> float:
    return -sum((float(v) - 1.0) ** 2 for v in params.values())


# -- the rule ------------------------------------------------------------------------------
def test_the_rule_gives_tpe_to_categorical_integer_noisy_and_multi_objective_jobs() -> None:
    assert choose(MIXED, 200).method == "tpe"
    assert "categorical" in choose(MIXED, 200).reason
    assert choose(INTS, 200).method == "tpe" and "integer" in choose(INTS, 200).reason
    assert choose(FLOATS, 200, deterministic=False).method == "tpe"
    assert choose(FLOATS, 20, n_objectives=2).method == "tpe"


def test_the_rule_gives_gp_to_a_small_float_budget_and_ngopt_or_cmaes_to_a_large_one() -> None:
    small = choose(FLOATS, 30)
    assert small.method == "gp" and "max_steps 30" in small.reason
    assert choose(FLOATS, GP_MAX_STEPS + 1, has_nevergrad=True).method == "ngopt"
    fallback = choose(FLOATS, GP_MAX_STEPS + 1, has_nevergrad=False)
    assert fallback.method == "cmaes" and "tunegym[search]" in fallback.reason
    one = SearchSpace({"x": Continuous("x", 0.0, 1.0)})
    assert choose(one, 25).method == "gp" and choose(one, 26, has_nevergrad=True).method == "ngopt"


def test_auto_is_the_default_when_the_space_has_a_range_or_does_not_fit_a_grid() -> None:
    assert default_agent_reason(FLOATS, None)[0] == "auto"
    big = SearchSpace({n: Categorical(n, tuple(range(10))) for n in ("a", "b", "c")})
    assert default_agent_reason(big, 50)[0] == "auto"
    small = SearchSpace({"a": Categorical("a", (1, 2, 3))})
    assert default_agent_reason(small, 10)[0] == "grid"


# -- the agent and its arms ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("space", "budget", "method", "arm"),
    [
        (FLOATS, 20, "gp", OptunaAgent),
        (FLOATS, 80, "ngopt", NGOptAgent),
        (INTS, 20, "tpe", OptunaAgent),
    ],
)
def test_auto_runs_the_arm_it_chose_and_improves_on_its_first_trial(
    space: SearchSpace, budget: int, method: str, arm: type
) -> None:
    env = FunctionEnv(space, sphere)
    agent = AutoAgent(env, AgentConfig(budget, 3))
    assert agent.choice.method == method and isinstance(agent.delegate, arm)
    assert agent.explain() == {"agent": "auto", "method": method, "reason": agent.choice.reason}
    assert agent.run() == 0
    assert len(env.history) == budget
    rewards = [f.reward for f in env.history]
    assert max(rewards) > rewards[0]  # type: ignore[type-var]
    for feedback in env.history:
        assert space.canonicalize(feedback.action) == feedback.action


def test_auto_noisy_option_overrides_what_the_env_says() -> None:
    agent = AutoAgent(FunctionEnv(FLOATS, sphere), AgentConfig(20, 0, {"noisy": True}))
    assert agent.choice.method == "tpe" and "vary" in agent.choice.reason


def _ngopt_actions(seed: int, replay: int = 0) -> list[dict[str, Any]]:
    """NGOpt's proposals over 30 trials; with ``replay`` the first trials are learned the
    way a resumed run's replay teaches them (propose again, learn the recorded result)."""
    env = FunctionEnv(INTS, sphere)
    agent = NGOptAgent(env, AgentConfig(30, seed))
    agent.run()
    first = [f.action for f in env.history]
    if not replay:
        return first
    again = FunctionEnv(INTS, sphere)
    resumed = NGOptAgent(again, AgentConfig(30, seed))
    for feedback in env.history[:replay]:
        resumed.select_action({})
        resumed.learn(feedback)
    rest = []
    for _ in range(30 - replay):
        action = resumed.select_action({})
        assert action is not None
        _, _, _, info = again.step(action)
        resumed.learn(info["feedback"])
        rest.append(action)
    return [f.action for f in env.history[:replay]] + rest


def test_the_ngopt_arm_is_seeded_handles_integers_and_continues_exactly_after_a_replay() -> None:
    first = _ngopt_actions(5)
    assert first == _ngopt_actions(5) and first != _ngopt_actions(6)
    assert all(isinstance(a["n"], int) and 1 <= a["n"] <= 64 for a in first)
    assert _ngopt_actions(5, replay=12) == first


def test_the_ngopt_arm_tells_failures_as_the_worst_value_and_learns_a_warm_start() -> None:
    def failing(params: Mapping[str, Any]) -> float:
        return math.nan if params["a"] > 3 else sphere(params)

    env = FunctionEnv(FLOATS, failing)
    agent = NGOptAgent(env, AgentConfig(40, 1))
    assert agent.run() == 0 and len(env.history) == 40
    warm = NGOptAgent(FunctionEnv(FLOATS, sphere), AgentConfig(10, 1))
    assert warm.warm_start(env.history[:5]) == 5


# -- explanations: verify and summary.json; resume on the gp arm -----------------------------
def _float_workload(objective_workload: Callable[..., dict[str, Any]], **agent: Any) -> Any:
    return objective_workload(
        params={"x": {"low": 0.0, "high": 6.0}, "y": "b"},
        agent={"metrics": ["score"], "max_steps": 8, "seed": 2, **agent},
    )


def test_verify_and_the_summary_say_what_auto_chose_and_why(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = _float_workload(objective_workload)
    del data["agent"]["type"]  # the default
    path = write_toml("w.toml", data)
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "agent auto (default: the space has a range dimension)" in out
    assert "auto runs gp (1 float dimension(s), max_steps 8 <= 25: Optuna GP" in out
    run_dir = run_scenario(
        load(path), RunOptions(output=tmp_path / "out", progress=False, verbosity=0)
    ).run_dir
    job = json.loads((run_dir / "summary.json").read_text())["jobs"][0]
    assert job["agent"] == "auto" and job["trials"] == 8
    assert job["search"]["agent"] == "auto" and job["search"]["method"] == "gp"
    assert "max_steps 8" in job["search"]["reason"]
    assert job["best"]["action"]["x"] == pytest.approx(3.0, abs=0.5)


def _rows(run_dir: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(run_dir / "trials.sqlite")
    try:
        return db.execute("SELECT step, action, status FROM trials ORDER BY step").fetchall()
    finally:
        db.close()


def test_a_killed_and_resumed_auto_run_on_the_gp_arm_equals_an_uninterrupted_one(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    path = write_toml("w.toml", _float_workload(objective_workload, type="auto"))

    def run(output: Path, resume: Path | None = None) -> Path:
        options = RunOptions(output=output, progress=False, verbosity=0, resume=resume)
        return run_scenario(load(path), options).run_dir

    whole = run(tmp_path / "whole")
    crashed = run(tmp_path / "crashed")
    db = sqlite3.connect(crashed / "trials.sqlite")
    with db:  # as if killed while step 5 ran
        db.execute("DELETE FROM trials WHERE step > 4")
        db.execute("DELETE FROM dispatched WHERE step > 5")
        db.execute("UPDATE meta SET value = 'null' WHERE key = 'result'")
    db.close()
    resumed = run(tmp_path / "unused", resume=crashed)
    assert _rows(resumed) == _rows(whole) and len(_rows(whole)) == 8
