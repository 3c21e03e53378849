"""The report's charts, each an inline ``<svg>`` string built from trial rows.

Every function returns a complete SVG with at least one mark whenever it is given at
least one row; a chart with nothing to show says so in a note instead of being empty.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from tunegym.analysis.best import is_scored
from tunegym.analysis.robust import FrontMember
from tunegym.analysis.rows import (
    Dimension,
    Direction,
    GroupStat,
    best_so_far,
    scored,
)
from tunegym.pruning.decisions import pruned_outcome
from tunegym.report.svg import (
    ACCENT,
    MUTED,
    STATUS_COLORS,
    CategoryScale,
    LinearScale,
    LogScale,
    Plot,
    fmt,
)
from tunegym.trial.store import TrialRow


def _describe(row: TrialRow) -> str:
    reward = "-" if row.reward is None else fmt(row.reward)
    action = json.dumps(dict(row.action), default=str)
    env = f" env {json.dumps(dict(row.env_params), default=str)}" if row.env_params else ""
    return f"step {row.step}: {row.status}, reward {reward}\n{action}{env}"


def reward_per_trial(rows: Sequence[TrialRow]) -> str:
    """Reward against step, coloured by status; unscored trials sit in a band below."""
    good = scored(rows)
    bad = [row for row in rows if not is_scored(row)]
    plot = Plot(
        LinearScale.fit([float(r.step) for r in rows], integer=True),
        LinearScale.fit([float(r.reward) for r in good]),  # type: ignore[arg-type]
        "trial (step)",
        "reward",
        band_label="no score" if bad else None,
    )
    for row in good:
        color = STATUS_COLORS.get(row.status, MUTED)
        plot.legend(row.status, color)
        plot.circle(row.step, float(row.reward), color, _describe(row))  # type: ignore[arg-type]
    for row in bad:
        color = STATUS_COLORS.get(row.status, MUTED)
        plot.legend(row.status, color)
        plot.band_mark(row.step, color, _describe(row))
    if not good:
        plot.text(_mid(plot.x), _mid(plot.y), "no trial produced a reward")
    return plot.render("reward per trial")


def best_so_far_curve(rows: Sequence[TrialRow]) -> str:
    """The best reward seen up to each step, with a dot where it improved."""
    curve = best_so_far(rows)
    plot = Plot(
        LinearScale.fit([float(r.step) for r in rows], integer=True),
        LinearScale.fit([best for _, best in curve]),
        "trial (step)",
        "best reward so far",
    )
    plot.line(curve, ACCENT, steps=True)
    previous = None
    for step, best in curve:
        if best != previous:
            plot.circle(step, best, ACCENT, f"step {step}: new best {fmt(best)}")
            previous = best
    if not curve:
        plot.text(_mid(plot.x), _mid(plot.y), "no trial produced a reward")
    return plot.render("best reward so far")


def learning_curves(rows: Sequence[TrialRow], metric: str) -> str:
    """Each trial's intermediate values against their step, one line per trial coloured
    by status; a pruned trial ends in a marked dot where it was stopped."""
    with_curve = [row for row in rows if row.curve and not row.cached]
    xs = [float(s) for row in with_curve for s, _ in row.curve]
    ys = [v for row in with_curve for _, v in row.curve]
    plot = Plot(LinearScale.fit(xs, integer=True), LinearScale.fit(ys), "step", metric)
    for row in with_curve:
        color = STATUS_COLORS.get(row.status, MUTED)
        plot.legend(row.status, color)
        plot.line(thinned(row.curve), color)
        last_step, last_value = row.curve[-1]
        if row.status == "pruned":
            title = f"trial {row.step}: pruned {pruned_outcome(row)}"
            plot.circle(last_step, last_value, color, title, r=5.0)
        else:
            title = (
                f"trial {row.step}: {row.status}, {metric} {fmt(last_value)} at step {last_step}"
            )
            plot.circle(last_step, last_value, color, title, r=2.5)
    if not with_curve:
        plot.text(_mid(plot.x), _mid(plot.y), "no intermediate values recorded")
    return plot.render(f"{metric} per step, per trial")


CURVE_BUCKETS = 400
"""A curve is drawn through at most two points per bucket of this many (about a pixel)."""


def thinned(
    curve: Sequence[tuple[int, float]], buckets: int | None = None
) -> list[tuple[float, float]]:
    """``curve`` as at most ``2 * buckets + 2`` points (default :data:`CURVE_BUCKETS`)
    that draw the same line: of each bucket of its steps, the lowest and the highest
    point in step order, and its first and last points (a curve of 200,000 points made a
    report of megabytes)."""
    buckets = CURVE_BUCKETS if buckets is None else buckets
    if len(curve) <= 2 * buckets + 2:
        return [(float(s), v) for s, v in curve]
    first, last = curve[0][0], curve[-1][0]
    width = (last - first) / buckets or 1.0
    kept: dict[int, tuple[int, int]] = {}  # bucket -> (index of its lowest, of its highest)
    for i, (step, value) in enumerate(curve):
        bucket = min(int((step - first) / width), buckets - 1)
        low, high = kept.get(bucket, (i, i))
        kept[bucket] = (i if value < curve[low][1] else low, i if value > curve[high][1] else high)
    indices = sorted({0, len(curve) - 1, *(i for pair in kept.values() for i in pair)})
    return [(float(curve[i][0]), curve[i][1]) for i in indices]


def group_effect(groups: Sequence[GroupStat], x_label: str, label: str) -> str:
    """Per value: every reward as a dot, the mean as a diamond, ±1 std as an error bar."""
    labels = tuple(
        f"{_short(g.value)} ({g.n})" if g.n == g.total else f"{_short(g.value)} ({g.n}/{g.total})"
        for g in groups
    )
    values = [r for g in groups for r in g.rewards]
    values += [g.mean + sign * g.std for g in groups if g.mean is not None for sign in (-1, 1)]
    plot = Plot(
        CategoryScale(labels), LinearScale.fit(values), f"{x_label} (scored trials)", "reward"
    )
    plot.legend("trial", MUTED)
    plot.legend("mean ± std", ACCENT)
    for i, group in enumerate(groups):
        for j, reward in enumerate(group.rewards):
            jitter = ((j * 0.618) % 1.0 - 0.5) * 0.35
            plot.circle(i + jitter, reward, MUTED, f"{x_label}={group.value}: {fmt(reward)}", r=3)
        mean = group.mean
        if mean is None:
            plot.text(i, _mid(plot.y), "not tried" if group.total == 0 else "no score")
            continue
        title = (
            f"{x_label}={group.value}: mean {fmt(mean)}, std {fmt(group.std)}, "
            f"{group.n} scored of {group.total}"
        )
        if group.n > 1:
            plot.error_bar(i, mean - group.std, mean + group.std, ACCENT, title)
        plot.diamond(i, mean, ACCENT, title)
    return plot.render(label)


def continuous_effect(rows: Sequence[TrialRow], dim: Dimension) -> str:
    """Reward against the value of one continuous dimension (log axis if declared so)."""
    points = [
        (float(r.action[dim.name]), float(r.reward), r)  # type: ignore[arg-type]
        for r in scored(rows)
        if isinstance(r.action.get(dim.name), int | float)
    ]
    xs = [x for x, _, _ in points]
    x_scale = LogScale.fit(xs) if dim.log else LinearScale.fit(xs)
    plot = Plot(x_scale, LinearScale.fit([y for _, y, _ in points]), dim.name, "reward")
    for x, y, row in points:
        color = STATUS_COLORS.get(row.status, MUTED)
        plot.legend(row.status, color)
        plot.circle(x, y, color, _describe(row))
    if not points:
        plot.text(_mid(plot.x), _mid(plot.y), "no scored trial")
    return plot.render(f"reward against {dim.name}")


def pareto_scatter(
    rows: Sequence[TrialRow], front: Sequence[FrontMember], goals: Sequence[tuple[str, Direction]]
) -> str:
    """The first two objectives of every scored row; front members highlighted and joined."""
    (mx, dx), (my, dy) = goals[0], goals[1]
    points = [
        (float(r.observation[mx]), float(r.observation[my]), r)
        for r in scored(rows)
        if mx in r.observation and my in r.observation
    ]
    members = [(m.objectives[mx], m.objectives[my], m) for m in front]
    plot = Plot(
        LinearScale.fit([x for x, _, _ in points] + [x for x, _, _ in members]),
        LinearScale.fit([y for _, y, _ in points] + [y for _, y, _ in members]),
        f"{mx} ({dx})",
        f"{my} ({dy})",
    )
    plot.legend("trial", MUTED)
    plot.legend("Pareto front", ACCENT)
    for x, y, row in points:
        plot.circle(x, y, MUTED, _describe(row))
    plot.line(sorted((x, y) for x, y, _ in members), ACCENT)
    for x, y, member in members:
        title = (
            f"front: {json.dumps(member.action, default=str)}\n{mx} {fmt(x)}, {my} {fmt(y)} "
            f"(mean of {member.count}, first step {member.first_step})"
        )
        plot.diamond(x, y, ACCENT, title, r=5)
    if not points:
        plot.text(_mid(plot.x), _mid(plot.y), "no scored trial")
    return plot.render("Pareto front")


def _mid(scale: Any) -> float:
    if isinstance(scale, CategoryScale):
        return (len(scale.labels) - 1) / 2
    if isinstance(scale, LogScale):
        return (scale.lo * scale.hi) ** 0.5
    return (scale.lo + scale.hi) / 2


def _short(value: Any) -> str:
    if isinstance(value, float):
        return fmt(value)
    if isinstance(value, Mapping):
        return json.dumps(dict(value), default=str)
    return str(value)
