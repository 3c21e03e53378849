"""pass@k, majority@k and their spread across runs, as NeMo Gym 0.7.0 reports them.

:func:`pass_majority_metrics` gives the same names and values as NeMo Gym's
``compute_pass_majority_metrics`` (the helper its mcqa server uses) for tasks grouped as
``tasks[i] = [rollout, ...]``, in time linear in the number of rollouts (NeMo Gym's own
loops are quadratic in the repeats per task). Names, for each score ``name`` and each ``k``
from 1 to the largest number of rollouts of a task:

- ``pass@{k}/{name}``: over tasks with at least ``k`` scored rollouts, the unbiased
  ``1 - C(n - c, k) / C(n, k)`` for 0/1 scores, else the best of the first ``k``;
- ``pass@1[avg-of-{k}]/{name}``: the mean score of each task's first ``k`` rollouts;
- ``majority@{k}/{name}`` (with ``answer_key``): the score of the most common
  ``(answer, score)`` among the first ``k`` answered rollouts (ties averaged; 0 when none);
- with ``answer_key``, ``no_answer`` (1 when the answer is ``None``) is one more score;
- ``per_sample_aggregate``: ``{name: [mean score of the i-th rollouts, ...]}``;
- ``pass@1[avg-of-{k}]/{name}/std_dev_across_runs`` and ``.../std_err_across_runs`` for
  ``k >= 2``: the spread of the first ``k`` entries of ``per_sample_aggregate``.

All values except the spreads' inputs are percentages (0-100), as in NeMo Gym.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

ScoreFn = Callable[[Mapping[str, Any]], Mapping[str, Any]]

STD_DEV_ACROSS_RUNS = "/std_dev_across_runs"
STD_ERR_ACROSS_RUNS = "/std_err_across_runs"
AVG_SAMPLE_STD_DEV = "/avg_sample_std_dev"
_SPREAD_SUFFIXES = ("std_dev_across_runs", "std_err_across_runs", "avg_sample_std_dev")


def _reward_score(rollout: Mapping[str, Any]) -> Mapping[str, Any]:
    return {"accuracy": rollout["reward"]}


def _hashable(value: Any) -> Any:
    try:
        hash(value)
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str)
    return value


class _Sums:
    """Per-k accumulators: ``add(k, v)`` for k in a range, plus values that hold from k on."""

    def __init__(self, size: int) -> None:
        self.total = [0.0] * (size + 2)
        self.count = [0] * (size + 2)
        self.from_total = [0.0] * (size + 2)
        self.from_count = [0] * (size + 2)

    def add(self, k: int, value: float) -> None:
        self.total[k] += value
        self.count[k] += 1

    def hold_from(self, k: int, value: float) -> None:
        """``value`` counts for every k' >= k (a task whose rollouts ran out before k')."""
        if k < len(self.from_total):
            self.from_total[k] += value
            self.from_count[k] += 1

    def means(self, max_k: int) -> Iterable[tuple[int, float | None]]:
        held_total, held_count = 0.0, 0
        for k in range(1, max_k + 1):
            held_total += self.from_total[k]
            held_count += self.from_count[k]
            count = self.count[k] + held_count
            yield k, (self.total[k] + held_total) / count if count else None


def pass_majority_metrics(
    tasks: Sequence[Sequence[Mapping[str, Any]]],
    score_fn: ScoreFn | None = None,
    answer_key: str | None = None,
) -> dict[str, Any]:
    """The metrics named in the module docstring (``{}`` for no tasks)."""
    if not tasks:
        return {}
    score_fn = score_fn or _reward_score
    scores: list[list[dict[str, float]]] = []
    answers: list[list[Any]] = []
    for rollouts in tasks:
        task_scores, task_answers = [], []
        for rollout in rollouts:
            row = {k: int(v) if isinstance(v, bool) else v for k, v in score_fn(rollout).items()}
            if answer_key is not None:
                answer = rollout.get(answer_key)
                task_answers.append(answer)
                row["no_answer"] = 1 if answer is None else 0
            task_scores.append(row)
        scores.append(task_scores)
        answers.append(task_answers)
    names = sorted({name for task in scores for row in task for name in row})
    max_k = max(len(task) for task in scores)

    passes = {name: _Sums(max_k) for name in names}
    averages = {name: _Sums(max_k) for name in names}
    majorities = {name: _Sums(max_k) for name in names}
    per_run: dict[str, list[list[float]]] = {
        name: [[0.0, 0] for _ in range(max_k)] for name in names
    }
    for task_scores, task_answers in zip(scores, answers, strict=True):
        for name in names:
            _pass_at_k(passes[name], [row[name] for row in task_scores if name in row])
            _avg_of_k(averages[name], [row.get(name) for row in task_scores])
            if answer_key is not None:
                _majority_at_k(majorities[name], task_scores, task_answers, name)
            for index, row in enumerate(task_scores):
                if name in row:
                    per_run[name][index][0] += row[name]
                    per_run[name][index][1] += 1

    metrics: dict[str, Any] = {}
    columns = {name: dict(passes[name].means(max_k)) for name in names}
    avg_columns = {name: dict(averages[name].means(max_k)) for name in names}
    majority_columns = {name: dict(majorities[name].means(max_k)) for name in names}
    for k in range(1, max_k + 1):
        for name in names:
            if (value := columns[name][k]) is not None:
                metrics[f"pass@{k}/{name}"] = 100.0 * value
            if (value := avg_columns[name][k]) is not None:
                metrics[f"pass@1[avg-of-{k}]/{name}"] = 100.0 * value
            if answer_key is not None and (value := majority_columns[name][k]) is not None:
                metrics[f"majority@{k}/{name}"] = 100.0 * value

    per_sample = {
        name: [100.0 * total / count for total, count in per_run[name] if count] for name in names
    }
    per_sample = {name: values for name, values in per_sample.items() if values}
    metrics["per_sample_aggregate"] = per_sample
    if max_k > 1:
        for name in names:
            for k, (std_dev, std_err) in _prefix_spreads(per_sample.get(name, []), max_k):
                metrics[f"pass@1[avg-of-{k}]/{name}{STD_DEV_ACROSS_RUNS}"] = std_dev
                metrics[f"pass@1[avg-of-{k}]/{name}{STD_ERR_ACROSS_RUNS}"] = std_err
    return metrics


def _pass_at_k(sums: _Sums, values: list[float]) -> None:
    """Add this task's pass@k for every k up to its number of scored rollouts."""
    n = len(values)
    if all(v in (0, 1) for v in values):
        failures = sum(1 for v in values if not v)
        ratio = 1.0  # C(failures, k) / C(n, k), updated from k - 1
        for k in range(1, n + 1):
            ratio = ratio * (failures - k + 1) / (n - k + 1) if failures >= k else 0.0
            sums.add(k, 1.0 - ratio)
        return
    best = -math.inf
    for k, value in enumerate(values, 1):
        best = max(best, value)
        sums.add(k, best)


def _avg_of_k(sums: _Sums, values: list[float | None]) -> None:
    """Add the mean of the present scores among the first k rollouts, for every k."""
    total, count = 0.0, 0
    for k, value in enumerate(values, 1):
        if value is not None:
            total += value
            count += 1
        if count:
            sums.add(k, total / count)
    if count:
        sums.hold_from(len(values) + 1, total / count)


def _majority_at_k(
    sums: _Sums,
    task_scores: list[dict[str, float]],
    task_answers: list[Any],
    name: str,
) -> None:
    """Add the majority vote's score among the first k answered rollouts, for every k."""
    counts: dict[tuple[Any, Any], int] = {}
    best, tied_total, tied_count = 0, 0.0, 0
    for k, (answer, row) in enumerate(zip(task_answers, task_scores, strict=True), 1):
        if answer is not None and name in row:
            pair = (_hashable(answer), row[name])
            count = counts[pair] = counts.get(pair, 0) + 1
            if count > best:
                best, tied_total, tied_count = count, float(row[name]), 1
            elif count == best:
                tied_total += row[name]
                tied_count += 1
        sums.add(k, tied_total / tied_count if tied_count else 0.0)
    sums.hold_from(len(task_scores) + 1, tied_total / tied_count if tied_count else 0.0)


def _prefix_spreads(values: list[float], max_k: int) -> Iterable[tuple[int, tuple[float, float]]]:
    """Sample std and std error of ``values[:k]`` for k = 2..max_k (Welford, one pass)."""
    mean, m2, n = 0.0, 0.0, 0
    spread: tuple[float, float] | None = None
    for k in range(1, max_k + 1):
        if k <= len(values):
            n += 1
            delta = values[k - 1] - mean
            mean += delta / n
            m2 += delta * (values[k - 1] - mean)
            if n >= 2:
                std = math.sqrt(max(m2, 0.0) / (n - 1))
                spread = (std, std / math.sqrt(n))
        if k >= 2 and spread is not None:
            yield k, spread


def highest_k_metrics(
    agent_metrics: Mapping[str, Any],
    pattern: str,
    score_names: Sequence[str] | None = None,
    exclude_names: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The entries of ``pattern`` (``{k}`` marks k, e.g. ``"pass@{k}"``) at the highest k.

    Spread entries (``.../std_dev_across_runs`` ...) never count; ``score_names`` keeps
    only those score names, ``exclude_names`` drops some.
    """
    regex = re.compile("^" + re.escape(pattern).replace(r"\{k\}", r"(\d+)") + "/(.+)$")
    found: list[tuple[int, str]] = []
    for key in agent_metrics:
        match = regex.match(key)
        if not match:
            continue
        name = match.group(2)
        if name.endswith(_SPREAD_SUFFIXES):
            continue
        if score_names is not None and name not in score_names:
            continue
        if exclude_names is not None and name in exclude_names:
            continue
        found.append((int(match.group(1)), key))
    if not found:
        return {}
    top = max(k for k, _ in found)
    return {key: agent_metrics[key] for k, key in found if k == top}
