"""A finished trial as the store keeps it (:class:`TrialRow`) and as an agent sees it
(:class:`Feedback`): one room, so the two cannot drift apart."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunegym.trial.status import TrialStatus
from tunegym.values import Action

_BY_VALUE: dict[str, TrialStatus] = {s.value: s for s in TrialStatus}
_RUNNING = TrialStatus.RUNNING  # a module constant: an enum member lookup costs ~0.3 us


@dataclass(frozen=True)
class TrialRow:
    """One finished trial (executed, cached, or refused by a constraint).

    ``status`` may be given as its string; it is kept as a :class:`TrialStatus`.
    """

    step: int
    action: Mapping[str, Any]
    env_params: Mapping[str, Any]
    observation: Mapping[str, float]
    reward: float | None
    status: TrialStatus
    cached: bool = False
    returncode: int | None = None
    duration_s: float = 0.0
    started_at: float = 0.0
    error: str | None = None
    """Why the trial failed, in words (the runner's reason, the missing metrics, the
    constraint that did not hold); ``None`` for a trial that succeeded."""
    curve: tuple[tuple[int, float], ...] = ()
    """Its intermediate values ``(step, value)`` read while it ran (a metric with
    ``progress``), in step order; a pruned trial's last point is where it was stopped."""

    def __post_init__(self) -> None:
        status = self.status
        if status.__class__ is not TrialStatus:  # a plain string (from SQLite, a caller)
            member = _BY_VALUE.get(status)
            if member is None or not member.terminal:
                known = [s.value for s in TrialStatus if s.terminal]
                raise ValueError(f"unknown trial status {status!r}; known: {known}")
            object.__setattr__(self, "status", member)
        elif status is _RUNNING:  # identity, not the property: this runs for every row
            raise ValueError(f"a row records a finished trial, not one that is {status}")


@dataclass(frozen=True)
class Feedback:
    """One finished trial as the agent sees it: a row with its observation filled out
    over the observed metrics (NaN where the row has none)."""

    step: int
    action: Action
    env_params: Mapping[str, Any]
    observation: Mapping[str, float]
    reward: float | None
    status: str
    cached: bool = False
    samples: tuple[Feedback, ...] = ()
    """With ``repeats``: the feedback of every repeat this one averages (else empty)."""
    curve: tuple[tuple[int, float], ...] = ()
    """The row's intermediate values (see :attr:`TrialRow.curve`)."""

    @property
    def succeeded(self) -> bool:
        member = _BY_VALUE.get(self.status)
        return member is not None and member.succeeded

    @classmethod
    def of(cls, row: TrialRow, observation_space: Sequence[str]) -> Feedback:
        """The agent's view of ``row`` (see the class docstring)."""
        return cls(
            row.step,
            dict(row.action),
            dict(row.env_params),
            full_observation(row.observation, observation_space),
            row.reward,
            row.status,
            row.cached,
            curve=row.curve,
        )


@dataclass(frozen=True)
class Episode:
    """One finished episode of a live job: the steps it spanned and the reward they got."""

    index: int
    """0-based, per job iteration, in the order episodes ended."""
    first_step: int
    last_step: int
    steps: int
    total_reward: float
    terminated: bool
    truncated: bool
    seed: int | None = None
    """The seed its ``reset`` was given (the first episode of a job gets the job's seed)."""


def full_observation(found: Mapping[str, float], names: Sequence[str]) -> dict[str, float]:
    """One float per name of ``names`` (NaN where ``found`` has none)."""
    return {name: float(found.get(name, math.nan)) for name in names}
