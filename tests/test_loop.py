"""The shared trial loop: parallel dispatch on any TrialEnv, refusals, parallel replay."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from concurrent.futures import wait
from typing import Any

import pytest

from tunegym.agents.base import AgentConfig
from tunegym.agents.grid import GridAgent
from tunegym.agents.random_search import RandomAgent
from tunegym.env.base import BaseGym, Observation, PendingTrial, StepResult
from tunegym.env.function import FunctionEnv
from tunegym.errors import UsageError
from tunegym.loop import TrialLoop
from tunegym.space import Categorical, SearchSpace
from tunegym.trial.resume import ReplayItem
from tunegym.trial.rows import TrialRow

SPACE = SearchSpace({"k": Categorical("k", tuple(range(8)))})


class Concurrency:
    """An objective that sleeps and records how many calls overlapped at most."""

    def __init__(self, sleep_s: float) -> None:
        self.sleep_s = sleep_s
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.calls: list[int] = []

    def __call__(self, params: Mapping[str, Any]) -> float:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
            self.calls.append(int(params["k"]))
        time.sleep(self.sleep_s)
        with self.lock:
            self.running -= 1
        return float(params["k"])


def test_a_function_env_with_parallel_4_runs_four_objectives_at_a_time() -> None:
    objective = Concurrency(0.2)
    env = FunctionEnv(SPACE, objective, parallel=4)
    agent = GridAgent(env, AgentConfig(max_steps=8, parallel=4))
    assert agent.run() == 0
    env.close()
    assert objective.most == 4  # four in flight, never more
    assert sorted(objective.calls) == list(range(8))
    assert sorted(f.step for f in env.history) == list(range(1, 9))  # completion order
    assert len(agent.history) == 8


def test_parallel_beyond_what_the_env_runs_is_refused_not_serialised() -> None:
    env = FunctionEnv(SPACE, lambda p: 1.0)  # parallel = 1
    agent = RandomAgent(env, AgentConfig(max_steps=4, parallel=4))
    with pytest.raises(UsageError, match=r"parallel = 4, but FunctionEnv runs 1 trial\(s\)"):
        agent.run()
    assert env.history == []  # refused before any trial


class PlainEnv(BaseGym):
    """A user's BaseGym with only reset/step: fine one step at a time."""

    def __init__(self) -> None:
        self.action_space = SPACE
        self.observation_space = ["score"]
        self.steps = 0

    def reset(
        self, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        return {"score": 0.0}, {}

    def step(self, action: Mapping[str, Any]) -> StepResult:
        from tunegym.trial.rows import Feedback

        self.steps += 1
        score = float(action["k"])
        feedback = Feedback(self.steps, dict(action), {}, {"score": score}, score, "ok")
        return {"score": score}, score, False, {"feedback": feedback}


def test_a_plain_base_gym_runs_sequentially_and_refuses_parallel() -> None:
    env = PlainEnv()
    assert GridAgent(env, AgentConfig(max_steps=3)).run() == 0
    assert env.steps == 3
    with pytest.raises(UsageError, match="is not a TrialEnv"):
        GridAgent(PlainEnv(), AgentConfig(max_steps=3, parallel=2)).run()


def test_unfinished_trials_of_a_resumed_run_run_again_parallel_at_a_time() -> None:
    objective = Concurrency(0.2)
    env = FunctionEnv(SPACE, objective, parallel=3)
    done = TrialRow(1, {"k": 0}, {}, {"score": 0.0}, 0.0, "ok")
    env.replay_plan = [
        ReplayItem(1, {"k": 0}, {}, done),
        *(ReplayItem(step, {"k": step - 1}, {}, None) for step in (2, 3, 4)),
    ]
    env.step_count = 4
    agent = GridAgent(env, AgentConfig(max_steps=6, parallel=3))
    TrialLoop(env, agent, budget=6, parallel=3).run()
    env.close()
    # Steps 2-4 ran again together (three at a time), then two new trials.
    assert objective.calls[:3] == [1, 2, 3] and objective.most == 3
    assert len(objective.calls) == 5
    assert agent.history[0].step == 1  # the finished trial was replayed first
    assert sorted(f.step for f in agent.history) == [1, 2, 3, 4, 5, 6]


class SlowProposals:
    """A policy whose proposals take longer than the whole time budget (as a Gaussian
    process's ask can on a loaded machine)."""

    def __init__(self, propose_s: float) -> None:
        self.propose_s = propose_s
        self.proposed = 0

    def select_action(self, observation: Mapping[str, float]) -> dict[str, Any]:
        time.sleep(self.propose_s)
        self.proposed += 1
        return {"k": 1}

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[dict[str, Any]]:
        return [self.select_action(observation) for _ in range(n)]

    def learn(self, feedback: Any) -> None:
        raise AssertionError("no trial should have run")


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_proposal_that_outlasts_the_time_budget_starts_no_trial(parallel: int) -> None:
    from tunegym.budget import TimeBudget

    objective = Concurrency(0.0)
    env = FunctionEnv(SPACE, objective, parallel=parallel)
    budget = TimeBudget(0.2)
    policy = SlowProposals(0.3)
    TrialLoop(env, policy, budget=4, parallel=parallel, time_budget=budget).run()
    env.close()
    assert policy.proposed >= 1  # the budget was not spent when it began proposing
    assert objective.calls == [] and env.history == []
    assert budget.ended_job  # the summary and report say the budget ended the job


class OneAtATime:
    """A policy that proposes one action per call, whatever the room (as an agent does
    that needs results before it can propose more), and stops after ``total``."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.proposed = 0

    def select_action(self, observation: Mapping[str, float]) -> dict[str, Any] | None:
        if self.proposed == self.total:
            return None
        self.proposed += 1
        return {"k": self.proposed % 8}

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[dict[str, Any]]:
        action = self.select_action(observation)
        return [] if action is None else [action]

    def learn(self, feedback: Any) -> None:
        pass


def test_a_batch_smaller_than_the_room_is_not_the_end_of_the_search() -> None:
    objective = Concurrency(0.0)
    env = FunctionEnv(SPACE, objective, parallel=3)
    TrialLoop(env, OneAtATime(total=5), budget=8, parallel=3).run()
    env.close()
    assert len(objective.calls) == 5  # asked again as trials finished, until it said none


class _ObjectiveBug(RuntimeError):
    pass


class SpyEnv(FunctionEnv):
    """A ``FunctionEnv`` that keeps each submitted trial by step (to wait on its future)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending: dict[int, PendingTrial] = {}

    def submit(self, action: Mapping[str, Any]) -> PendingTrial:
        pending = super().submit(action)
        self.pending[pending.step] = pending
        return pending


def test_a_trial_that_raises_keeps_every_trial_finished_before_it() -> None:
    # Steps 1-3 start at once; 2 and 3 wait until step 1's reward is being computed,
    # which waits for both to finish: the loop then finds step 2 (raising) and step 3
    # (ok) finished together, and completes step 2 first.
    go = threading.Event()

    def objective(params: Mapping[str, Any]) -> float:
        if params["k"] > 0:
            assert go.wait(30)
        if params["k"] == 1:
            raise _ObjectiveBug("bug in the objective")
        return float(params["k"])

    def reward(observation: Mapping[str, float]) -> float:
        if observation["score"] == 0:
            go.set()
            wait([env.pending[2].future, env.pending[3].future], timeout=30)  # type: ignore[list-item]
        return observation["score"]

    env = SpyEnv(SPACE, objective, reward_fn=reward, parallel=3)
    with pytest.raises(_ObjectiveBug, match="bug in the objective"):
        GridAgent(env, AgentConfig(max_steps=3, parallel=3)).run()
    env.close()
    assert [(f.step, f.status.value, f.reward) for f in env.history] == [
        (1, "ok", 0.0),
        (3, "ok", 2.0),
    ]


def test_a_trial_that_finished_while_another_raised_is_kept() -> None:
    # Step 2 runs until step 3 (quick) is being completed; step 3's reward then waits
    # for step 2 to finish and raises: step 2 finished before the error got out.
    go = threading.Event()

    def objective(params: Mapping[str, Any]) -> float:
        if params["k"] == 1:
            assert go.wait(30)
        return float(params["k"])

    def reward(observation: Mapping[str, float]) -> float:
        if observation["score"] == 2:
            go.set()
            wait([env.pending[2].future], timeout=30)  # type: ignore[list-item]
            raise _ObjectiveBug("bug in the reward")
        return observation["score"]

    env = SpyEnv(SPACE, objective, reward_fn=reward, parallel=2)
    with pytest.raises(_ObjectiveBug, match="bug in the reward"):
        GridAgent(env, AgentConfig(max_steps=8, parallel=2)).run()
    env.close()
    assert [(f.step, f.status.value) for f in env.history] == [(1, "ok"), (2, "ok")]


def test_a_trial_still_running_when_another_raises_is_recorded_when_it_ends() -> None:
    # Step 1 raises while step 2 is still running; a thread cannot be stopped, so step 2
    # runs to its end anyway (close() waits for it). Its result was lost; the loop now
    # waits for it and records it before the error propagates.
    started = threading.Event()

    def objective(params: Mapping[str, Any]) -> float:
        if params["k"] == 0:
            assert started.wait(30)
            raise _ObjectiveBug("bug in the objective")
        started.set()
        time.sleep(0.3)
        return float(params["k"])

    env = FunctionEnv(SPACE, objective, parallel=2)
    with pytest.raises(_ObjectiveBug, match="bug in the objective"):
        GridAgent(env, AgentConfig(max_steps=2, parallel=2)).run()
    assert [(f.step, f.status.value, f.reward) for f in env.history] == [(2, "ok", 1.0)]
    env.close()
