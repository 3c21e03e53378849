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


def test_values_that_are_not_finite_are_ignored_and_numpy_numbers_taken() -> None:
    import numpy as np

    reporter = Reporter()
    with reporting(reporter):
        report(np.int64(1), np.float32(0.5))
        report(2, float("nan"))
        report(3.0, float("inf"))
        report(4, 10**400)  # too large for a float
        report(5, 0.25)
    assert reporter.points == [(1, 0.5), (5, 0.25)]


@pytest.mark.parametrize(
    ("step", "value", "says"),
    [
        (1.5, 0.1, "step must be a whole number from 0 to 2^63-1, got 1.5"),
        ("3", 0.1, "got '3'"),
        (True, 0.1, "got True"),
        (-1, 0.1, "got -1"),
        (2**63, 0.1, "got 9223372036854775808"),
        (1, "abc", "value must be a real number, got 'abc'"),
        (1, None, "got None"),
        (1, True, "got True"),
    ],
)
def test_a_bad_step_or_value_names_itself_and_the_calling_line(
    step: Any, value: Any, says: str
) -> None:
    from tunegym.errors import UsageError

    with (
        pytest.raises(UsageError, match=r"tunegym\.pruning\.report: ") as raised,
        reporting(Reporter()),
    ):
        report(step, value)
    assert says in str(raised.value) and f"{__file__}:" in str(raised.value)
    with pytest.raises(UsageError):
        report(step, value)  # outside a trial too: the same code fails the same way


def test_a_failed_objective_keeps_its_error() -> None:
    space = SearchSpace({"x": Continuous("x", -4.0, 4.0)})

    def objective(params: dict[str, Any]) -> float:
        report(1, "abc")  # type: ignore[arg-type]
        return 0.0

    env = FunctionEnv(space, objective, metrics=["score"])
    *_, info = env.step({"x": 0.5})
    env.close()
    assert info["status"] == "failed"
    assert info["error"].startswith("UsageError: tunegym.pruning.report: value must be a real")
