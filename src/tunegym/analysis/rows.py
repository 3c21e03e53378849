"""What the reports compute from trial rows: pure functions, no I/O.

Only *scored* rows (status ``ok`` or ``cached``, with a finite reward) count towards
means, bests and fronts; penalty rewards of failed trials would otherwise swamp every
statistic. Every function takes the rows of one job iteration, in step order.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from tunegym.analysis.best import is_scored
from tunegym.spec.models import ContinuousParam, WorkloadSpec
from tunegym.trial.store import SCORED_STATUSES, TrialRow

Direction = Literal["max", "min"]


def scored(rows: Iterable[TrialRow]) -> list[TrialRow]:
    return [row for row in rows if is_scored(row)]


def best_so_far(rows: Sequence[TrialRow]) -> list[tuple[int, float]]:
    """``(step, best reward up to and including step)`` from the first scored row on."""
    out: list[tuple[int, float]] = []
    best: float | None = None
    for row in rows:
        if is_scored(row):
            reward = float(row.reward)  # type: ignore[arg-type]
            best = reward if best is None else max(best, reward)
        if best is not None:
            out.append((row.step, best))
    return out


def top_rows(rows: Sequence[TrialRow], n: int = 10) -> list[TrialRow]:
    """The ``n`` best scored rows, highest reward first; ties go to the earlier step."""
    return sorted(scored(rows), key=lambda r: (-float(r.reward), r.step))[:n]  # type: ignore[arg-type]


def failures(rows: Sequence[TrialRow]) -> list[TrialRow]:
    """Rows that did not produce a usable measurement, in step order; a pruned trial is
    not one (the pruner chose to stop it)."""
    return [row for row in rows if row.status not in SCORED_STATUSES and row.status != "pruned"]


# -- groups --------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupStat:
    """Rewards of the scored rows sharing one value; ``total`` counts every row."""

    value: Any
    rewards: tuple[float, ...]
    total: int

    @property
    def n(self) -> int:
        return len(self.rewards)

    @property
    def mean(self) -> float | None:
        return statistics.fmean(self.rewards) if self.rewards else None

    @property
    def std(self) -> float:
        return statistics.pstdev(self.rewards) if len(self.rewards) > 1 else 0.0


def group_by_value(
    rows: Sequence[TrialRow],
    name: str,
    source: Literal["action", "env_params"] = "action",
    order: Sequence[Any] = (),
) -> list[GroupStat]:
    """One :class:`GroupStat` per value of ``name``; ``order`` first, then as seen."""
    keys: dict[str, Any] = {}
    for value in order:
        keys.setdefault(value_key(value), value)
    rewards: dict[str, list[float]] = {}
    totals: dict[str, int] = {}
    for row in rows:
        table = row.action if source == "action" else row.env_params
        if name not in table:
            continue
        key = value_key(table[name])
        keys.setdefault(key, table[name])
        totals[key] = totals.get(key, 0) + 1
        if is_scored(row):
            rewards.setdefault(key, []).append(float(row.reward))  # type: ignore[arg-type]
    return [
        GroupStat(value, tuple(rewards.get(key, ())), totals.get(key, 0))
        for key, value in keys.items()
    ]


def value_key(value: Any) -> str:
    """A hashable key under which ``1`` and ``1.0`` are the same value (bools stay bools)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return json.dumps(value, sort_keys=True, default=str)
    return repr(float(value))


# -- dimensions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Dimension:
    """How the report plots one action key: by category, or against a numeric axis."""

    name: str
    kind: Literal["categorical", "continuous"]
    values: tuple[Any, ...] = ()
    log: bool = False


def dimensions(workload: WorkloadSpec | None, rows: Sequence[TrialRow]) -> list[Dimension]:
    """The action keys of a job, typed from the workload where it declares them.

    Keys that only appear in rows (a live server's own action space) are continuous when
    every value is a number and there are more than eight distinct ones, else categorical.
    """
    declared: dict[str, Any] = {}
    if workload is not None:
        declared = {**workload.env, **workload.params}
    names: list[str] = []
    for row in rows:
        for key in row.action:
            if key not in names:
                names.append(key)
    out: list[Dimension] = []
    for name in names:
        spec = declared.get(name)
        if isinstance(spec, ContinuousParam):
            out.append(Dimension(name, "continuous", log=spec.log))
        elif isinstance(spec, list):
            out.append(Dimension(name, "categorical", tuple(spec)))
        else:
            values = [row.action[name] for row in rows if name in row.action]
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
            distinct = {value_key(v) for v in values}
            wide = numeric and len(distinct) > 8
            out.append(Dimension(name, "continuous" if wide else "categorical"))
    return out


def env_param_values(workload: WorkloadSpec | None, rows: Sequence[TrialRow]) -> dict[str, list]:
    """Env param names with their declared candidates (or the values seen in rows)."""
    out: dict[str, list[Any]] = {}
    if workload is not None:
        tables = {**workload.env, **workload.params}
        for name in workload.env_params:
            value = tables.get(name)
            out[name] = list(value) if isinstance(value, list) else []
    for row in rows:
        for name, value in row.env_params.items():
            seen = out.setdefault(name, [])
            if all(value_key(v) != value_key(value) for v in seen):
                seen.append(value)
    return out


# -- several objectives --------------------------------------------------------------------
def objectives(workload: WorkloadSpec | None) -> list[tuple[str, Direction]]:
    """``[(metric, "max"|"min"), ...]`` when the job declares two or more objectives."""
    if workload is None:
        return []
    agent = workload.agent
    directions = getattr(agent, "objectives", None)
    if not agent.metrics or not directions or len(agent.metrics) < 2:
        return []
    return list(zip(agent.metrics, directions, strict=False))


def metric_columns(workload: WorkloadSpec | None, rows: Sequence[TrialRow]) -> list[str]:
    """Metric names to show for ``rows``: the agent's metrics first, then the others seen.

    ``duration_s`` is left out unless the agent observes it (tables show the trial's
    duration anyway).
    """
    first = list(workload.agent_metrics) if workload is not None else []
    seen = [k for row in rows for k in row.observation]
    out: list[str] = []
    for name in [*first, *seen]:
        if name not in out and (name != "duration_s" or name in first):
            out.append(name)
    return out
