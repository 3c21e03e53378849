"""Whether any action of a workload's search space satisfies its constraints.

The agents never propose an action that breaks a constraint over the action and fixed
values (the grid skips it, random draws again), so constraints that rule out the whole
space (``x > 100`` over ``x = [1, 2]``, or ``x / 0 > 1``, which cannot be evaluated) gave a
job of no trial that said ``ok``. :func:`no_feasible_action` finds that before anything
runs, for a finite space small enough to go through.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator

import numpy as np

from tunegym.env.workload import action_constraints, broken_constraint
from tunegym.expr import ExprError, compile_expr
from tunegym.metrics import build_reward
from tunegym.space import SearchSpace
from tunegym.spec.models import WorkloadSpec

__all__ = [
    "CONDITION_SAMPLES",
    "ENUMERATE_LIMIT",
    "broken_condition",
    "constraint_errors",
    "no_feasible_action",
    "uncomputable_reward",
    "workload_problem",
]

CONDITION_SAMPLES = 256
"""Random actions each ``[when]`` condition is evaluated on by :func:`broken_condition`."""

ENUMERATE_LIMIT = 100_000
"""The largest space gone through (a second or so); a larger one is left to the run."""


def no_feasible_action(workload: WorkloadSpec) -> str | None:
    """Why no action of ``workload``'s finite search space satisfies its constraints over
    the action and fixed values (the most common reason), or ``None`` when one does, or
    when the space is infinite, larger than :data:`ENUMERATE_LIMIT` or empty."""
    walk = _constraint_walk(workload)
    if walk is None:
        return None
    size, verdicts = walk
    reasons: Counter[str] = Counter()
    for why in verdicts:
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


PROBE_VALUES = (0.0, 1.0, -1.0, 0.5, 2.0, -3.7, 10.0, 1e3, -1e3, 1e-6, 1e6, 1e12, -1e12)
"""Metric values a reward expression is tried with (:func:`uncomputable_reward`)."""
PROBE_DRAWS = 200


def uncomputable_reward(workload: WorkloadSpec) -> str | None:
    """Why ``workload``'s reward expression cannot be computed whatever its metrics are
    (``expr: score / 0``: every trial would be ``metric_missing``), or ``None`` when it
    can be for some of the values tried: each of :data:`PROBE_VALUES` for every metric
    at once, then :data:`PROBE_DRAWS` mixes of them, drawn with a fixed seed. A named
    reward (``identity``...) always can be; a malformed expression is reported with the
    spec's other problems."""
    text = workload.agent.reward.strip()
    if not text.startswith("expr:"):
        return None
    try:
        names = sorted(compile_expr(text[len("expr:") :].strip()).names)
        reward = build_reward(text, names)
    except (ExprError, ValueError):
        return None
    rng = random.Random(0)
    tries = [dict.fromkeys(names, v) for v in PROBE_VALUES]
    tries += [{n: rng.choice(PROBE_VALUES) for n in names} for _ in range(PROBE_DRAWS)]
    reasons: Counter[str] = Counter()
    for observation in tries if names else tries[:1]:
        try:
            value = float(reward(observation))
        except (ExprError, ArithmeticError, ValueError, TypeError) as exc:
            reasons[str(exc)] += 1
            continue
        if math.isfinite(value):
            return None
        reasons["the result is not a finite number"] += 1
    reason = reasons.most_common(1)[0][0]
    return (
        f"{text!r} cannot be computed for any value of its metrics tried "
        f"({', '.join(names) or 'none'}): {reason}; every trial would be metric_missing"
    )


def constraint_errors(workload: WorkloadSpec) -> str | None:
    """A note when a constraint cannot be evaluated for some actions of a finite space
    (up to :data:`ENUMERATE_LIMIT`): those actions count as breaking it, and the agents
    skip them without a word (``"x > 1 or y > 1"`` with ``y`` a string drops every
    ``x = 1``). ``None`` when every evaluation gave an answer (or none could be tried)."""
    walk = _constraint_walk(workload)
    if walk is None:
        return None
    size, verdicts = walk
    errors = Counter(why for why in verdicts if why is not None and " cannot be evaluated: " in why)
    if not errors or sum(errors.values()) == size:  # all: refused by no_feasible_action
        return None
    reason, count = errors.most_common(1)[0]
    return (
        f"{sum(errors.values())} of the {size} actions are skipped because a constraint "
        f"cannot be evaluated for them ({count} of them: {reason})"
    )


def _constraint_walk(workload: WorkloadSpec) -> tuple[int, Iterator[str | None]] | None:
    """The size of ``workload``'s finite space and, lazily, for each of its actions in
    grid order, why it breaks a constraint over the action and fixed values (``None``
    when it breaks none); ``None`` when there is nothing to walk (live, no such
    constraint, an empty, infinite or too large space)."""
    if workload.mode != "offline" or not workload.constraints:
        return None
    space = SearchSpace.from_workload(workload)
    size = space.size
    if space.is_empty or size is None or size > ENUMERATE_LIMIT:
        return None
    constraints = action_constraints(list(map(compile_expr, workload.constraints)), space)
    if not constraints:
        return None
    verdicts = (
        broken_constraint(constraints, {**space.fixed, **action}, space.inactive(action))
        for action in space.grid()
    )
    return size, verdicts


def workload_problem(workload: WorkloadSpec) -> tuple[str, str] | None:
    """The first problem that would make ``workload``'s job measure nothing, as ``(field,
    why)``: a reward no metric values can compute, a ``[when]`` condition that cannot be
    evaluated, constraints no action satisfies; ``None`` when there is none. ``verify``
    and ``run`` refuse it (exit 2) before anything runs."""
    no_reward = uncomputable_reward(workload)
    if no_reward is not None:
        return "agent.reward", no_reward
    broken = broken_condition(workload)
    if broken is not None:
        return f"when.{broken[0]}", broken[1]
    infeasible = no_feasible_action(workload)
    if infeasible is not None:
        return "constraints", infeasible
    return None
