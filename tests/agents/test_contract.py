"""The agent contract, over every registered agent (a new agent gets the suite by registering).

As Optuna's ``optuna/testing/pytest_samplers.py`` does for samplers, each property is a
test parametrized over :func:`available_agents`:

* a seeded agent repeats its proposals;
* it honours ``max_steps`` and never proposes an action outside the space;
* a run killed after some trials and resumed keeps what was recorded and completes the
  budget; with ``resumes_exactly`` (every agent but sb3, which trains a fresh policy for
  the missing steps) its rows equal those of a run that was not killed;
* with ``parallel = n`` it never has more than ``n`` trials in flight.

Agent-specific options that keep a run small go in ``SMALL``; an agent without an entry
runs with its defaults.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.base import AgentConfig, BaseAgent
from tunegym.agents.registry import available_agents, build_agent, load_agent
from tunegym.env.base import PendingTrial, StepResult
from tunegym.env.function import FunctionEnv
from tunegym.run import RunOptions, run_scenario
from tunegym.space import Categorical, SearchSpace
from tunegym.spec import load

SPACE = SearchSpace(
    {"a": Categorical("a", ("p", "q", "r", "s")), "n": Categorical("n", (1, 2, 3, 4, 5))}
)
BUDGET = 12
SMALL: dict[str, dict[str, Any]] = {
    "sb3": {"kwargs": {"n_steps": 4, "batch_size": 4}, "policy_kwargs": {"net_arch": [8]}},
}
AGENTS = sorted(available_agents())


def objective(params: Mapping[str, Any]) -> float:
    return {"p": 0.0, "q": 1.0, "r": 3.0, "s": 2.0}[params["a"]] - (params["n"] - 4) ** 2


def make_agent(name: str, env: Any, seed: int = 3, **config: Any) -> BaseAgent:
    cls = load_agent(name)
    options = cls.Config.model_validate(SMALL.get(name, {}))
    return build_agent(cls, env, AgentConfig(BUDGET, seed, options, **config))


def proposals(name: str, seed: int) -> list[dict[str, Any]]:
    env = FunctionEnv(SPACE, objective)
    make_agent(name, env, seed).run()
    return [f.action for f in env.history]


@pytest.mark.parametrize("name", AGENTS)
def test_a_seeded_agent_repeats_its_proposals(name: str) -> None:
    first = proposals(name, seed=5)
    assert first and proposals(name, seed=5) == first


@pytest.mark.parametrize("name", AGENTS)
def test_an_agent_honours_max_steps_and_stays_inside_the_space(name: str) -> None:
    env = FunctionEnv(SPACE, objective)
    agent = make_agent(name, env)
    assert agent.run() == 0
    assert 0 < len(env.history) <= BUDGET and len(agent.history) == len(env.history)
    for feedback in env.history:
        assert SPACE.canonicalize(feedback.action) == feedback.action
        assert feedback.action["a"] in ("p", "q", "r", "s") and 1 <= feedback.action["n"] <= 5


class CountingEnv(FunctionEnv):
    """Records the most trials ever in flight between ``submit`` and ``complete``."""

    def __init__(self, parallel: int) -> None:
        super().__init__(SPACE, self._slow, parallel=parallel)
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most_in_flight = 0
        self.running = 0
        self.most_running = 0

    def _slow(self, params: Mapping[str, Any]) -> float:
        with self.lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(0.02)
        with self.lock:
            self.running -= 1
        return objective(params)

    def submit(self, action: Mapping[str, Any]) -> PendingTrial:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        return super().submit(action)

    def complete(self, pending: PendingTrial) -> StepResult:
        self.in_flight -= 1
        return super().complete(pending)


@pytest.mark.parametrize("name", AGENTS)
def test_parallel_trials_stay_within_the_limit(name: str) -> None:
    env = CountingEnv(parallel=3)
    make_agent(name, env, parallel=3).run()
    assert len(env.history) <= BUDGET
    assert env.most_in_flight <= 3 and env.most_running <= 3


def _run(path: Path, output: Path, resume: Path | None = None) -> Path:
    options = RunOptions(output=output, progress=False, verbosity=0, resume=resume)
    return run_scenario(load(path), options).run_dir


def _rows(run_dir: Path) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(run_dir / "trials.sqlite")
    try:
        return db.execute(
            "SELECT step, action, env_params, status, reward FROM trials ORDER BY step"
        ).fetchall()
    finally:
        db.close()


def _crash_after(run_dir: Path, step: int) -> None:
    """Make the run folder look killed while step ``step + 1`` ran: later rows gone, and
    nothing dispatched after it."""
    db = sqlite3.connect(run_dir / "trials.sqlite")
    with db:
        db.execute("DELETE FROM trials WHERE step > ?", (step,))
        db.execute("DELETE FROM dispatched WHERE step > ?", (step + 1,))
        db.execute("UPDATE meta SET value = 'null' WHERE key = 'result'")
    db.close()


@pytest.mark.parametrize("name", AGENTS)
def test_a_killed_and_resumed_run_equals_an_uninterrupted_one(
    name: str,
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    data = objective_workload(
        params={"x": [1, 2, 3, 4, 5], "y": ["a", "b", "c"]},
        agent={"type": name, "max_steps": 8, "seed": 4, "config": SMALL.get(name, {})},
    )
    path = write_toml("workload.toml", data)
    whole = _run(path, tmp_path / "whole")
    crashed = _run(path, tmp_path / "crashed")
    _crash_after(crashed, 3)
    kept = _rows(crashed)
    resumed = _run(path, tmp_path / "unused", resume=crashed)
    assert resumed == crashed
    rows = _rows(resumed)
    assert [r[0] for r in rows] == list(range(1, 9))  # the budget, no step lost or repeated
    assert rows[:3] == kept  # recorded trials are kept as they were
    if load_agent(name).resumes_exactly:
        assert [r[:3] for r in rows] == [r[:3] for r in _rows(whole)]


ENV_PARAM_AGENTS = [n for n in AGENTS if load_agent(n).supports_env_params]


@pytest.mark.parametrize("name", ENV_PARAM_AGENTS)
def test_under_env_params_a_killed_and_resumed_run_equals_an_uninterrupted_one(
    name: str,
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    """The same, with an env param drawn per trial: the contextual bandit's contexts and
    the re-measuring of promising actions under other draws replay too."""
    data = objective_workload(
        params={"x": [1, 2, 3, 4, 5], "y": ["a", "b", "c"], "pause": [0.0, 0.01]},
        env_params={"pause": {}},
        agent={"type": name, "max_steps": 10, "seed": 4, "config": SMALL.get(name, {})},
    )
    data["command"] = [*data["command"], "--sleep={pause}"]
    path = write_toml("workload.toml", data)
    whole = _run(path, tmp_path / "whole")
    crashed = _run(path, tmp_path / "crashed")
    _crash_after(crashed, 4)
    kept = _rows(crashed)
    resumed = _run(path, tmp_path / "unused", resume=crashed)
    rows = _rows(resumed)
    assert [r[0] for r in rows] == list(range(1, 11))
    assert rows[:4] == kept
    if load_agent(name).resumes_exactly:
        assert [r[:3] for r in rows] == [r[:3] for r in _rows(whole)]
