"""The bandit agent: UCB1 and Thompson sampling, per-context statistics, reproducibility."""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tunegym.agents.bandit import BanditAgent, BanditOptions, upcoming_env_params
from tunegym.agents.base import AgentConfig, Feedback
from tunegym.cli.main import main
from tunegym.env.function import FunctionEnv
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.space import Categorical, Continuous, SearchSpace

ARMS = SearchSpace({"a": Categorical("a", (0, 1, 2, 3)), "b": Categorical("b", ("x", "y"))})
POLICIES = ["ucb1", "thompson"]


def noisy(seed: int, sd: float = 0.3) -> Callable[[Mapping[str, Any]], float]:
    """Mean 0.2 * a + 0.5 * (b == 'y') plus seeded Gaussian noise: best arm (3, 'y')."""
    rng = np.random.default_rng(seed)
    return lambda p: 0.2 * p["a"] + 0.5 * (p["b"] == "y") + float(rng.normal(0, sd))


def run(
    policy: str, steps: int, seed: int = 0, env: FunctionEnv | None = None, **options: Any
) -> tuple[BanditAgent, FunctionEnv]:
    env = env or FunctionEnv(ARMS, noisy(seed))
    agent = BanditAgent(env, AgentConfig(steps, seed, {"policy": policy, **options}))
    assert agent.run() == 0
    return agent, env


@pytest.mark.parametrize("policy", POLICIES)
def test_a_seeded_bandit_repeats_its_pulls(policy: str) -> None:
    def pulls(seed: int) -> list[dict]:
        return [f.action for f in run(policy, 40, seed)[1].history]

    assert pulls(5) == pulls(5)
    assert pulls(5) != pulls(6)


@pytest.mark.parametrize("policy", POLICIES)
def test_every_arm_first_then_the_best_arm_most_under_noise(policy: str) -> None:
    agent, env = run(policy, 160, seed=1)
    first = {tuple(f.action.items()) for f in env.history[:8]}
    assert len(first) == 8  # each of the 8 arms once, in a seeded order
    counts = Counter(tuple(f.action.items()) for f in env.history)
    best = (("a", 3), ("b", "y"))
    assert counts.most_common(1)[0][0] == best
    assert counts[best] > 160 / 8 * 2
    assert agent.recommend() == dict(best)


def test_ucb_exploration_zero_is_greedy_after_one_pull_each() -> None:
    env = FunctionEnv(ARMS, lambda p: 0.2 * p["a"] + 0.5 * (p["b"] == "y"))
    _, env = run("ucb1", 20, env=env, exploration=0.0)
    assert all(f.action == {"a": 3, "b": "y"} for f in env.history[8:])


def test_failed_pulls_count_as_the_lowest_reward_seen() -> None:
    space = SearchSpace({"a": Categorical("a", ("crash", "good", "meh"))})

    def objective(p: Mapping[str, Any]) -> float:
        if p["a"] == "crash":
            raise ValueError("boom")
        return {"good": 1.0, "meh": 0.5}[p["a"]]

    agent, env = run("ucb1", 30, env=FunctionEnv(space, objective))
    counts = Counter(f.action["a"] for f in env.history)
    assert counts["crash"] <= counts["meh"] < counts["good"]
    mean, n = agent.estimate(agent.arm_of({"a": "crash"}))
    assert mean == 0.5 and n == counts["crash"]  # failures sit at the floor, not at -1e9


def test_contexts_make_the_recommendation_depend_on_the_env_params() -> None:
    space = SearchSpace({"route": Categorical("route", ("slow", "fast", "mid"))})
    load = EnvParams([EnvParamDim("load", ("low", "high"))], seed=4)
    rng = np.random.default_rng(0)
    table = {("slow", "low"): 0.2, ("fast", "low"): 1.0, ("mid", "low"): 0.6}
    table |= {("slow", "high"): 1.0, ("fast", "high"): 0.0, ("mid", "high"): 0.6}

    def objective(p: Mapping[str, Any]) -> float:
        return table[(p["route"], p["load"])] + float(rng.normal(0, 0.1))

    env = FunctionEnv(space, objective, env_params=load)
    agent, env = run("ucb1", 90, env=env)
    assert agent.recommend({"load": "low"}) == {"route": "fast"}
    assert agent.recommend({"load": "high"}) == {"route": "slow"}
    recommended = sorted((e["load"], a["route"]) for e, a in agent.recommendations())
    assert recommended == [("high", "slow"), ("low", "fast")]
    # Pulls follow the context once it is known: the right route for the trial's load.
    late = env.history[30:]
    right = {"low": "fast", "high": "slow"}
    assert sum(f.action["route"] == right[f.env_params["load"]] for f in late) > 0.8 * len(late)
    # Without contexts the same agent cannot tell the loads apart.
    env2 = FunctionEnv(space, objective, env_params=load)
    blind, env2 = run("ucb1", 90, env=env2, contextual=False)
    assert not blind.contextual
    hits = sum(f.action["route"] == right[f.env_params["load"]] for f in env2.history[30:])
    assert hits < 0.7 * len(late)


def test_upcoming_env_params_are_those_the_next_step_draws() -> None:
    load = EnvParams([EnvParamDim("load", tuple(range(10)))], seed=1)
    env = FunctionEnv(ARMS, lambda p: 0.0, env_params=load)
    for _ in range(5):
        expected = upcoming_env_params(env)
        assert env.step({"a": 0, "b": "x"})[3]["env_params"] == expected
    assert upcoming_env_params(FunctionEnv(ARMS, lambda p: 0.0)) is None


def test_repeat_samples_each_count_as_a_pull() -> None:
    agent = BanditAgent(FunctionEnv(ARMS, lambda p: 0.0), AgentConfig(10, 0))
    samples = tuple(
        Feedback(i, {"a": 1, "b": "x"}, {}, {"score": r}, r, "ok") for i, r in enumerate([1, 3])
    )
    agent.update_policy(Feedback(1, {"a": 1, "b": "x"}, {}, {}, 2.0, "ok", samples=samples))
    assert agent.estimate(agent.arm_of({"a": 1, "b": "x"})) == (2.0, 2.0)


def test_bool_and_int_candidates_are_different_arms() -> None:
    space = SearchSpace({"v": Categorical("v", (1, True, 0, False))})
    agent = BanditAgent(FunctionEnv(space, lambda p: 0.0), AgentConfig(4, 0))
    assert [agent.arm_of({"v": v}) for v in (1, True, 0, False)] == [0, 1, 2, 3]


def test_bad_configuration_is_refused_clearly() -> None:
    known = "unknown policy 'egreedy'; known policies: ucb1, thompson"
    with pytest.raises(ValueError, match=known):
        BanditOptions(policy="egreedy")
    floats = SearchSpace({"f": Continuous("f", 0.0, 1.0)})
    with pytest.raises(ValueError, match="needs a finite space"):
        BanditAgent(FunctionEnv(floats, lambda p: 0.0), AgentConfig(3))
    ints = SearchSpace({"n": Continuous("n", 1, 4, "int")})  # int ranges are finite: arms
    _, env = run("thompson", 6, env=FunctionEnv(ints, lambda p: float(p["n"])))
    assert sorted(f.action["n"] for f in env.history[:4]) == [1, 2, 3, 4]


# -- parallel batches ------------------------------------------------------------------------
def test_select_actions_counts_arms_in_flight_as_pending_pulls() -> None:
    env = FunctionEnv(ARMS, lambda p: 1.0)
    agent = BanditAgent(env, AgentConfig(16, 0, parallel=4))
    observation, _ = env.reset()
    first = agent.select_actions(4, observation)
    second = agent.select_actions(4, observation)  # the first four are still in flight
    assert [agent.arm_of(a) for a in first + second] == agent.order  # each arm once, in order
    for action in first + second:
        agent.update_policy(env.step(action)[3]["feedback"])
    # After the first pass: the top scores, each pending arm counted as pulled once more,
    # so a batch spreads over equally good arms instead of repeating one.
    batch = agent.select_actions(4, observation)
    assert len({agent.arm_of(a) for a in batch}) == 4
    later = agent.select_actions(4, observation)  # the batch above is still in flight
    assert not {agent.arm_of(a) for a in batch} & {agent.arm_of(a) for a in later}
    single = agent.select_action(observation)  # proposes without marking anything in flight
    assert agent.select_actions(1, observation) == [single]


def test_more_room_than_arms_still_fills_the_batch() -> None:
    space = SearchSpace({"a": Categorical("a", ("p", "q"))})
    env = FunctionEnv(space, lambda p: 1.0)
    agent = BanditAgent(env, AgentConfig(8, 0, parallel=4))
    batch = agent.select_actions(4, env.reset()[0])
    assert len(batch) == 4  # an empty or short batch would end the run
    assert Counter(a["a"] for a in batch) == {"p": 2, "q": 2}


def test_a_parallel_tunegym_run_pulls_each_arm_once_before_any_repeat(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    data = objective_workload(agent={"type": "bandit", "max_steps": 8})  # 4 x 2 = 8 arms
    path = write_toml("w.toml", data)
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--parallel", "4"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    rows = list(csv.DictReader((run_dir / "objective" / "0" / "trajectory.csv").open()))
    assert len(rows) == 8
    assert len({r["action"] for r in rows}) == 8
    assert [r["status"] for r in rows] == ["ok"] * 8  # no cache hits
    assert {tuple(sorted(json.loads(r["action"]).items())) for r in rows} == {
        (("x", x), ("y", y)) for x in (1, 2, 3, 4) for y in ("a", "b")
    }


# -- large spaces ----------------------------------------------------------------------------
class _CountingPulls(dict):
    """``BanditAgent.pulls`` that counts membership tests."""

    lookups = 0

    def __contains__(self, key: object) -> bool:
        _CountingPulls.lookups += 1
        return super().__contains__(key)


def test_the_first_pass_does_linear_work() -> None:
    size = 3000
    space = SearchSpace({"n": Continuous("n", 1, size, "int")})
    env = FunctionEnv(space, lambda p: 0.0)
    agent = BanditAgent(env, AgentConfig(size, 0))
    agent.pulls = _CountingPulls()
    _CountingPulls.lookups = 0
    assert agent.run() == 0
    assert [agent.arm_of(f.action) for f in env.history] == agent.order
    assert _CountingPulls.lookups < 4 * size  # a scan from the start each time: ~size**2 / 2


def test_a_large_space_pulls_every_arm_once_in_the_first_pass() -> None:
    size = 20_000
    space = SearchSpace({"n": Continuous("n", 1, size, "int")})
    env = FunctionEnv(space, lambda p: float(p["n"] % 7))
    agent = BanditAgent(env, AgentConfig(size + 2, 0))
    assert agent.run() == 0
    first = [f.action["n"] for f in env.history[:size]]
    assert sorted(first) == list(range(1, size + 1))
    assert [agent.arm_of({"n": n}) for n in first] == agent.order
    assert all(f.action["n"] % 7 == 6 for f in env.history[size:])  # then a best arm


def test_arm_of_is_the_spaces_index_and_never_lists_a_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    space = SearchSpace(
        {
            "n": Continuous("n", -3, 40, "int"),
            "v": Categorical("v", (1, True, 0.5, "x")),
            "m": Continuous("m", 7, 9, "int"),
        }
    )
    agent = BanditAgent(FunctionEnv(space, lambda p: 0.0), AgentConfig(4, 0))
    actions = list(space.grid())
    listed = []
    original = Continuous.values

    def counting(dim: Continuous) -> tuple[int, ...]:
        listed.append(dim.name)
        return original.fget(dim)  # type: ignore[attr-defined]

    monkeypatch.setattr(Continuous, "values", property(counting))
    assert [agent.arm_of(a) for a in actions] == list(range(space.size or 0))
    assert agent.arm_of({"n": 5.0, "v": True, "m": 8}) == space.index_of(
        {"n": 5, "v": True, "m": 8}
    )
    assert listed == []


def test_contexts_come_from_the_envs_next_env_params(opaque_env: Callable[..., Any]) -> None:
    load = EnvParams([EnvParamDim("load", tuple(range(10)))], seed=1)
    env = opaque_env(ARMS, lambda p: 0.0, env_params=load)
    agent = BanditAgent(env, AgentConfig(5, 0))
    assert agent.contextual
    for _ in range(5):
        expected = upcoming_env_params(env)
        assert expected
        assert env.step({"a": 0, "b": "x"})[3]["env_params"] == expected
    assert not BanditAgent(opaque_env(ARMS, lambda p: 0.0), AgentConfig(5, 0)).contextual


@pytest.mark.parametrize("scale", [1e-200, 1e200])
@pytest.mark.parametrize("policy", POLICIES)
def test_the_pulls_do_not_depend_on_the_rewards_scale(policy: str, scale: float) -> None:
    """Rewards near 1e-200 or 1e200 pull the arms in the same order as rewards near 1:
    squaring them raised ZeroDivisionError / OverflowError (ucb1) or made the Thompson
    spread 0 or inf."""

    def pulls(factor: float) -> list[dict[str, Any]]:
        rewards = noisy(1)
        env = FunctionEnv(ARMS, lambda p: factor * rewards(p))
        return [f.action for f in run(policy, 60, seed=1, env=env)[1].history]

    with np.errstate(all="raise"):
        assert pulls(scale) == pulls(1.0)
