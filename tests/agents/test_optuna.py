"""The optuna agent: distributions, samplers, reproducibility, learning, and spec rules."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.base import AgentConfig
from tunegym.agents.optuna import (
    OptunaAgent,
    OptunaOptions,
    distributions_for,
    to_action,
    to_params,
)
from tunegym.cli.main import main
from tunegym.env.function import FunctionEnv
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.errors import SpecError
from tunegym.outputs.toml import dumps
from tunegym.space import Categorical, Continuous, SearchSpace
from tunegym.spec import load

MIXED = SearchSpace(
    {
        "n": Continuous("n", 3, 17, "int"),
        "lr": Continuous("lr", 1e-3, 10.0, "float", log=True),
        "pages": Continuous("pages", 1, 1024, "int", log=True),
        "x": Continuous("x", -2.0, 2.0),
        # 1 and True, 2 and 2.0 would be equal to Optuna: indices keep them apart.
        "c": Categorical("c", ("a", 1, True, 2.5, False)),
    }
)


def mixed_objective(p: Mapping[str, Any]) -> float:
    return -((p["x"] - 0.5) ** 2) - abs(p["n"] - 11) / 10 + (p["c"] is True)


def run_agent(
    space: SearchSpace,
    objective: Any,
    steps: int,
    seed: int = 0,
    env_cls: type[FunctionEnv] = FunctionEnv,
    **options: Any,
) -> tuple[OptunaAgent, FunctionEnv]:
    env = env_cls(space, objective)
    agent = OptunaAgent(env, AgentConfig(max_steps=steps, seed=seed, options=options))
    agent.run()
    return agent, env


class CachedEnv(FunctionEnv):
    """A FunctionEnv whose repeats would be cache hits (like a cached WorkloadEnv)."""

    caches_results = True


# -- distributions -------------------------------------------------------------------------
def test_each_dimension_kind_maps_to_its_optuna_distribution() -> None:
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    dists = distributions_for(MIXED)
    assert dists["n"] == IntDistribution(3, 17)
    assert dists["lr"] == FloatDistribution(1e-3, 10.0, log=True)
    assert dists["pages"] == IntDistribution(1, 1024, log=True)
    assert dists["x"] == FloatDistribution(-2.0, 2.0)
    assert dists["c"] == CategoricalDistribution([0, 1, 2, 3, 4])
    action = {"n": 4, "lr": 0.5, "pages": 8, "x": 0.0, "c": True}
    assert to_action(MIXED, to_params(MIXED, action)) == action
    assert to_params(MIXED, action)["c"] == 2


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_proposals_honour_int_bounds_log_scale_and_categorical_types(sampler: str) -> None:
    _, env = run_agent(MIXED, mixed_objective, 120, sampler=sampler)
    actions = [f.action for f in env.history]
    ns = [a["n"] for a in actions]
    assert all(type(n) is int for n in ns) and min(ns) >= 3 and max(ns) <= 17
    pages = [a["pages"] for a in actions]
    assert all(type(p) is int and 1 <= p <= 1024 for p in pages)
    candidates = {(type(v), v) for v in MIXED.dimensions["c"].values}
    assert {(type(a["c"]), a["c"]) for a in actions} <= candidates
    assert any(a["c"] is True for a in actions) and any(type(a["c"]) is int for a in actions)
    if sampler == "random":
        # Log scale: half the draws of [1e-3, 10] fall below its geometric middle 0.1 (a
        # uniform scale would put 1% there); likewise for the int log range [1, 1024].
        below = sum(a["lr"] < 0.1 for a in actions) / len(actions)
        assert 0.3 < below < 0.7
        assert 0.3 < sum(p < 32 for p in pages) / len(pages) < 0.7
        assert min(ns) == 3 and max(ns) == 17  # both ends reachable


@pytest.mark.parametrize(
    ("sampler", "options"),
    [
        ("tpe", {"n_startup_trials": 4}),
        ("gp", {"n_startup_trials": 4}),
        ("cmaes", {}),
        ("qmc", {}),
        ("random", {}),
    ],
)
def test_a_seeded_agent_repeats_its_trial_sequence(sampler: str, options: dict) -> None:
    steps = 7 if sampler == "gp" else 24

    def sequence(seed: int) -> list[dict]:
        _, env = run_agent(MIXED, mixed_objective, steps, seed, sampler=sampler, **options)
        return [f.action for f in env.history]

    first = sequence(7)
    assert len(first) == steps
    assert sequence(7) == first
    assert sequence(8) != first


def test_nsga2_seeded_multi_objective_is_reproducible_and_tells_both_values() -> None:
    space = SearchSpace({"x": Continuous("x", 0.0, 1.0), "k": Categorical("k", (1, 2, 3))})

    def objective(p: Mapping[str, Any]) -> dict[str, float]:
        return {"speed": p["x"] * p["k"], "cost": p["x"] ** 2 + p["k"]}

    def sequence(seed: int) -> tuple[list[dict], OptunaAgent]:
        env = FunctionEnv(space, objective, metrics=["speed", "cost"])
        config = AgentConfig(20, seed, {"sampler": "nsga2"}, objectives=("max", "min"))
        agent = OptunaAgent(env, config)
        agent.run()
        return [f.action for f in env.history], agent

    actions, agent = sequence(3)
    assert sequence(3)[0] == actions
    trials = [t for t in agent.study.trials if t.values is not None]
    assert len(trials) == 20
    for trial, feedback in zip(trials, agent.history, strict=True):
        assert trial.values == [feedback.observation["speed"], feedback.observation["cost"]]
    assert [d.name for d in agent.study.directions] == ["MAXIMIZE", "MINIMIZE"]


# -- learning ------------------------------------------------------------------------------
def test_tpe_learns_the_optimum_of_a_mixed_space() -> None:
    _, env = run_agent(MIXED, mixed_objective, 80, seed=0)
    best = max(env.history, key=lambda f: f.reward or -math.inf)
    assert best.action["c"] is True and best.reward is not None and best.reward > 0.8
    first, last = env.history[:20], env.history[-20:]
    mean = lambda fs: sum(f.reward for f in fs) / len(fs)  # noqa: E731
    assert mean(last) > mean(first)


def test_every_result_is_told_from_its_feedback_and_failures_stay_on_scale() -> None:
    space = SearchSpace({"x": Continuous("x", 0.0, 10.0)})

    def objective(p: Mapping[str, Any]) -> float:
        if p["x"] > 8:
            raise ValueError("crash region")  # a failed trial: penalty -1e9
        return p["x"]

    agent, env = run_agent(space, objective, 30, sampler="random")
    failed = [f for f in env.history if f.status == "failed"]
    assert failed and failed[0].reward == -1e9
    values = [t.value for t in agent.study.trials]
    successes = [f.reward for f in env.history if f.succeeded]
    # Failures are told as the worst success seen so far (or FAIL before any success).
    assert min(v for v in values if v is not None) >= min(successes)
    assert len(values) == len(env.history)


def test_skip_known_never_spends_a_trial_on_a_cache_hit_and_stops_when_exhausted() -> None:
    space = SearchSpace({"a": Categorical("a", (1, 2, 3)), "b": Categorical("b", ("x", "y"))})

    def objective(p: Mapping[str, Any]) -> float:
        return p["a"] + (p["b"] == "y")

    agent, env = run_agent(space, objective, 40, env_cls=CachedEnv)
    keys = [tuple(sorted(f.action.items())) for f in env.history]
    assert agent.skip_known is True
    assert len(keys) == len(set(keys)) == 6  # every action once, then it stops
    _, plain = run_agent(space, objective, 40)  # no cache: repeats are real measurements
    assert len(plain.history) == 40


def test_feedback_for_actions_it_did_not_propose_is_learnt() -> None:
    space = SearchSpace({"a": Categorical("a", tuple(range(10)))})
    env = CachedEnv(space, lambda p: float(p["a"]))
    agent = OptunaAgent(env, AgentConfig(max_steps=5, seed=0))
    from tunegym.agents.base import Feedback

    agent.update_policy(Feedback(1, {"a": 9}, {}, {"score": 9.0}, 9.0, "ok"))
    assert [t.params for t in agent.study.trials] == [{"a": 9}]
    assert agent.select_action({}) != {"a": 9}  # known, so not proposed again


# -- bad configuration ---------------------------------------------------------------------
def test_unknown_sampler_lists_the_known_ones() -> None:
    known = r"unknown sampler 'bogus'; known samplers: tpe, gp, cmaes, qmc, random, nsga2"
    with pytest.raises(ValueError, match=known):
        OptunaOptions(sampler="bogus")


def test_nsga2_with_a_single_objective_and_cmaes_with_several_are_refused() -> None:
    env = FunctionEnv(MIXED, mixed_objective)
    with pytest.raises(ValueError, match="needs several objectives"):
        OptunaAgent(env, AgentConfig(5, 0, {"sampler": "nsga2"}))
    env2 = FunctionEnv(MIXED, lambda p: {"a": 1.0, "b": 2.0}, metrics=["a", "b"])
    with pytest.raises(ValueError, match="single objective"):
        OptunaAgent(env2, AgentConfig(5, 0, {"sampler": "cmaes"}, objectives=("max", "min")))
    with pytest.raises(ValueError, match="one objective"):
        OptunaAgent(env2, AgentConfig(5, 0, {}, objectives=("max",)))


BASE = {
    "name": "w",
    "command": ["{python}", "-c", "print('s=1')", "{x}"],
    "params": {"x": {"low": 0.0, "high": 1.0}, "k": [1, 2]},
    "metrics": [{"name": "s", "regex": "s=(\\S+)"}, {"name": "t", "regex": "t=(\\S+)"}],
}


def spec_error(tmp_path: Path, **changes: Any) -> str:
    data = {**BASE, **changes}
    path = tmp_path / "w.toml"
    path.write_text(dumps(data))
    with pytest.raises(SpecError) as info:
        load(path)
    return str(info.value)


def test_spec_rules_for_samplers_objectives_repeats_and_warm_start(tmp_path: Path) -> None:
    msg = spec_error(tmp_path, agent={"type": "optuna", "config": {"sampler": "bogus"}})
    assert "agent.config.sampler" in msg and "known samplers: tpe, gp, cmaes, qmc" in msg
    msg = spec_error(tmp_path, agent={"type": "optuna", "config": {"sampler": "nsga2"}})
    assert "agent.config.sampler" in msg and "needs several objectives" in msg
    two = {"metrics": ["s", "t"], "objectives": ["max", "min"]}
    msg = spec_error(tmp_path, agent={"type": "optuna", "config": {"sampler": "cmaes"}, **two})
    assert "single objective" in msg
    msg = spec_error(tmp_path, agent={"type": "bandit", **two}, params={"k": [1, 2]})
    assert "agent.objectives" in msg and "'bandit' optimises a single reward" in msg
    msg = spec_error(tmp_path, agent={"metrics": ["s"], "objectives": ["min"]})
    assert "agent.objectives" in msg and "reward = 'identity'" in msg
    msg = spec_error(tmp_path, agent={"repeats": 3})
    assert "agent.repeats" in msg and "cache = false" in msg
    msg = spec_error(tmp_path, agent={"type": "grid", "warm_start": "old"}, params={"k": [1, 2]})
    assert "agent.warm_start" in msg and "does not learn from earlier runs" in msg
    # Reward-blind agents explore under several objectives; repeats are fine without cache.
    nsga2 = {"type": "optuna", "config": {"sampler": "nsga2"}, **two}
    for agent in ({"type": "random", **two}, nsga2):
        path = tmp_path / "ok.toml"
        path.write_text(dumps({**BASE, "cache": False, "agent": {**agent, "repeats": 2}}))
        assert load(path).jobs[0].workload.agent.repeats == 2


def test_an_agent_without_env_param_support_is_refused_by_tunegym_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunegym.agents import random_search
    from tunegym.agents.registry import register_agent, unregister_agent

    class NoEnv(random_search.RandomAgent):
        supports_env_params = False

    monkeypatch.setattr(random_search, "NoEnvParamsRandom", NoEnv, raising=False)
    register_agent("noenv", "tunegym.agents.random_search:NoEnvParamsRandom")
    try:
        path = tmp_path / "w.toml"
        data = {**BASE, "params": {"k": [1, 2], "x": [0, 1]}, "env_params": {"k": {}}}
        path.write_text(dumps({**data, "agent": {"type": "noenv"}}))
        assert main(["run", str(path), "--output", str(tmp_path / "runs")]) == 2
    finally:
        unregister_agent("noenv")
    err = capsys.readouterr().err
    assert "agent.type: agent 'noenv' does not support env params" in err
    assert "[env_params.k]" in err
    assert not (tmp_path / "runs").exists()  # nothing ran


# -- default agent and lazy import ---------------------------------------------------------
def test_verify_says_which_agent_the_default_resolves_to(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    floats = tmp_path / "floats.toml"
    floats.write_text(dumps({**BASE, "name": "floats"}))
    small = tmp_path / "small.toml"
    small.write_text(dumps({**BASE, "name": "small", "params": {"k": [1, 2], "x": [0, 1]}}))
    big = tmp_path / "big.toml"
    big_params = {"k": list(range(10)), "x": list(range(10))}
    big.write_text(dumps({**BASE, "name": "big", "params": big_params, "agent": {"max_steps": 30}}))
    assert main(["verify", str(floats), str(small), str(big)]) == 0
    out = capsys.readouterr().out
    assert "agent auto (default: the space has a range dimension), max_steps 100" in out
    assert "auto runs gp, then tpe after 60 trials (1 of 2 dimension(s) categorical;" in out
    assert "agent grid (default: categorical, all 4 actions fit in max_steps 4)" in out
    assert "agent auto (default: 100 actions do not fit in max_steps 30)" in out


def test_import_tunegym_and_help_do_not_import_optuna() -> None:
    code = (
        "import sys, contextlib, io\n"
        "import tunegym, tunegym.agents.registry, tunegym.agents.optuna, tunegym.run\n"
        "from tunegym.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "print('optuna' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_optuna_env_params_are_allowed_and_tell_each_draw() -> None:
    space = SearchSpace({"a": Categorical("a", ("p", "q"))})
    env_params = EnvParams([EnvParamDim("load", (1, 3))], seed=0)
    env = FunctionEnv(space, lambda p: (p["a"] == "q") * p["load"], env_params=env_params)
    agent = OptunaAgent(env, AgentConfig(max_steps=12, seed=0))
    assert agent.supports_env_params and agent.skip_known is False
    agent.run()
    assert len(env.history) == 12  # with env params every repeat is a new draw
    assert [t.value for t in agent.study.trials] == [f.reward for f in env.history]


def test_a_sampler_whose_package_is_missing_names_the_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import tunegym.agents.optuna as module

    real = module.importlib.util.find_spec
    monkeypatch.setattr(
        module.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "scipy" else real(name, *a),
    )
    with pytest.raises(ValueError, match=r"sampler 'qmc' needs scipy.*pip install scipy"):
        OptunaAgent(FunctionEnv(MIXED, mixed_objective), AgentConfig(5, 0, {"sampler": "qmc"}))


def test_an_omitted_agent_type_runs_auto_on_a_range_space(tmp_path: Path) -> None:
    import json

    from tunegym.run import RunOptions, run_scenario

    path = tmp_path / "w.toml"
    data = {
        **BASE,
        "command": ["{python}", "-c", "import sys; print('s=' + sys.argv[1])", "{x}"],
        "params": {"x": {"low": 0.0, "high": 1.0}},
        "agent": {"max_steps": 3, "metrics": ["s"]},
    }
    path.write_text(dumps(data))
    result = run_scenario(load(path), RunOptions(output=tmp_path / "runs", progress=False))
    (job,) = json.loads((result.run_dir / "summary.json").read_text())["jobs"]
    assert job["agent"] == "auto" and job["trials"] == 3 and job["counts"]["ok"] == 3
    assert job["search"]["method"] == "ngopt"  # one float range, one objective


def test_verify_explains_why_varying_results_get_auto(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "noisy.toml"
    path.write_text(dumps({**BASE, "cache": False, "params": {"k": [1, 2], "x": [0, 1]}}))
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "agent auto (default: results vary between measurements" in out
    assert "auto runs gp (2 of 2 dimension(s) categorical; max_steps 4" in out
    assert "cache off" in out


def test_a_parallel_batch_never_repeats_an_action_in_flight() -> None:
    space = SearchSpace({"a": Categorical("a", (1, 2, 3)), "b": Categorical("b", ("x", "y"))})
    env = CachedEnv(space, lambda p: float(p["a"]))
    agent = OptunaAgent(env, AgentConfig(max_steps=10, seed=0))
    batch = agent.select_actions(6, {})
    assert len({tuple(a.items()) for a in batch}) == 6  # all distinct, all in flight
    assert agent.select_actions(2, {}) == []  # nothing left that is not measured or running
    feedback = env.step(batch[0])[3]["feedback"]
    agent.update_policy(feedback)
    assert [t.state.name for t in agent.study.trials].count("COMPLETE") == 1


def test_skip_known_follows_the_envs_caching_and_env_params(
    opaque_env: Callable[..., Any],
) -> None:
    space = SearchSpace({"a": Categorical("a", ("p", "q"))})
    draws = EnvParams([EnvParamDim("load", (1, 3))], seed=0)

    def skip_known(**env: Any) -> bool:
        agent = OptunaAgent(opaque_env(space, lambda p: 1.0, **env), AgentConfig(max_steps=4))
        return agent.skip_known

    assert skip_known(caches=True) is True
    assert skip_known(caches=False) is False
    assert skip_known(caches=True, env_params=draws) is False  # each repeat is a new draw


def _gp_actions(env: FunctionEnv, **options: Any) -> list[dict[str, Any]]:
    OptunaAgent(env, AgentConfig(14, 3, {"sampler": "gp", **options})).run()
    return [f.action for f in env.history]


def test_gp_samples_alike_in_process_and_from_the_command_line() -> None:
    # Issue 15: deterministic_objective was switched on for cached (CLI) workloads only,
    # so the same job sampled differently in process; now it is Optuna's default in both.
    space = SearchSpace({"x": Continuous("x", -3.0, 3.0), "y": Continuous("y", 0.0, 2.0)})

    def bowl(p: Mapping[str, Any]) -> float:
        return -((p["x"] - 1.0) ** 2) - (p["y"] - 0.5) ** 2

    in_process = _gp_actions(FunctionEnv(space, bowl))
    assert _gp_actions(CachedEnv(space, bowl)) == in_process
    agent = OptunaAgent(CachedEnv(space, bowl), AgentConfig(5, 0, {"sampler": "gp"}))
    assert agent.study.sampler._deterministic is False  # type: ignore[attr-defined]
    chosen = {"sampler": "gp", "deterministic_objective": True}
    agent = OptunaAgent(FunctionEnv(space, bowl), AgentConfig(5, 0, chosen))
    assert agent.study.sampler._deterministic is True  # type: ignore[attr-defined]
