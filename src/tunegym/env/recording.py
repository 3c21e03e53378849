"""What every trial-recording env shares: scoring a measured observation, and recording
a finished row (trial store, observers, the agent's feedback and the step's info).

``WorkloadEnv`` (offline trials) and ``LiveEnv`` (live server steps) both end a step
here, so their rows, observations and ``info`` dicts have one shape.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Protocol

from tunegym.env.base import Observation
from tunegym.env.observers import StepObserver
from tunegym.expr import ExprError
from tunegym.metrics import RewardFn
from tunegym.space import SearchSpace
from tunegym.trial.resume import ReplayItem, replay_plan
from tunegym.trial.rows import Feedback, TrialRow, full_observation
from tunegym.trial.status import TrialStatus
from tunegym.trial.store import TrialStore
from tunegym.trial.sweep import Sweep

__all__ = ["RecordingEnv", "full_observation", "record_row", "resume_plan", "score_row"]


class RecordingEnv(Protocol):
    store: TrialStore
    observers: list[StepObserver]
    observation_space: list[str]
    last_observation: Observation


def score_row(
    base: TrialRow,
    found: Mapping[str, float],
    observation_space: Sequence[str],
    reward_fn: RewardFn,
    penalty: float,
) -> TrialRow:
    """``base`` with the observation ``found`` and its reward.

    A metric of ``observation_space`` missing from ``found``, or a reward that cannot be
    computed or is not finite, makes the row ``metric_missing`` with reward ``penalty``.
    """
    missing = [name for name in observation_space if name not in found]
    if missing:
        return replace(
            base,
            observation=found,
            status=TrialStatus.METRIC_MISSING,
            reward=penalty,
            error=f"metric(s) not found in the trial's output: {', '.join(missing)}",
        )
    why = "the reward is not a finite number"
    try:
        reward = float(reward_fn(found))
    except (ExprError, ArithmeticError, ValueError, TypeError) as exc:
        reward, why = math.nan, f"the reward cannot be computed: {exc}"
    if not math.isfinite(reward):
        return replace(
            base, observation=found, status=TrialStatus.METRIC_MISSING, reward=penalty, error=why
        )
    return replace(base, observation=found, reward=reward)


def resume_plan(store: TrialStore, sweep: Sweep, space: SearchSpace) -> list[ReplayItem]:
    """The common part of resuming an env: rebuild the store's CSV files from SQLite,
    move the counter past the largest step handed out, and return the replay plan (its
    actions checked against ``space``: see :func:`~tunegym.trial.resume.replay_plan`)."""
    plan = replay_plan(store.db, store.job, store.iteration, space)
    store.rebuild_csv()
    sweep.advance_to(max((item.step for item in plan), default=0))
    return plan


def record_row(
    env: RecordingEnv, row: TrialRow, params: Mapping[str, Any]
) -> tuple[Observation, float, dict[str, Any]]:
    """Append ``row`` to the store, tell the observers, and build the step's result.

    Returns ``(observation, reward, info)``: the named observation over
    ``env.observation_space`` (also kept as ``env.last_observation``), the reward (NaN
    when the row has none) and ``info`` with ``step``, ``status``, ``cached``, ``params``,
    ``env_params``, ``feedback`` (a :class:`~tunegym.trial.rows.Feedback`) and ``row``.
    """
    env.store.append(row)
    for observer in env.observers:
        observer.after_step(env, row)  # type: ignore[arg-type]
    feedback = Feedback.of(row, env.observation_space)
    observation = dict(feedback.observation)
    env.last_observation = observation
    reward = math.nan if row.reward is None else float(row.reward)
    info = {
        "step": row.step,
        "status": row.status,
        "cached": row.cached,
        "params": params,
        "env_params": row.env_params,
        "feedback": feedback,
        "row": row,
    }
    return observation, reward, info
