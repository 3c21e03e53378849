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
import math
import numbers
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tunegym.errors import UsageError
from tunegym.metrics.progress import usable_step
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
        number, finite = _checked(step, value)
        if finite is None:
            return  # a value that is not finite is ignored, as in a command's output
        if self.points and number <= self.points[-1][0]:
            return  # steps only move forward
        self.points.append((number, finite))
        if self.decide is not None and self.decide(number, finite):
            self.pruned = True
            raise TrialPruned(pruned_message(number, finite))


def _checked(step: object, value: object) -> tuple[int, float | None]:
    """``step`` as an int and ``value`` as a float (``None`` when it is not finite); a
    :class:`~tunegym.errors.UsageError` naming the caller's line for anything else."""
    number = None
    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        number = usable_step(int(step))  # numpy's integers too
    elif isinstance(step, numbers.Real) and not isinstance(step, bool):
        number = usable_step(float(step))  # 3.0, not 2.5
    if number is None:
        raise _misuse(f"step must be a whole number from 0 to 2^63-1, got {step!r}")
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _misuse(f"value must be a real number, got {value!r}")
    try:
        as_float = float(value)
    except OverflowError:
        return number, None
    return number, as_float if math.isfinite(as_float) else None


def _misuse(problem: str) -> UsageError:
    caller = next(
        (f for f in reversed(traceback.extract_stack()[:-1]) if f.filename != __file__), None
    )
    where = f" (at {caller.filename}:{caller.lineno})" if caller is not None else ""
    return UsageError(f"tunegym.pruning.report: {problem}{where}")


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
    :class:`TrialPruned` when the pruner stops it (see the module docs).

    ``step`` is a whole number from 0 to 2^63-1 and ``value`` a real number (a value that
    is not finite is ignored); anything else raises :class:`~tunegym.errors.UsageError`
    naming the calling line, inside a trial or not."""
    reporter = _current.get()
    if reporter is not None:
        reporter.report(step, value)
    else:
        _checked(step, value)
