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

from tunegym.agents import auto_rule
from tunegym.agents.auto import AutoAgent
from tunegym.agents.auto_rule import GP_TRIALS, choose
from tunegym.agents.base import AgentConfig
from tunegym.agents.ngopt import NGOptAgent
from tunegym.agents.optuna import OptunaAgent
from tunegym.agents.registry import default_agent_reason
from tunegym.cli.main import main
from tunegym.env.function import FunctionEnv
from tunegym.expr import compile_expr
from tunegym.run import RunOptions, run_scenario
from tunegym.space import Categorical, Continuous, SearchSpace
from tunegym.spec import load

FLOATS = SearchSpace({n: Continuous(n, -5.0, 5.0) for n in ("a", "b", "c")})
INTS = SearchSpace({"n": Continuous("n", 1, 64, "int"), "x": Continuous("x", 0.0, 1.0)})
MIXED = SearchSpace({"c": Categorical("c", ("p", "q")), "x": Continuous("x", 0.0, 1.0)})


def sphere(params: Mapping[str, Any]) -> float:
    return -sum((float(v) - 1.0) ** 2 for v in params.values())


def sphere_or_mixed(params: Mapping[str, Any]) -> float:
    bonus = {"p": 0.0, "q": 1.0}.get(params.get("c", ""), 0.0)
    return bonus + sphere({k: v for k, v in params.items() if k != "c"})


# -- the rule ------------------------------------------------------------------------------
def test_the_rule_gives_floats_with_one_objective_and_repeatable_results_to_ngopt() -> None:
    for space in (FLOATS, SearchSpace({"x": Continuous("x", 1e-3, 1.0, log=True)})):
        for budget in (10, 200):
            choice = choose(space, budget, has_nevergrad=True)
            assert choice.method == "ngopt" and choice.then is None
            assert "Nevergrad NGOpt" in choice.reason


def test_the_rule_gives_the_rest_gp_then_tpe_on_a_larger_budget() -> None:
    small = choose(MIXED, 40, has_nevergrad=True)
    assert (small.method, small.then) == ("gp", None)
    assert small.reason == "1 of 2 dimension(s) categorical; max_steps 40 <= 60: Optuna GP"
    large = choose(MIXED, 200, has_nevergrad=True)
    assert (large.method, large.then, large.switch_after) == ("gp", "tpe", GP_TRIALS)
    assert str(large).startswith("gp, then tpe after 60 trials (1 of 2 dimension(s) categ")
    assert "vary" in choose(FLOATS, 30, deterministic=False, has_nevergrad=True).reason
    assert "2 objectives" in choose(FLOATS, 30, n_objectives=2, has_nevergrad=True).reason
    assert choose(INTS, 30, has_nevergrad=True).reason.startswith("1 of 2 dimension(s) integer")
    conditional = SearchSpace(
        {n: Continuous(n, -5.0, 5.0) for n in ("a", "b")}, conditions={"b": compile_expr("a > 0")}
    )
    assert choose(conditional, 30, has_nevergrad=True).method == "gp"  # define-by-run
    no_torch = choose(MIXED, 200, has_nevergrad=True, has_torch=False)
    assert (no_torch.method, no_torch.then) == ("tpe", None)  # `make demo`'s base install
    assert "GP needs torch" in no_torch.reason
    missing = choose(FLOATS, 30, has_nevergrad=False)
    assert missing.method == "gp" and "tunegym[search]" in missing.reason


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
        (FLOATS, 30, "ngopt", NGOptAgent),
        (INTS, 20, "gp", OptunaAgent),
        (MIXED, 20, "gp", OptunaAgent),
    ],
)
def test_auto_runs_the_arm_it_chose_and_improves_on_its_first_trial(
    space: SearchSpace, budget: int, method: str, arm: type
) -> None:
    env = FunctionEnv(space, sphere_or_mixed)
    agent = AutoAgent(env, AgentConfig(budget, 3))
    assert agent.choice.method == method and isinstance(agent.delegate, arm)
    assert agent.explain() == {"agent": "auto", **agent.choice.as_dict()}
    assert agent.run() == 0
    assert len(env.history) == budget
    rewards = [f.reward for f in env.history]
    assert max(rewards) > rewards[0]  # type: ignore[type-var]
    for feedback in env.history:
        assert space.canonicalize(feedback.action) == feedback.action


@pytest.fixture
def few_gp_trials(monkeypatch: pytest.MonkeyPatch) -> int:
    """GP hands over after 12 trials instead of GP_TRIALS (its asks are slow)."""
    monkeypatch.setattr(auto_rule, "GP_TRIALS", 12)
    return 12


def test_gp_hands_the_study_over_to_tpe_after_its_trials(few_gp_trials: int) -> None:
    from optuna.samplers import GPSampler, TPESampler

    env = FunctionEnv(MIXED, sphere_or_mixed)
    agent = AutoAgent(env, AgentConfig(few_gp_trials + 5, 0))
    assert agent.choice.then == "tpe"
    sampler_at: list[type] = []
    original = agent.delegate.select_action

    def spy(observation: Mapping[str, float]) -> Any:
        sampler_at.append(type(agent.delegate.study.sampler))  # type: ignore[attr-defined]
        return original(observation)

    agent.delegate.select_action = spy  # type: ignore[method-assign]
    assert agent.run() == 0 and len(env.history) == few_gp_trials + 5
    assert sampler_at == [GPSampler] * few_gp_trials + [TPESampler] * 5
    # TPE learned from every GP trial: one study, one history
    assert len(agent.delegate.study.trials) >= few_gp_trials + 5  # type: ignore[attr-defined]


def test_auto_noisy_option_overrides_what_the_env_says() -> None:
    agent = AutoAgent(FunctionEnv(FLOATS, sphere), AgentConfig(20, 0, {"noisy": True}))
    assert agent.choice.method == "gp" and "vary" in agent.choice.reason


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


def test_a_replay_across_the_hand_over_to_tpe_continues_exactly(few_gp_trials: int) -> None:
    budget, replay = few_gp_trials + 4, few_gp_trials + 1

    def actions(agent: AutoAgent, env: FunctionEnv, steps: int) -> list[dict[str, Any]]:
        out = []
        for _ in range(steps):
            action = agent.select_action({})
            assert action is not None
            _, _, _, info = env.step(action)
            agent.learn(info["feedback"])
            out.append(action)
        return out

    env = FunctionEnv(MIXED, sphere_or_mixed)
    whole = actions(AutoAgent(env, AgentConfig(budget, 7)), env, budget)
    again = FunctionEnv(MIXED, sphere_or_mixed)
    resumed = AutoAgent(again, AgentConfig(budget, 7))
    for feedback in env.history[:replay]:  # what a resumed run's replay does
        resumed.select_action({})
        resumed.learn(feedback)
    assert actions(resumed, again, budget - replay) == whole[replay:]


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


# -- explanations: verify and summary.json; resume through the CLI path --------------
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
    assert "auto runs ngopt (1 float dimension(s), one objective: Nevergrad NGOpt)" in out
    run_dir = run_scenario(
        load(path), RunOptions(output=tmp_path / "out", progress=False, verbosity=0)
    ).run_dir
    job = json.loads((run_dir / "summary.json").read_text())["jobs"][0]
    assert job["agent"] == "auto" and job["trials"] == 8
    assert job["search"] == {
        "agent": "auto",
        "method": "ngopt",
        "reason": "1 float dimension(s), one objective: Nevergrad NGOpt",
    }
    assert job["best"]["action"]["x"] == pytest.approx(3.0, abs=0.5)


def _rows(run_dir: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(run_dir / "trials.sqlite")
    try:
        return db.execute("SELECT step, action, status FROM trials ORDER BY step").fetchall()
    finally:
        db.close()


def test_a_killed_and_resumed_auto_run_on_the_ngopt_arm_equals_an_uninterrupted_one(
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
