"""Comparing results: jobs across runs (``tunegym compare``), and a tuned job against the
plain job of the same workload in its scenario (its baseline).

* :func:`compare_runs`: per job, in each run: the best reward, the robust best under env
  params or ``agent.repeats``, how many trials it took to reach the best, and the
  difference in percent from the first run that has the job (of the robust best when
  both runs have one: a lucky single trial is not what a noisy job's best is).
* :func:`baseline_of`: in a scenario with a run-once job and an agent-driven job of the
  same workload file, the tuned job's best against the run-once measurement, on the
  first observed metric (higher is better unless the reward is ``negative`` or
  ``inverse``; an ``expr:`` reward is compared as the reward itself).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunegym.analysis.best import best_row, is_scored
from tunegym.analysis.results import measured_repeatedly
from tunegym.results.runs import JobTrials, RunTrials
from tunegym.trial.rows import TrialRow
from tunegym.values import is_finite_number


@dataclass(frozen=True)
class JobLine:
    """One job iteration of one run, as ``tunegym compare`` prints it."""

    run: str
    job: str
    agent: str | None
    trials: int
    best: float | None
    robust: float | None
    robust_count: int | None
    trials_to_best: int | None
    change_pct: float | None
    """The difference from the first run's, in percent (``None`` for that run, or without
    one): of the robust best when both have one, else of the best (``change_of``)."""
    change_of: str | None = None
    """What ``change_pct`` compares: ``"robust"`` (the robust best) or ``"best"``."""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def trials_to_best(rows: Sequence[TrialRow]) -> int | None:
    """How many trials were recorded up to and including the best one (``None``: no
    scored trial); ``rows`` in the order they were recorded."""
    best = best_row(rows)
    if best is None:
        return None
    return next(i for i, row in enumerate(rows, 1) if row is best)


def job_line(run_label: str, job: JobTrials) -> JobLine:
    results = job.results
    best = results.best_row
    robust = results.robust_best if measured_repeatedly(job.record.job.workload) else None
    return JobLine(
        run=run_label,
        job=job.label,
        agent=job.record.agent,
        trials=len(job.rows),
        best=None if best is None else best.reward,
        robust=None if robust is None else robust.mean_reward,
        robust_count=None if robust is None else robust.count,
        trials_to_best=trials_to_best(job.rows),
        change_pct=None,
    )


def compare_runs(runs: Sequence[RunTrials]) -> list[JobLine]:
    """Every job of every run, grouped by job in the order the runs first have them; each
    line's ``change_pct`` is its robust best against the first run's robust best of that
    job when both have one (env params or ``agent.repeats``), else its best against the
    first run's best."""
    labels = _run_labels(runs)
    order: list[str] = []
    lines: dict[str, list[JobLine]] = {}
    for run, label in zip(runs, labels, strict=True):
        for job in run.jobs:
            if job.label not in lines:
                order.append(job.label)
                lines[job.label] = []
            lines[job.label].append(job_line(label, job))
    out: list[JobLine] = []
    for name in order:
        first = lines[name][0]
        out.append(first)
        for line in lines[name][1:]:
            out.append(_with_change(line, first))
    return out


def percent_change(value: float | None, base: float | None) -> float | None:
    """``(value - base) / |base|`` in percent (``None`` when either is missing or base 0)."""
    if not (is_finite_number(value) and is_finite_number(base)) or base == 0:
        return None
    return (float(value) - float(base)) / abs(float(base)) * 100.0  # type: ignore[arg-type]


def _with_change(line: JobLine, first: JobLine) -> JobLine:
    """``line`` with its change from ``first``: of the robust best when both have one."""
    robust = line.robust is not None and first.robust is not None
    value, base = (line.robust, first.robust) if robust else (line.best, first.best)
    change = percent_change(value, base)
    of = None if change is None else ("robust" if robust else "best")
    return JobLine(**{**line.__dict__, "change_pct": change, "change_of": of})


def _run_labels(runs: Sequence[RunTrials]) -> list[str]:
    names = [run.run_dir.name for run in runs]
    return [
        n if names.count(n) == 1 else str(run.run_dir) for n, run in zip(names, runs, strict=True)
    ]


# -- the baseline of a tuned job -------------------------------------------------------------
@dataclass(frozen=True)
class Baseline:
    """A tuned job's best against the plain (run-once) job of the same workload."""

    job: str
    """The baseline job's name."""
    metric: str
    """The compared quantity: the first observed metric, or ``reward``."""
    lower_is_better: bool
    baseline: float
    tuned: float
    change_pct: float

    @property
    def improved(self) -> bool:
        return (
            (self.tuned < self.baseline) if self.lower_is_better else (self.tuned > self.baseline)
        )

    def describe(self) -> str:
        """``+38% rows_per_s over the baseline`` (``lower is better`` said when it is)."""
        note = " (lower is better)" if self.lower_is_better else ""
        return f"{self.change_pct:+.0f}% {self.metric} over the baseline {self.job!r}{note}"

    def to_json(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "metric": self.metric,
            "lower_is_better": self.lower_is_better,
            "baseline": self.baseline,
            "tuned": self.tuned,
            "change_pct": self.change_pct,
            "improved": self.improved,
        }


def baseline_of(job: JobTrials, others: Sequence[JobTrials]) -> Baseline | None:
    """``job``'s baseline among ``others`` (the run's other job iterations), if any."""
    if job.record.agent is None:
        return None
    path = job.record.job.workload_path
    plain = next(
        (o for o in others if o.record.agent is None and o.record.job.workload_path == path), None
    )
    if plain is None:
        return None
    base_row = next((r for r in plain.rows if is_scored(r)), None)
    best = job.results.best_row
    if base_row is None or best is None:
        return None
    metric, lower = _compared(job)
    if metric == "reward":
        base, tuned = base_row.reward, best.reward
    else:
        base, tuned = base_row.observation.get(metric), best.observation.get(metric)
    change = percent_change(tuned, base)
    if change is None:
        return None
    return Baseline(plain.name, metric, lower, float(base), float(tuned), change)  # type: ignore[arg-type]


def _compared(job: JobTrials) -> tuple[str, bool]:
    workload = job.record.job.workload
    reward = workload.agent.reward.strip()
    metrics = workload.agent_metrics
    if reward.startswith("expr:") or not metrics:
        return "reward", False
    return metrics[0], reward in ("negative", "inverse")
