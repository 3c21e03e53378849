"""``report(step, value)``: intermediate values from Python code run as a trial.

An objective run by :class:`~tunegym.env.function.FunctionEnv`, a live server's ``step``
run by :class:`~tunegym.env.live.LiveEnv` (its points become the row's curve; live steps
are not pruned), or any code run inside :func:`reporting` calls
``tunegym.pruning.report(epoch, loss)`` as it goes; when the job's pruner says the trial
is worse than the others at that step, :class:`TrialPruned` is raised from the call, the
objective unwinds, and the trial is recorded as ``pruned`` with its curve. Outside a
trial, ``report`` records nothing and never raises, so the same code runs on its own.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tunegym.pruning.decisions import pruned_message

__all__ = ["Reporter", "TrialPruned", "report", "reporting"]


class TrialPruned(Exception):
    """Raised by :func:`report` when the pruner stops the trial; let it propagate."""


class Reporter:
    """The points of one running trial, and who decides whether it stops."""

    def __init__(self, decide: Callable[[int, float], bool] | None = None) -> None:
        self.decide = decide
        self.points: list[tuple[int, float]] = []
        self.pruned = False

    def report(self, step: int, value: float) -> None:
        step, value = int(step), float(value)
        if self.points and step <= self.points[-1][0]:
            return  # steps only move forward
        self.points.append((step, value))
        if self.decide is not None and self.decide(step, value):
            self.pruned = True
            raise TrialPruned(pruned_message(step, value))


_current: contextvars.ContextVar[Reporter | None] = contextvars.ContextVar(
    "tunegym_reporter", default=None
)


@contextmanager
def reporting(reporter: Reporter) -> Iterator[Reporter]:
    """Run the body as a trial whose :func:`report` calls go to ``reporter``."""
    token = _current.set(reporter)
    try:
        yield reporter
    finally:
        _current.reset(token)


def enter(reporter: Reporter) -> contextvars.Token[Reporter | None]:
    """:func:`reporting` without the context manager (for a hot path); pair with
    :func:`leave`."""
    return _current.set(reporter)


def leave(token: contextvars.Token[Reporter | None]) -> None:
    _current.reset(token)


def report(step: int, value: float) -> None:
    """Record an intermediate ``value`` at ``step`` of the running trial; raises
    :class:`TrialPruned` when the pruner stops it (see the module docs)."""
    reporter = _current.get()
    if reporter is not None:
        reporter.report(step, value)
