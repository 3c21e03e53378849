"""Whether any action of a workload's search space satisfies its constraints.

The agents never propose an action that breaks a constraint over the action and fixed
values (the grid skips it, random draws again), so constraints that rule out the whole
space (``x > 100`` over ``x = [1, 2]``, or ``x / 0 > 1``, which cannot be evaluated) gave a
job of no trial that said ``ok``. :func:`no_feasible_action` finds that before anything
runs, for a finite space small enough to go through.
"""

from __future__ import annotations

from collections import Counter

from tunegym.env.workload import action_constraints, broken_constraint
from tunegym.expr import compile_expr
from tunegym.space import SearchSpace
from tunegym.spec.models import WorkloadSpec

__all__ = ["ENUMERATE_LIMIT", "no_feasible_action"]

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
