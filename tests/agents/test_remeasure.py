"""``[agent] min_draws``: agents re-measure promising actions under other env-param draws,
so the robust best rests on at least the minimum (issue 15, item 6)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.base import AgentConfig
from tunegym.agents.registry import build_agent, load_agent
from tunegym.agents.remeasure import RemeasuringAgent
from tunegym.analysis.robust import action_stats, robust_choice
from tunegym.cli.main import main
from tunegym.env.function import FunctionEnv
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.space import Categorical, SearchSpace
from tunegym.trial.store import TrialRow

SPACE = SearchSpace({"a": Categorical("a", tuple(range(12))), "b": Categorical("b", (0, 1))})
LOAD = EnvParams([EnvParamDim("load", (1, 2, 3, 4))], seed=5)


def objective(params: Mapping[str, Any]) -> dict[str, float]:
    # A noisy landscape: the load shifts every action, so one lucky draw misleads.
    return {"score": params["a"] * 0.5 + params["b"] + 3.0 * params["load"]}


def _rows(env: FunctionEnv) -> list[TrialRow]:
    return [
        TrialRow(f.step, f.action, f.env_params, f.observation, f.reward, f.status)
        for f in env.history
    ]


@pytest.mark.parametrize("agent_type", ["optuna", "random", "grid", "bandit"])
@pytest.mark.parametrize("budget", [12, 30])
def test_the_robust_best_rests_on_the_minimum_draws(agent_type: str, budget: int) -> None:
    env = FunctionEnv(SPACE, objective, env_params=LOAD)
    config = AgentConfig(max_steps=budget, seed=1, min_draws=3)
    agent = build_agent(load_agent(agent_type), env, config)
    assert isinstance(agent, RemeasuringAgent)
    agent.run()
    ranked = action_stats(_rows(env))
    choice = robust_choice(ranked, required=3)
    assert len(env.history) == budget
    assert choice.met and choice.best is not None and choice.best.count >= 3
    # Only a share of the budget goes to re-measuring (plus the final top-up).
    assert agent.remeasured <= budget // 4 + 3


def test_without_env_params_or_with_min_draws_1_nothing_is_wrapped() -> None:
    plain = FunctionEnv(SPACE, objective)
    cls = load_agent("random")
    assert not isinstance(build_agent(cls, plain, AgentConfig(10, min_draws=3)), RemeasuringAgent)
    env = FunctionEnv(SPACE, objective, env_params=LOAD)
    assert not isinstance(build_agent(cls, env, AgentConfig(10, min_draws=1)), RemeasuringAgent)


def test_a_remeasured_trial_teaches_the_wrapped_agent() -> None:
    env = FunctionEnv(SPACE, objective, env_params=LOAD)
    agent = build_agent(load_agent("optuna"), env, AgentConfig(16, seed=0, min_draws=3))
    agent.run()
    assert isinstance(agent, RemeasuringAgent) and agent.remeasured > 0
    assert len(agent.agent.study.trials) >= 16  # every trial, re-measures included


def _summary(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    max_steps: int,
) -> dict[str, Any]:
    data = objective_workload(
        params={"x": [1, 2, 3, 4, 5, 6], "y": ["a", "b", "c"]},
        env_params={"y": {}},
        agent={"type": "random", "metrics": ["score"], "max_steps": max_steps, "seed": 4},
    )
    out = tmp_path / f"runs{max_steps}"
    assert main(["run", str(write_toml("workload.toml", data)), "--output", str(out), "-q"]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    return job["robust"]


def test_a_run_with_env_params_meets_the_minimum_and_shows_the_standard_error(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    robust = _summary(write_toml, objective_workload, tmp_path, 14)
    assert robust["min_draws"] == 3 and robust["required_draws"] == 3
    assert robust["min_draws_met"] is True and "evidence_note" not in robust
    assert robust["best"]["count"] >= 3 and robust["best"]["sem"] is not None


def test_a_budget_too_small_for_the_minimum_is_said_in_the_summary(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    robust = _summary(write_toml, objective_workload, tmp_path, 2)
    assert robust["min_draws_met"] is False
    assert "within the budget" in robust["evidence_note"]


@pytest.mark.parametrize("agent_type", ["optuna", "random"])
def test_parallel_batches_also_reach_the_minimum(agent_type: str) -> None:
    env = FunctionEnv(SPACE, objective, env_params=LOAD, parallel=3)
    config = AgentConfig(max_steps=24, seed=2, parallel=3, min_draws=3)
    agent = build_agent(load_agent(agent_type), env, config)
    agent.run()
    assert len(env.history) == 24
    choice = robust_choice(action_stats(_rows(env)), required=3)
    assert choice.met and agent.remeasured > 0


@pytest.mark.parametrize("agent_type", ["grid", "random"])
@pytest.mark.parametrize("parallel", ["1", "3"])
def test_a_finite_space_searched_out_early_still_gets_its_draws(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    agent_type: str,
    parallel: str,
) -> None:
    """Two actions, three env-param values: the search is over after two trials, and the
    re-measures must still reach every combination, even when the next draw is one an
    action already has (that trial is a cache hit; the job went on, not ended)."""
    data = objective_workload(
        params={"x": [2, 3], "y": ["a", "b", "c"]},
        env_params={"y": {}},
        agent={"type": agent_type, "metrics": ["score"], "max_steps": 30, "min_draws": 3},
    )
    out = tmp_path / "runs"
    path = write_toml("workload.toml", data)
    for seed in ("0", "1", "2"):
        argv = ["run", str(path), "--output", str(out / seed), "-q", "--seed", seed]
        assert main([*argv, "--parallel", parallel]) == 0
        (run_dir,) = (out / seed).iterdir()
        (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
        robust = job["robust"]
        assert robust["min_draws_met"] is True, (seed, robust.get("evidence_note"))
        assert robust["best"]["action"] == {"x": 3} and robust["best"]["count"] == 3


def test_a_proposal_the_cache_would_answer_costs_no_trial(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Under env params with the cache on, optuna may propose an action it measured under
    the same draw: the wrapper answers it from the record instead of spending a trial."""
    data = objective_workload(
        params={"x": [1, 2, 3, 4, 5, 6, 7, 8], "y": ["a", "b"]},
        env_params={"y": {}},
        agent={"type": "optuna", "metrics": ["score"], "max_steps": 9, "seed": 0},
    )
    out = tmp_path / "runs"
    assert main(["run", str(write_toml("workload.toml", data)), "--output", str(out), "-q"]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    assert job["trials"] == 9 and job["counts"]["cached"] == 0
