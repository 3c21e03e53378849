"""Whether any action of a workload's search space satisfies its constraints.

The agents never propose an action that breaks a constraint over the action and fixed
values (the grid skips it, random draws again), so constraints that rule out the whole
space (``x > 100`` over ``x = [1, 2]``, or ``x / 0 > 1``, which cannot be evaluated) gave a
job of no trial that said ``ok``. :func:`no_feasible_action` finds that before anything
runs, for a finite space small enough to go through.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from tunegym.env.workload import action_constraints, broken_constraint
from tunegym.expr import ExprError, compile_expr
from tunegym.space import SearchSpace
from tunegym.spec.models import WorkloadSpec

__all__ = ["CONDITION_SAMPLES", "ENUMERATE_LIMIT", "broken_condition", "no_feasible_action"]

CONDITION_SAMPLES = 256
"""Random actions each ``[when]`` condition is evaluated on by :func:`broken_condition`."""

ENUMERATE_LIMIT = 100_000
"""The largest space gone through (a second or so); a larger one is left to the run."""


def no_feasible_action(workload: WorkloadSpec) -> str | None:
    """Why no action of ``workload``'s finite search space satisfies its constraints over
    the action and fixed values (the most common reason), or ``None`` when one does, or
    when the space is infinite, larger than :data:`ENUMERATE_LIMIT` or empty."""
    if workload.mode != "offline" or not workload.constraints:
        return None
    space = SearchSpace.from_workload(workload)
    size = space.size
    if space.is_empty or size is None or size > ENUMERATE_LIMIT:
        return None
    constraints = action_constraints(list(map(compile_expr, workload.constraints)), space)
    if not constraints:
        return None
    reasons: Counter[str] = Counter()
    for action in space.grid():
        why = broken_constraint(constraints, {**space.fixed, **action}, space.inactive(action))
        if why is None:
            return None
        reasons[why] += 1
    reason, count = reasons.most_common(1)[0]
    most = reason if count == size else f"{count} of them: {reason}"
    return (
        f"no action of the search space satisfies them: all {size} action(s) break one "
        f"({most}); the job would run no trial"
    )


def broken_condition(workload: WorkloadSpec) -> tuple[str, str] | None:
    """The first ``[when]`` param whose condition cannot be evaluated on any of
    :data:`CONDITION_SAMPLES` random actions, and why (its most common error); ``None``
    when each can be. Such a param was silently never chosen: a condition that fails
    reads as false (``"y + 1 > 0"`` with ``y`` a string left ``x`` out of every trial)."""
    if workload.mode != "offline" or not workload.when:
        return None
    space = SearchSpace.from_workload(workload)
    rng = np.random.default_rng(0)
    draws = [
        {**space.fixed, **{name: dim.sample(rng) for name, dim in space.dimensions.items()}}
        for _ in range(CONDITION_SAMPLES)
    ]
    for name, condition in space.conditions.items():
        errors: Counter[str] = Counter()
        for values in draws:
            try:
                condition.evaluate(values)
            except ExprError as exc:
                errors[str(exc)] += 1
                continue
            break
        else:
            why = errors.most_common(1)[0][0]
            return name, (
                f"cannot be evaluated for any action ({why}); {name!r} would never be chosen"
            )
    return None
