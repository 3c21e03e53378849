"""``TimeBudget``: a wall-clock budget for a job (``agent.budget_s``, ``tunegym run --budget``).

The trial loop starts no trial once the budget is spent; trials still running then
either finish (``grace_s`` of ``None``) or are stopped ``grace_s`` seconds later and
recorded as ``timeout``. The budget remembers whether it ended the job (it kept a trial
from starting, or stopped one), which the job's summary and report say.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["TimeBudget", "budget_phrase"]


@dataclass
class TimeBudget:
    """``seconds`` of wall-clock from ``started`` (``time.monotonic()``)."""

    seconds: float
    grace_s: float | None = None
    started: float = field(default_factory=time.monotonic)
    ended_job: bool = False
    """Set when the budget kept a trial from starting or stopped a running one."""
    stopped_trials: int = 0
    """Running trials stopped after the grace period."""
    source: str = "agent.budget_s"
    """What set it: ``agent.budget_s``, or ``--budget`` (the run's) when less of that was
    left when the job began."""
    given_s: float | None = None
    """The budget as its source gave it (``None``: ``seconds``); a job under ``--budget``
    gets what is left of it."""

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError(f"a time budget is at least 0 s, got {self.seconds}")
        if self.grace_s is not None and self.grace_s < 0:
            raise ValueError(f"a grace period is at least 0 s, got {self.grace_s}")

    @property
    def deadline(self) -> float:
        return self.started + self.seconds

    def remaining(self) -> float:
        """Seconds left (0 once spent)."""
        return max(0.0, self.deadline - time.monotonic())

    @property
    def spent(self) -> bool:
        return time.monotonic() >= self.deadline

    def summary(self) -> dict[str, object]:
        """What the job's summary records (``budget``)."""
        return {
            "budget_s": self.seconds,
            "grace_s": self.grace_s,
            "ended_job": self.ended_job,
            "stopped_trials": self.stopped_trials,
            "source": self.source,
            "given_s": self.seconds if self.given_s is None else self.given_s,
        }


def budget_phrase(summary: Mapping[str, Any]) -> str:
    """``the time budget (agent.budget_s = 60 s)`` or ``the run's time budget (--budget
    120 s)``, of a job summary's ``budget`` (a :meth:`TimeBudget.summary`)."""
    given = summary.get("given_s", summary.get("budget_s"))
    if summary.get("source") == "--budget":
        return f"the run's time budget (--budget {given:g} s)"
    if summary.get("source") == "agent.budget_s":
        return f"the time budget (agent.budget_s = {given:g} s)"
    return f"the time budget ({given:g} s)"  # a summary written before the source was
