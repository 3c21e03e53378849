"""A run folder's results as data: :func:`load_run` gives its jobs and their trials.

Like Optuna's ``study.trials_dataframe()`` and Ray Tune's ``ResultGrid.get_dataframe()``,
every trial becomes one flat record (:meth:`JobTrials.records`): ``job``, ``iteration``,
``step``, ``status``, ``reward``, ``duration_s``, ``error``, ``cached``, ``returncode``,
``started_at``, then one column per param (``params.<name>``), env param
(``env_params.<name>``) and metric (``metrics.<name>``), so names never collide with the
fixed columns. ``.to_pandas()`` needs the ``results`` extra (pandas), imported lazily.

Reading never writes: it is safe on a run that is still going.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunegym.analysis.results import JobResults
from tunegym.errors import TunegymError, UsageError
from tunegym.session.reading import read_run
from tunegym.session.records import JobRecord
from tunegym.trial.rows import TrialRow

FIXED_COLUMNS = (
    "job",
    "iteration",
    "step",
    "status",
    "reward",
    "duration_s",
    "error",
    "cached",
    "returncode",
    "started_at",
)


@dataclass(frozen=True)
class JobTrials:
    """One job iteration of a run: its record (agent, budget, status) and its rows."""

    record: JobRecord
    rows: tuple[TrialRow, ...]

    @property
    def name(self) -> str:
        return self.record.job.name

    @property
    def iteration(self) -> int:
        return self.record.iteration

    @property
    def label(self) -> str:
        """``name``, or ``name#iteration`` for a job run more than once."""
        return self.record.label

    @property
    def results(self) -> JobResults:
        """What the reports derive from the rows (best row, robust best, Pareto front)."""
        return JobResults(self.rows, self.record.job.workload)

    @property
    def best(self) -> TrialRow | None:
        """The trial with the best reward (``best.action``, ``best.reward``,
        ``best.observation``), as ``summary.json`` names it; ``None`` when no trial
        succeeded. A multi-objective job's trade-offs are its Pareto front
        (``results.pareto_front``), as the report shows them."""
        return self.results.best_row

    def columns(self) -> list[str]:
        """Every column of :meth:`records`: the fixed ones, then params, env params and
        metrics in the order they first appear."""
        params: dict[str, None] = {}
        env: dict[str, None] = {}
        metrics: dict[str, None] = {}
        for row in self.rows:
            params.update(dict.fromkeys(row.action))
            env.update(dict.fromkeys(row.env_params))
            metrics.update(dict.fromkeys(row.observation))
        return [
            *FIXED_COLUMNS,
            *(f"params.{n}" for n in params),
            *(f"env_params.{n}" for n in env),
            *(f"metrics.{n}" for n in metrics),
        ]

    def records(self) -> list[dict[str, Any]]:
        """One flat dict per trial, in step order (see the module docstring)."""
        columns = self.columns()
        return [self._record(row, columns) for row in sorted(self.rows, key=lambda r: r.step)]

    def _record(self, row: TrialRow, columns: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = dict.fromkeys(columns)
        out.update(
            job=self.name,
            iteration=self.iteration,
            step=row.step,
            status=str(row.status),
            reward=row.reward,
            duration_s=row.duration_s,
            error=row.error,
            cached=row.cached,
            returncode=row.returncode,
            started_at=row.started_at,
        )
        out.update({f"params.{k}": v for k, v in row.action.items()})
        out.update({f"env_params.{k}": v for k, v in row.env_params.items()})
        out.update({f"metrics.{k}": v for k, v in row.observation.items()})
        return out

    def to_pandas(self) -> Any:
        """The records as a ``pandas.DataFrame`` (one row per trial)."""
        return _data_frame(self.records(), self.columns())


@dataclass(frozen=True)
class RunTrials:
    """A run folder read back: its run info (as ``summary.json`` has it, with the run's
    current state) and every job iteration it started, in run order."""

    run_dir: Path
    info: dict[str, Any]
    jobs: tuple[JobTrials, ...]

    def __iter__(self) -> Iterator[JobTrials]:
        return iter(self.jobs)

    @property
    def status(self) -> str:
        """``ok``, ``agent_failed``, ``interrupted``, ``error``, ``running`` or ``crashed``."""
        return str(self.info.get("status", "running"))

    @property
    def best(self) -> TrialRow | None:
        """The best trial of a run with one job iteration (:attr:`JobTrials.best`); with
        several, ``run.job(NAME).best`` says which (a :class:`UsageError` here)."""
        if len(self.jobs) != 1:
            labels = ", ".join(job.label for job in self.jobs) or "none"
            raise UsageError(
                f"{self.run_dir}: {len(self.jobs)} job iterations ({labels}); "
                "name one: run.job(NAME).best"
            )
        return self.jobs[0].best

    def job(self, name: str, iteration: int = 0) -> JobTrials:
        """The job iteration ``name`` (#``iteration``); ``UsageError`` names the known jobs."""
        for job in self.jobs:
            if job.name == name and job.iteration == iteration:
                return job
        known = ", ".join(sorted({j.label for j in self.jobs})) or "none"
        raise UsageError(f"{self.run_dir}: no job {name!r} #{iteration} (jobs: {known})")

    def iterations(self, name: str | None) -> list[JobTrials]:
        """Every iteration of the job ``name`` (every job's when ``None``); a
        ``UsageError`` names the known jobs when there is no such job."""
        jobs = [job for job in self.jobs if name is None or job.name == name]
        if name is not None and not jobs:
            known = ", ".join(sorted({j.name for j in self.jobs})) or "none"
            raise UsageError(f"{self.run_dir}: no job {name!r} (jobs: {known})")
        return jobs

    def records(self) -> list[dict[str, Any]]:
        """Every job's records, one after the other."""
        return [record for job in self.jobs for record in job.records()]

    def columns(self) -> list[str]:
        seen: dict[str, None] = {}
        for job in self.jobs:
            seen.update(dict.fromkeys(job.columns()))
        return list(seen) or list(FIXED_COLUMNS)

    def to_pandas(self) -> Any:
        """All jobs' trials as one ``pandas.DataFrame`` (``job``/``iteration`` columns)."""
        return _data_frame(self.records(), self.columns())


def load_run(run_dir: str | Path) -> RunTrials:
    """The jobs and trials of the run folder ``run_dir`` (finished, running or crashed)."""
    with read_run(Path(run_dir)) as run:
        jobs = tuple(
            JobTrials(record, tuple(run.db.rows(record.job.name, record.iteration)))
            for record in run.records
        )
        return RunTrials(run.run_dir, dict(run.info), jobs)


def _data_frame(records: list[dict[str, Any]], columns: list[str]) -> Any:
    try:
        import pandas
    except ImportError as exc:
        raise TunegymError(
            f"to_pandas needs pandas (pip install 'tunegym[results]'): {exc}"
        ) from exc
    return pandas.DataFrame.from_records(records, columns=columns)
