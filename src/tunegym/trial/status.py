"""``TrialStatus``: what became of a trial, and what the code may ask of it.

One enum instead of parallel lists of strings (as Optuna's ``TrialState``): a row's
status, the runners' statuses and the rules "is this a measurement", "may a resumed run
answer a repeat of it from the cache" and "is it over" are all here. Members are
strings (``StrEnum``), so ``status == "ok"``, JSON and SQLite see plain text.
"""

from __future__ import annotations

from enum import StrEnum


class TrialStatus(StrEnum):
    OK = "ok"
    """Ran and produced every observed metric."""
    CACHED = "cached"
    """Answered from the cache: a repeat of an ``ok`` trial with the same env params."""
    FAILED = "failed"
    """Non-zero exit, a command that could not start, or a failing objective."""
    TIMEOUT = "timeout"
    """Stopped after ``timeout_s``."""
    METRIC_MISSING = "metric_missing"
    """Ran, but an observed metric (or a finite reward) could not be read."""
    CONSTRAINT_FAILED = "constraint_failed"
    """Refused before running: a constraint over its params does not hold."""
    DRY_RUN = "dry_run"
    """``--dry-run``: its command was written down (``command.txt``), nothing ran."""
    PRUNED = "pruned"
    """Stopped early by the pruner (``[agent.pruner]``): its intermediate values were
    worse than the others' at the same step; its curve records how far it got."""
    RUNNING = "running"
    """Dispatched, no row yet (a resume plan's unfinished trial); never a row's status."""

    @property
    def scored(self) -> bool:
        """The row's reward is a measurement (when it is finite)."""
        return self in _SCORED

    @property
    def succeeded(self) -> bool:
        """The trial did what was asked of it (measured, answered from the cache, or
        written down by a dry run): a job whose trials all did not is a failure."""
        return self in _SUCCEEDED

    @property
    def cacheable(self) -> bool:
        """A resumed run may answer a repeat of this trial from the cache (constraints are
        evaluated again, and a cache hit is never the source of another)."""
        return self in _CACHEABLE

    @property
    def terminal(self) -> bool:
        """The trial is over: a row can record it."""
        return self is not TrialStatus.RUNNING

    @property
    def from_runner(self) -> bool:
        """A status a runner may report (the others are decided by the env)."""
        return self in _RUNNER


_SCORED = frozenset({TrialStatus.OK, TrialStatus.CACHED})
_SUCCEEDED = _SCORED | {TrialStatus.DRY_RUN}
_CACHEABLE = frozenset(
    {
        TrialStatus.OK,
        TrialStatus.FAILED,
        TrialStatus.TIMEOUT,
        TrialStatus.METRIC_MISSING,
        TrialStatus.PRUNED,
    }
)
_RUNNER = frozenset({TrialStatus.OK, TrialStatus.FAILED, TrialStatus.TIMEOUT})

STATUSES: tuple[str, ...] = tuple(s.value for s in TrialStatus if s.terminal)
"""Every status a row can have, in the order reports list them."""
SCORED_STATUSES: tuple[str, ...] = tuple(s.value for s in TrialStatus if s.scored)
"""Statuses whose reward is a measurement (when finite)."""
