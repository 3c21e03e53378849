"""``/aggregate_metrics``: NeMo Gym 0.7.0's aggregate shape, in linear time.

Input is a list of verify responses (objects with a finite numeric ``reward``). The answer
has NeMo Gym's five parts, with its names:

- ``agent_metrics``: ``mean/ max/ min/ median/ std/`` of every numeric top-level field
  (booleans count as 0/1; fields starting with ``_`` do not count) and of the token counts in
  ``response.usage``; when more than one rollout index occurs, the spread of each
  ``mean/<field>`` across rollout indices (``mean_across_repeats/mean/reward``,
  ``se_across_repeats/...``, ``ci_low_95_across_repeats/...``, ``ci_high_95_across_repeats/...``
  and median/std/min/max); the harness's own metrics (:meth:`GymHarness.compute_metrics`,
  e.g. ``pass@1/accuracy``); ``num_repeats``; and, when samples were masked, the
  ``coverage/...`` counts.
- ``key_metrics``: the harness's headline subset (:meth:`GymHarness.key_metrics`).
- ``group_level_metrics``: per task, the same statistics plus ``num_rollouts`` and
  ``rollout_infos`` (each rollout's numeric fields).
- ``repeat_level_metrics``: per rollout index (when more than one occurs), mean, median,
  std, sem, min, max, p25, p75 and the 95% t-interval of each field, ``sample_count``
  and ``missing_count``.
- ``perf_summary``: token and latency statistics of the rollouts' ``ng_perf`` objects, or
  ``null`` when none has one.

Samples with a truthy ``mask_sample`` are counted (``coverage/...``) but left out of every
statistic. A task is identified by ``_ng_task_index`` (NeMo Gym's collector sets it) or,
without one, by the canonical JSON of ``responses_create_params``; the rollout index is
``_ng_rollout_index``, or the sample's position within its task. NeMo Gym itself refuses
(500) responses whose indices repeat or are missing; here they are simply more samples.

A statistic that does not fit in a float (rewards or ``ng_perf`` token counts near 1e308)
is left out rather than reported as infinite. Every step is linear in the number of
responses (medians sort).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from tunegym.harness.payload import PayloadError

TASK_INDEX_KEY = "_ng_task_index"
ROLLOUT_INDEX_KEY = "_ng_rollout_index"
ATTEMPT_INDEX_KEY = "_ng_attempt_index"
MASK_KEY = "mask_sample"
AGENT_REF = {"name": "agent"}

ComputeMetrics = Callable[[list[list[dict[str, Any]]]], dict[str, Any]]
KeyMetrics = Callable[[dict[str, Any]], dict[str, Any]]

# What NeMo Gym's ``is_primary_metric`` lets into the across-repeats spread.
_NOT_PRIMARY_NAMES = frozenset(
    {
        TASK_INDEX_KEY,
        ROLLOUT_INDEX_KEY,
        ATTEMPT_INDEX_KEY,
        "sample_count",
        "missing_count",
        "num_repeats",
        "token_usage_version",
    }
)
_NOT_PRIMARY_PREFIXES = tuple(
    f"{s}/"
    for s in (
        *("max", "min", "median", "std", "sem", "se"),
        *("p25", "p75", "ci_low_95", "ci_high_95", "histogram"),
    )
)
_NOT_PRIMARY_SUFFIXES = (
    "/max",
    "/min",
    "/median",
    "/p5",
    "/p25",
    "/p75",
    "/p95",
    "/ci_low_95",
    "/ci_high_95",
    "/ci_lower",
    "/ci_upper",
    "_ci_lower",
    "_ci_upper",
    "_ci95_lower",
    "_ci95_upper",
    f"/{ATTEMPT_INDEX_KEY}",
    "/std_dev_across_runs",
    "/std_err_across_runs",
    "/avg_sample_std_dev",
)
_ACROSS = "_across_repeats/"


# -- request validation ----------------------------------------------------------------
def validate_verify_responses(body: Any) -> list[dict[str, Any]]:
    """Check an aggregate request body; raises :class:`PayloadError` naming the bad field."""
    if not isinstance(body, dict):
        raise PayloadError((), "expected a JSON object")
    responses = body.get("verify_responses")
    if responses is None:
        raise PayloadError(("verify_responses",), "field required", kind="missing")
    if not isinstance(responses, list):
        raise PayloadError(("verify_responses",), "expected an array")
    for i, item in enumerate(responses):
        if not isinstance(item, dict):
            raise PayloadError(("verify_responses", i), "expected an object")
        reward = item.get("reward")
        if reward is None:
            raise PayloadError(("verify_responses", i, "reward"), "field required", "missing")
        if isinstance(reward, bool) or as_float(reward) is None:
            raise PayloadError(("verify_responses", i, "reward"), "expected a finite number")
    return responses


def as_float(value: Any) -> float | None:
    """``value`` as a finite float (booleans as 0/1), or ``None`` (not a number, too big)."""
    if isinstance(value, bool):
        return float(value)
    if not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond 1e308
        return None
    return number if math.isfinite(number) else None


# -- statistics --------------------------------------------------------------------------
def _mean(values: Sequence[float]) -> float | None:
    try:
        result = math.fsum(values) / len(values)
    except OverflowError:  # the sum leaves float range; the mean may not
        result = math.fsum(v / len(values) for v in values)
    return result if math.isfinite(result) else None


def _total(values: Sequence[float]) -> float | None:
    """The exact sum, or ``None`` when it leaves float range."""
    try:
        return math.fsum(values)
    except OverflowError:  # finite values whose sum passes 1e308
        return None


def _std(values: Sequence[float], mean: float | None, ddof: int = 1) -> float | None:
    """Standard deviation over ``n - ddof`` (sample by default, population with
    ``ddof=0``), or ``None`` for ``ddof`` values or fewer."""
    n = len(values)
    if n <= ddof or mean is None:
        return None
    try:
        result = math.sqrt(math.fsum((v - mean) * (v - mean) for v in values) / (n - ddof))
    except OverflowError:
        result = math.inf
    if not math.isfinite(result):  # scale down, then back up
        scale = max(abs(v) for v in values)
        scaled_mean = mean / scale
        spread = math.fsum((v / scale - scaled_mean) ** 2 for v in values) / (n - ddof)
        result = math.sqrt(spread) * scale
    return result if math.isfinite(result) else None


def _quantile(ordered: Sequence[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (pandas' and numpy's default)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@lru_cache(maxsize=4096)
def _t_quantile(df: int) -> float:
    from scipy import stats  # type: ignore[import-untyped]  # only when repeats need it

    return float(stats.t.ppf(0.975, df))


def _interval(mean: float, error: float, n: int) -> tuple[float, float] | None:
    """The 95% t-interval ``mean +- t * error`` (``None`` for n <= 1)."""
    if n <= 1:
        return None
    if error == 0:
        return mean, mean
    half = _t_quantile(n - 1) * error
    low, high = mean - half, mean + half
    return (low, high) if math.isfinite(low) and math.isfinite(high) else None


def _put(out: dict[str, Any], key: str, value: float | None) -> None:
    if value is not None and math.isfinite(value):
        out[key] = value


def numeric_fields(sample: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of a verify response NeMo Gym aggregates: top level, then usage over it."""
    out: dict[str, float] = {}
    response = sample.get("response")
    usage = response.get("usage") if isinstance(response, Mapping) else None
    sources = [sample, usage] if isinstance(usage, Mapping) else [sample]
    for source in sources:
        for key, value in source.items():
            if not isinstance(key, str) or key.startswith("_") or key == MASK_KEY:
                continue
            number = as_float(value)
            if number is not None:
                out[key] = number
            elif source is usage:
                out.pop(key, None)
    return out


def describe(rows: Sequence[Mapping[str, float]], columns: Iterable[str]) -> dict[str, float]:
    """``mean/ max/ min/ median/ std/<column>`` over the rows that have the column.

    As NeMo Gym's profiler (pandas) does: a column no row has is left out; std needs two
    values, except that when no column has two, a column every row has gets std 0.
    """
    stats: dict[str, dict[str, float | None]] = {}
    all_lack_std = True
    complete: set[str] = set()
    for column in columns:
        values = [row[column] for row in rows if column in row]
        if not values:
            continue
        mean = _mean(values)
        ordered = sorted(values)
        middle = len(ordered) // 2
        median = (
            ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
        )
        std = _std(values, mean)
        if len(values) >= 2:
            all_lack_std = False
        if len(values) == len(rows):
            complete.add(column)
        stats[column] = {
            "mean": mean,
            "max": ordered[-1],
            "min": ordered[0],
            "median": median if math.isfinite(median) else _mean(ordered[middle - 1 : middle + 1]),
            "std": std,
        }
    out: dict[str, float] = {}
    for name in ("mean", "max", "min", "median", "std"):
        for column, column_stats in stats.items():
            value = column_stats[name]
            if name == "std" and value is None and all_lack_std and column in complete:
                value = 0.0
            _put(out, f"{name}/{column}", value)
    return out


def _spread(values: Sequence[float], prefix: Callable[[str], str], column: str) -> dict[str, float]:
    """Mean, median, std, min, max, standard error and 95% interval of one column."""
    n = len(values)
    mean = _mean(values)
    std = _std(values, mean) if n > 1 else 0.0
    ordered = sorted(values)
    out: dict[str, float] = {}
    _put(out, prefix("mean") + column, mean)
    _put(out, prefix("median") + column, _quantile(ordered, 0.5))
    _put(out, prefix("std") + column, std)
    error = std / math.sqrt(n) if std is not None else None
    out["_error"] = error if error is not None else math.nan
    _put(out, prefix("min") + column, ordered[0])
    _put(out, prefix("max") + column, ordered[-1])
    out["_p25"], out["_p75"] = _quantile(ordered, 0.25), _quantile(ordered, 0.75)
    if mean is not None and error is not None and (ci := _interval(mean, error, n)):
        out[prefix("ci_low_95") + column], out[prefix("ci_high_95") + column] = ci
    return out


def _repeat_entry(rollout_index: Any, samples: list[dict[str, float]], columns: list[str]):
    entry: dict[str, Any] = {ROLLOUT_INDEX_KEY: rollout_index}
    for column in columns:
        values = [row[column] for row in samples if column in row]
        if not values:
            continue
        stats = _spread(values, lambda stat: f"{stat}/", column)
        error, p25, p75 = stats.pop("_error"), stats.pop("_p25"), stats.pop("_p75")
        _put(stats, f"sem/{column}", error)
        _put(stats, f"p25/{column}", p25)
        _put(stats, f"p75/{column}", p75)
        entry.update(stats)
    return entry


def _across_repeats(repeat_entries: list[dict[str, Any]]) -> dict[str, float]:
    """NeMo Gym's spread of each per-repeat ``mean/...`` estimate across the repeats."""
    columns: dict[str, None] = {}  # in first-seen order; a dict, so each test is O(1)
    for entry in repeat_entries:
        columns.update((k, None) for k in entry if k not in columns and is_primary_metric(k))
    out: dict[str, float] = {}
    for column in columns:
        values = [e[column] for e in repeat_entries if isinstance(e.get(column), int | float)]
        if not values:
            continue
        stats = _spread(values, lambda stat: f"{stat}{_ACROSS}", column)
        error = stats.pop("_error")
        stats.pop("_p25"), stats.pop("_p75")
        _put(stats, f"se{_ACROSS}{column}", error)
        out.update(stats)
    return out


def is_primary_metric(name: Any) -> bool:
    """Whether NeMo Gym treats ``name`` as a point estimate (aggregated across repeats)."""
    return (
        isinstance(name, str)
        and name not in _NOT_PRIMARY_NAMES
        and not name.startswith(_NOT_PRIMARY_PREFIXES)
        and not name.endswith(_NOT_PRIMARY_SUFFIXES)
        and _ACROSS not in name
    )


# -- grouping --------------------------------------------------------------------------
def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _sort_key(value: Any) -> tuple[int, Any]:
    if isinstance(value, bool):
        return (1, str(value))
    if isinstance(value, int | float):
        return (0, value)
    return (1, _canonical(value))


def _task_keys(samples: Sequence[Mapping[str, Any]]) -> list[tuple[str, Any]]:
    keys = []
    for sample in samples:
        if TASK_INDEX_KEY in sample:
            keys.append(("index", _canonical(sample[TASK_INDEX_KEY])))
        else:
            keys.append(("prompt", _canonical(sample.get("responses_create_params"))))
    return keys


def _rollout_indices(samples: Sequence[Mapping[str, Any]], keys: list[Any]) -> list[Any]:
    seen: dict[Any, int] = {}
    out = []
    for sample, key in zip(samples, keys, strict=True):
        position = seen.get(key, 0)
        seen[key] = position + 1
        out.append(sample.get(ROLLOUT_INDEX_KEY, position))
    return out


def _rollout_info(sample: Mapping[str, Any], task: Any, rollout: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "rollout_id": f"{task}:{rollout}",
        TASK_INDEX_KEY: task,
        ROLLOUT_INDEX_KEY: rollout,
    }
    if "reward" in sample:
        info["reward"] = sample["reward"]
    response = sample.get("response")
    usage = response.get("usage") if isinstance(response, Mapping) else None
    for source in (usage, sample) if isinstance(usage, Mapping) else (sample,):
        for key, value in source.items():
            if source is sample and (
                not isinstance(key, str) or key.startswith("_") or key in ("reward", "response")
            ):
                continue
            if key == MASK_KEY:
                continue
            if isinstance(value, bool):
                info[key] = int(value)
            elif as_float(value) is not None:
                info[key] = value
    return info


def perf_summary(records: list[dict[str, Any]], total_rollouts: int) -> dict[str, Any] | None:
    """NeMo Gym's ``perf_summary`` over the rollouts' ``ng_perf`` objects (``None`` if none)."""
    if total_rollouts <= 0 or not records:
        return None

    def values(key: str) -> list[float]:
        return [v for r in records if (v := as_float(r.get(key))) is not None]

    def stat(items: list[float], name: str) -> float | None:
        ordered = sorted(items)
        if name == "mean":
            return _mean(items)
        if name == "median":
            return _quantile(ordered, 0.5)
        if name == "total":
            return _total(items)
        if name == "std":  # population std, as NeMo Gym's perf summary uses
            return _std(items, _mean(items), ddof=0)
        if name == "min":
            return ordered[0]
        if name == "max":
            return ordered[-1]
        return _quantile(ordered, int(name[1:]) / 100)

    covered = sum(1 for r in records if (as_float(r.get("token_observability_coverage")) or 0) > 0)
    out: dict[str, Any] = {
        "overall_observability_coverage": len(records) / total_rollouts,
        "token_observability_coverage": covered / total_rollouts,
    }
    for field in ("prompt_tokens", "cached_prompt_tokens", "completion_tokens", "reasoning_tokens"):
        if items := values(field):
            for name in ("mean", "median", "total"):
                _put(out, f"{name}_{field}", stat(items, name))
    if turns := values("num_turns"):
        for name in ("mean", "median", "std", "min", "p90", "max"):
            _put(out, f"{name}_num_turns", stat(turns, name))
    per_turn = [
        c / t
        for r in records
        if (c := as_float(r.get("completion_tokens"))) is not None
        and (t := as_float(r.get("num_turns"))) is not None
        and t > 0
    ]
    if per_turn:
        _put(out, "mean_tokens_per_turn", stat(per_turn, "mean"))
        _put(out, "median_tokens_per_turn", stat(per_turn, "median"))
    if latency := values("total_latency_ms"):
        for name in ("p50", "p90", "p99", "mean"):
            _put(out, f"total_latency_{name}_ms", stat(latency, name))
    return out


# -- the whole answer ------------------------------------------------------------------
def _finite_entries(metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` without the float entries that overflowed (see the module docstring)."""
    return {k: v for k, v in metrics.items() if not isinstance(v, float) or math.isfinite(v)}


def default_key_metrics(agent_metrics: dict[str, Any]) -> dict[str, Any]:
    """NeMo Gym's default headline set: every ``mean/...`` entry."""
    return {k: v for k, v in agent_metrics.items() if k.startswith("mean/")}


def aggregate_metrics(
    verify_responses: list[dict[str, Any]],
    compute_metrics: ComputeMetrics | None = None,
    key_metrics: KeyMetrics | None = None,
) -> dict[str, Any]:
    """Aggregate validated verify responses (see the module docstring for the shape).

    ``compute_metrics`` receives the scored responses grouped by task (tasks in index
    order, rollouts in request order) and returns entries merged into ``agent_metrics``
    (a ``per_task_metrics`` list, keyed by ``_ng_task_index``, is merged into the groups);
    ``key_metrics`` picks the headline entries (default: every ``mean/...``).
    """
    out: dict[str, Any] = {
        "group_level_metrics": [],
        "agent_metrics": {},
        "key_metrics": {},
        "perf_summary": None,
        "repeat_level_metrics": [],
    }
    if not verify_responses:
        return out
    all_keys = _task_keys(verify_responses)
    all_rollouts = _rollout_indices(verify_responses, all_keys)
    scored_at = [i for i, s in enumerate(verify_responses) if not s.get(MASK_KEY)]
    coverage: dict[str, Any] = {}
    if len(scored_at) < len(verify_responses):
        measured_tasks = {all_keys[i] for i in scored_at}
        coverage = {
            "coverage/measured_rollouts": len(scored_at),
            "coverage/masked_rollouts": len(verify_responses) - len(scored_at),
            "coverage/measured_tasks": len(measured_tasks),
            "coverage/fully_masked_tasks": len(set(all_keys) - measured_tasks),
        }
    out["perf_summary"] = perf_summary(
        [s["ng_perf"] for s in verify_responses if isinstance(s.get("ng_perf"), dict)],
        len(verify_responses),
    )
    if not scored_at:
        out["agent_metrics"], out["key_metrics"] = dict(coverage), dict(coverage)
        return out

    scored = [verify_responses[i] for i in scored_at]
    keys = [all_keys[i] for i in scored_at]
    rollouts = [all_rollouts[i] for i in scored_at]
    numbers = [numeric_fields(sample) for sample in scored]
    columns: list[str] = []
    seen_columns: set[str] = set()
    for row in numbers:
        for column in row:
            if column not in seen_columns:
                seen_columns.add(column)
                columns.append(column)

    # Tasks: NeMo Gym's index where given; otherwise numbered in order of appearance.
    members: dict[Any, list[int]] = {}
    for position, key in enumerate(keys):
        members.setdefault(key, []).append(position)
    labels: dict[Any, Any] = {}
    for ordinal, (key, positions) in enumerate(members.items()):
        first = scored[positions[0]]
        labels[key] = first.get(TASK_INDEX_KEY, ordinal)
    ordered_tasks = sorted(members, key=lambda key: _sort_key(labels[key]))

    groups = []
    for key in ordered_tasks:
        positions = members[key]
        entry: dict[str, Any] = {TASK_INDEX_KEY: labels[key]}
        entry.update(describe([numbers[p] for p in positions], columns))
        entry.update(
            sample={"agent_ref": dict(AGENT_REF)},
            num_rollouts=len(positions),
            expected_num_rollouts=len(positions),
            missing_num_rollouts=0,
            reward_profile_completion_pct=100.0,
            rollout_infos=sorted(
                (_rollout_info(scored[p], labels[key], rollouts[p]) for p in positions),
                key=lambda info: _sort_key(info[ROLLOUT_INDEX_KEY]),
            ),
        )
        groups.append(entry)

    agent = describe(numbers, columns)
    repeats: list[dict[str, Any]] = []
    by_repeat: dict[str, tuple[Any, list[int]]] = {}
    for position, index in enumerate(rollouts):
        by_repeat.setdefault(_canonical(index), (index, []))[1].append(position)
    if len(by_repeat) > 1:
        total_tasks = len(members)
        for index, positions in sorted(by_repeat.values(), key=lambda item: _sort_key(item[0])):
            present = len({keys[p] for p in positions})
            entry = _repeat_entry(index, [numbers[p] for p in positions], columns)
            entry = {
                ROLLOUT_INDEX_KEY: index,
                "sample_count": present,
                "missing_count": total_tasks - present,
                **{k: v for k, v in entry.items() if k != ROLLOUT_INDEX_KEY},
            }
            repeats.append(entry)
        agent.update(_across_repeats(repeats))
    agent.update(coverage)

    if compute_metrics is not None:
        tasks = [[scored[p] for p in members[key]] for key in ordered_tasks]
        custom = dict(compute_metrics(tasks))
        per_task = custom.pop("per_task_metrics", None)
        if per_task:
            by_index = {_canonical(m.get(TASK_INDEX_KEY)): m for m in per_task}
            for group in groups:
                extra = by_index.get(_canonical(group[TASK_INDEX_KEY]))
                if extra:
                    group.update({k: v for k, v in extra.items() if k != TASK_INDEX_KEY})
        agent.update(custom)
    agent["num_repeats"] = len({_canonical(index) for index in all_rollouts})

    agent = _finite_entries(agent)
    headline = _finite_entries((key_metrics or default_key_metrics)(agent))
    headline.update(coverage)
    out.update(
        group_level_metrics=groups,
        agent_metrics=agent,
        key_metrics=headline,
        repeat_level_metrics=repeats,
    )
    return out
