"""Robust best under domain randomization, and the Pareto front of several objectives.

Pure functions over :class:`~tunegym.trial.store.TrialRow` lists: no I/O, no state. They
are what ``summary.json`` (and the HTML report) use to answer two questions that the
single best row cannot:

* **With env params**, one lucky draw can make a mediocre action look best. The robust
  best is the action with the highest *mean* reward over its env-param draws (ties: more
  draws first, then the earliest step) among the actions with enough evidence: at least
  ``required`` draws (``agent.min_draws``, or every env-param combination when there are
  fewer; :func:`robust_choice`). When no action has that many, the one with the most
  draws is chosen and the summary says the minimum was not met. :func:`context_bests`
  gives the best action per sampled context.
* **With several objectives**, there is no single best; :func:`pareto_front` gives the
  actions no other action beats on every objective.

Which rows count: an action's *measurements* are its ``ok`` rows (each one an executed
trial). ``cached`` rows repeat an earlier measurement of the same ``(action, env params)``
and are not counted again; they are used only for an action that has no ``ok`` row (e.g.
rows carried over from an earlier run). Failed rows never count.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tunegym.analysis.best import is_scored
from tunegym.space import cache_key
from tunegym.trial.store import SCORED_STATUSES, TrialRow
from tunegym.values import is_finite_number

Direction = Literal["max", "min"]


def measurements(
    rows: Iterable[TrialRow], counts: Callable[[TrialRow], bool] = is_scored
) -> dict[str, list[TrialRow]]:
    """Rows that count as measurements, grouped by action, in first-seen order.

    ``counts`` says whether a row holds a usable measurement (by default
    :func:`~tunegym.analysis.best.is_scored`: ``ok``/``cached`` with a finite reward); it
    must reject every status but ``ok`` and ``cached``. Per action: its ``ok`` rows that
    count; if it has none, its ``cached`` rows that count. Actions with neither are left out.
    """
    ok: dict[str, list[TrialRow]] = {}
    cached: dict[str, list[TrialRow]] = {}
    order: list[str] = []
    for row in rows:
        if not counts(row):
            continue
        key = cache_key(row.action, {})
        if key not in ok and key not in cached:
            order.append(key)
        (ok if row.status == "ok" else cached).setdefault(key, []).append(row)
    return {key: ok.get(key) or cached[key] for key in order}


@dataclass(frozen=True)
class ActionStats:
    """The reward of one action over its measurements."""

    action: dict[str, Any]
    mean_reward: float
    count: int
    std: float
    min_reward: float
    max_reward: float
    first_step: int
    sem: float | None = None
    """Standard error of the mean reward (sample std / sqrt(count)); ``None`` for one draw."""

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "mean_reward": self.mean_reward,
            "count": self.count,
            "sem": self.sem,
            "std": self.std,
            "min_reward": self.min_reward,
            "max_reward": self.max_reward,
            "first_step": self.first_step,
        }


def _stats(group: Sequence[TrialRow]) -> ActionStats:
    rewards = [float(r.reward) for r in group]  # type: ignore[arg-type]
    return ActionStats(
        action=dict(group[0].action),
        mean_reward=statistics.fmean(rewards),
        count=len(rewards),
        std=statistics.pstdev(rewards) if len(rewards) > 1 else 0.0,
        min_reward=min(rewards),
        max_reward=max(rewards),
        first_step=min(r.step for r in group),
        sem=statistics.stdev(rewards) / math.sqrt(len(rewards)) if len(rewards) > 1 else None,
    )


def _rank(stats: ActionStats) -> tuple[float, int, int]:
    return (-stats.mean_reward, -stats.count, stats.first_step)


def action_stats(rows: Iterable[TrialRow]) -> list[ActionStats]:
    """Every measured action, best first: mean reward, then more draws, then earliest."""
    return sorted((_stats(group) for group in measurements(rows).values()), key=_rank)


def robust_best(rows: Iterable[TrialRow], required: int = 1) -> ActionStats | None:
    """The action with the highest mean reward over its draws (ties: more draws first),
    among those with at least ``required`` draws (see :func:`robust_choice`)."""
    return robust_choice(action_stats(rows), required).best


@dataclass(frozen=True)
class RobustChoice:
    """The robust best and the evidence it rests on."""

    best: ActionStats | None
    min_draws: int
    """The configured minimum (``agent.min_draws``)."""
    required: int
    """The draws needed: ``min_draws``, or every env-param combination when there are fewer."""
    combinations: int | None = None
    """How many env-param combinations exist (``None``: not known)."""

    @property
    def met(self) -> bool:
        """Whether the robust best has at least ``required`` draws."""
        return self.best is not None and self.best.count >= self.required

    @property
    def note(self) -> str | None:
        """Why the evidence is less than asked for, in words (``None``: it is not)."""
        if self.best is None:
            return None
        if not self.met:
            return (
                f"no action reached {self.required} env-param draws within the budget (the "
                f"most: {self.best.count}), so the robust best rests on {self.best.count} "
                "draw(s); raise max_steps for the minimum"
            )
        if self.required < self.min_draws:
            return (
                f"min_draws is {self.min_draws}, but only {self.combinations} env-param "
                f"combination(s) exist: {self.required} draws cover every one"
            )
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "min_draws": self.min_draws,
            "required_draws": self.required,
            "min_draws_met": self.met,
        }
        if self.note is not None:
            out["evidence_note"] = self.note
        return out


def robust_choice(
    ranked: Sequence[ActionStats],
    required: int = 1,
    min_draws: int | None = None,
    combinations: int | None = None,
) -> RobustChoice:
    """The robust best of :func:`action_stats`' ranking: the first action with at least
    ``required`` draws; when none has that many, the best of those with the most draws."""
    floor = max(1, required)
    best: ActionStats | None = next((s for s in ranked if s.count >= floor), None)
    if best is None and ranked:
        most = max(s.count for s in ranked)
        best = next(s for s in ranked if s.count == most)
    return RobustChoice(best, floor if min_draws is None else min_draws, floor, combinations)


@dataclass(frozen=True)
class ContextBest:
    """The best action seen under one combination of env params."""

    env_params: dict[str, Any]
    best: ActionStats
    actions: int
    """How many distinct actions were measured in this context."""
    count: int
    """How many measurements this context has (all actions)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "env_params": self.env_params,
            "best_action": self.best.action,
            "mean_reward": self.best.mean_reward,
            "count": self.best.count,
            "actions_measured": self.actions,
            "measurements": self.count,
        }


def context_bests(rows: Iterable[TrialRow]) -> list[ContextBest]:
    """Per env-param combination, the action with the best mean reward in it.

    Contexts are ordered by their number of measurements (most first), then by their
    env params' canonical JSON so the order is stable.
    """
    by_context: dict[str, list[TrialRow]] = {}
    for row in rows:
        by_context.setdefault(cache_key({}, row.env_params), []).append(row)
    found: list[ContextBest] = []
    for context_rows in by_context.values():
        ranked = action_stats(context_rows)
        if ranked:
            count = sum(s.count for s in ranked)
            found.append(
                ContextBest(dict(context_rows[0].env_params), ranked[0], len(ranked), count)
            )
    return sorted(found, key=lambda c: (-c.count, cache_key({}, c.env_params)))


def robust_summary(
    ranked: Sequence[ActionStats],
    contexts: Sequence[ContextBest],
    top: int | None = None,
    choice: RobustChoice | None = None,
    over: str = "env-param draws",
) -> dict[str, Any]:
    """``summary.json``'s ``robust`` entry from :func:`action_stats`, :func:`context_bests`
    and the :func:`robust_choice` (default: no minimum of draws).

    ``top`` limits the ``actions`` list (``None``: all of them); ``over`` names what an
    action's measurements are (``env-param draws``, or ``repeats`` of ``agent.repeats``).
    """
    choice = choice or robust_choice(ranked)
    unit = "draw" if over == "env-param draws" else "measurement"
    return {
        "rule": (
            f"highest mean reward over {over} among actions with at least "
            f"{choice.required} {unit}(s); ties: more {unit}s, then earliest"
        ),
        "over": over,
        "best": choice.best.to_json() if choice.best is not None else None,
        **choice.to_json(),
        "actions": [s.to_json() for s in (ranked if top is None else ranked[:top])],
        "contexts": [c.to_json() for c in contexts],
    }


# -- several objectives ------------------------------------------------------------------
@dataclass(frozen=True)
class FrontMember:
    """An action on the Pareto front: its mean objective values over its measurements."""

    action: dict[str, Any]
    objectives: dict[str, float]
    count: int
    first_step: int
    row: TrialRow
    """The action's first measurement (for its observation and env params)."""

    def to_json(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "objectives": self.objectives,
            "count": self.count,
            "step": self.first_step,
        }


def dominates(a: Sequence[float], b: Sequence[float], directions: Sequence[Direction]) -> bool:
    """``a`` is at least as good as ``b`` on every objective and better on one."""
    better = False
    for x, y, direction in zip(a, b, directions, strict=True):
        if direction == "min":
            x, y = -x, -y
        if x < y:
            return False
        if x > y:
            better = True
    return better


def pareto_front(
    rows: Iterable[TrialRow], metrics: Sequence[str], directions: Sequence[Direction]
) -> list[FrontMember]:
    """The non-dominated actions, by their mean of each objective metric.

    ``metrics[i]`` is maximised when ``directions[i] == "max"``, minimised for ``"min"``.
    Actions with equal objective vectors are all kept. Members are ordered best first on
    the first objective, then on the next ones.
    """
    if len(metrics) != len(directions):
        raise ValueError(f"{len(metrics)} metrics but {len(directions)} directions")

    def counts(row: TrialRow) -> bool:  # every objective finite (the reward may be anything)
        return row.status in SCORED_STATUSES and all(
            is_finite_number(row.observation.get(m)) for m in metrics
        )

    members: list[FrontMember] = []
    for group in measurements(rows, counts).values():
        values = {m: statistics.fmean(float(r.observation[m]) for r in group) for m in metrics}
        first = min(group, key=lambda r: r.step)
        members.append(FrontMember(dict(first.action), values, len(group), first.step, first))
    vectors = [[m.objectives[k] for k in metrics] for m in members]
    front = [
        member
        for i, member in enumerate(members)
        if not any(dominates(vectors[j], vectors[i], directions) for j in range(len(members)))
    ]

    def order(member: FrontMember) -> tuple[Any, ...]:
        signed = [
            -member.objectives[m] if d == "max" else member.objectives[m]
            for m, d in zip(metrics, directions, strict=True)
        ]
        return (*signed, member.first_step)

    return sorted(front, key=order)


def hypervolume_2d(
    points: Iterable[Sequence[float]], reference: Sequence[float], directions: Sequence[Direction]
) -> float:
    """The area dominated by ``points`` and bounded by ``reference`` (two objectives).

    Points that do not strictly improve on the reference in both objectives add nothing.
    """
    if len(reference) != 2 or len(directions) != 2:
        raise ValueError("hypervolume_2d needs exactly two objectives")
    # Turn both objectives into "minimise, relative to the reference".
    signs = [1.0 if d == "min" else -1.0 for d in directions]
    ref = [reference[0] * signs[0], reference[1] * signs[1]]
    flipped = sorted(
        (p[0] * signs[0], p[1] * signs[1])
        for p in points
        if p[0] * signs[0] < ref[0] and p[1] * signs[1] < ref[1]
    )
    area, best_y = 0.0, ref[1]
    for x, y in flipped:
        if y < best_y:
            area += (ref[0] - x) * (best_y - y)
            best_y = y
    return area
