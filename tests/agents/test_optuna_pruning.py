"""The optuna agent learns pruned trials as Optuna's own: ``PRUNED`` with their curve."""

from __future__ import annotations

from typing import Any

from optuna.trial import TrialState

from tunegym.agents.base import AgentConfig
from tunegym.agents.optuna import OptunaAgent
from tunegym.env.function import FunctionEnv
from tunegym.pruning import PruningStudy, report
from tunegym.space import Continuous, SearchSpace
from tunegym.spec.models import PrunerSpec


def _training(params: dict[str, Any]) -> dict[str, float]:
    """A loss curve per epoch; the final loss is lowest near lr = 0.3."""
    loss = 0.0
    for epoch in range(1, 9):
        loss = abs(params["lr"] - 0.3) + 1.0 / epoch
        report(epoch, loss)
    return {"loss": loss}


def _env() -> FunctionEnv:
    space = SearchSpace({"lr": Continuous("lr", 0.0, 3.0)})
    pruner = PruningStudy(PrunerSpec(type="median", n_startup_trials=3), "min")
    return FunctionEnv(
        space, _training, metrics=["loss"], reward_fn=lambda o: -o["loss"], pruner=pruner
    )


def test_pruned_trials_are_told_pruned_with_their_negated_curve() -> None:
    env = _env()
    agent = OptunaAgent(env, AgentConfig(max_steps=25, seed=2))
    agent.run()
    pruned_rows = [f for f in agent.history if f.status == "pruned"]
    assert pruned_rows, "some trials should have been pruned"
    states = [t.state for t in agent.study.trials]
    assert states.count(TrialState.PRUNED) == len(pruned_rows)
    told = [t for t in agent.study.trials if t.state is TrialState.PRUNED]
    first = pruned_rows[0]
    assert any(t.intermediate_values == {s: -v for s, v in first.curve} for t in told), (
        "the agent's study maximises the reward: a minimised loss curve is negated"
    )
    # The best is never a pruned trial.
    best = max((f for f in agent.history if f.succeeded), key=lambda f: f.reward or 0.0)
    assert best.status == "ok" and agent.study.best_trial.state is TrialState.COMPLETE


def test_a_replayed_pruned_trial_is_added_as_pruned() -> None:
    env = _env()
    agent = OptunaAgent(env, AgentConfig(max_steps=5, seed=2))
    agent.run()
    donor = next((f for f in agent.history if f.status == "pruned"), None)
    fresh = OptunaAgent(_env(), AgentConfig(max_steps=5, seed=2))
    if donor is None:  # make one: the pruned view of any trial
        from dataclasses import replace

        donor = replace(agent.history[0], status="pruned", curve=((1, 2.0), (2, 1.5)))
    fresh.learn(donor)
    (trial,) = fresh.study.trials
    assert trial.state is TrialState.PRUNED
    assert trial.intermediate_values == {s: -v for s, v in donor.curve}


def test_report_outside_a_trial_does_nothing() -> None:
    assert _training({"lr": 0.3})["loss"] == 1.0 / 8
