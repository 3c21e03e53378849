"""``tunegym.pruning.report``: an objective's intermediate values, and its way to stop."""

from __future__ import annotations

from typing import Any

import pytest

from tunegym.agents.base import AgentConfig
from tunegym.agents.random_search import RandomAgent
from tunegym.env.function import FunctionEnv
from tunegym.loop import TrialLoop
from tunegym.pruning import PruningStudy, TrialPruned, report, reporting
from tunegym.pruning.reporting import Reporter
from tunegym.space import Continuous, SearchSpace
from tunegym.spec.models import PrunerSpec


def test_report_raises_trial_pruned_when_the_decider_says_stop() -> None:
    reporter = Reporter(lambda step, value: value > 1.0)
    with reporting(reporter):
        report(1, 0.5)
        report(1, 9.0)  # the same step again: ignored
        with pytest.raises(TrialPruned, match="pruned at step 2"):
            report(2, 3.0)
    assert reporter.points == [(1, 0.5), (2, 3.0)] and reporter.pruned
    report(3, 100.0)  # outside a trial: nothing happens


def _objective(params: dict[str, Any]) -> float:
    value = 0.0
    for epoch in range(1, 6):
        value = (params["x"] - 1.0) ** 2 + 1.0 / epoch
        report(epoch, value)
    return value


@pytest.mark.parametrize("parallel", [1, 2])
def test_function_env_records_pruned_trials_with_their_curves(parallel: int) -> None:
    space = SearchSpace({"x": Continuous("x", -4.0, 4.0)})
    pruner = PruningStudy(PrunerSpec(type="median", n_startup_trials=2), "min")
    env = FunctionEnv(
        space,
        _objective,
        metrics=["score"],
        reward_fn=lambda o: -o["score"],
        parallel=parallel,
        pruner=pruner,
    )
    agent = RandomAgent(env, AgentConfig(max_steps=20, seed=5, parallel=parallel))
    TrialLoop(env, agent, 20, parallel=parallel, seed=5).run()
    env.close()
    statuses = [f.status for f in env.history]
    assert "pruned" in statuses and "ok" in statuses
    for feedback in env.history:
        assert feedback.curve and feedback.curve[0][0] == 1
        if feedback.status == "ok":
            assert len(feedback.curve) == 5
    assert sorted(pruner.pruned) == [f.step for f in env.history if f.status == "pruned"]
