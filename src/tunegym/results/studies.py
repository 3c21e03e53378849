"""A job's trials as an Optuna study, so Optuna's tools work on tunegym runs.

:func:`job_study` builds the study of one job iteration (in memory, or in any Optuna
storage such as ``sqlite:///study.db``): one distribution per search dimension, with
the real candidate values (not indices), one trial per row:

* ``ok``/``cached`` rows with a finite value are ``COMPLETE`` with the reward (several
  objectives: the objective metrics, with their directions); other rows are ``FAIL``;
* user attributes: ``step``, ``status``, ``duration_s``, ``cached``, ``error`` and one
  ``env_params.<name>`` per env param;
* start and end times from the row.

``optuna-dashboard sqlite:///study.db`` and ``optuna.visualization`` then open it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

from tunegym.errors import UsageError
from tunegym.results.runs import JobTrials, RunTrials
from tunegym.space import Categorical, SearchSpace
from tunegym.trial.rows import TrialRow
from tunegym.values import is_finite_number


def distributions(job: JobTrials) -> dict[str, Any]:
    """One Optuna distribution per search dimension of ``job`` (a live job's dimensions,
    which its server declares, are taken from the values its rows hold)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    space = SearchSpace.from_workload(job.record.job.workload)
    out: dict[str, Any] = {}
    for name, dim in space.dimensions.items():
        if isinstance(dim, Categorical):
            out[name] = CategoricalDistribution(list(dim.values))
        elif dim.dtype == "int":
            out[name] = IntDistribution(int(dim.low), int(dim.high), log=dim.log)
        else:
            out[name] = FloatDistribution(float(dim.low), float(dim.high), log=dim.log)
    undeclared: dict[str, set[Any]] = {}  # dimensions a live server declares, not the workload
    for row in job.rows:
        for name, value in row.action.items():
            if name not in out and name not in space.fixed:
                undeclared.setdefault(name, set()).add(_choice(value))
    for name, seen in undeclared.items():
        out[name] = CategoricalDistribution(sorted(seen, key=repr))
    return out


def objectives(job: JobTrials) -> tuple[list[str], list[str]]:
    """``(metrics, directions)``: the objective metrics with ``maximize``/``minimize`` for a
    multi-objective job, else ``([], ["maximize"])`` (the reward is maximised)."""
    agent = job.record.job.workload.agent
    if agent.objectives and len(agent.objectives) > 1 and agent.metrics:
        directions = ["maximize" if d == "max" else "minimize" for d in agent.objectives]
        return list(agent.metrics), directions
    return [], ["maximize"]


def job_study(job: JobTrials, study_name: str, storage: Any = None) -> Any:
    """An Optuna study holding ``job``'s trials (see the module docstring)."""
    import optuna

    metrics, directions = objectives(job)
    dists = distributions(job)
    study = optuna.create_study(
        study_name=study_name,
        storage=storage,
        directions=directions,  # type: ignore[arg-type]
    )
    study.add_trials(
        [_trial(row, dists, metrics) for row in sorted(job.rows, key=lambda r: r.step)]
    )
    return study


def export_run(
    run: RunTrials, storage: str, *, replace: bool = False, job: str | None = None
) -> list[str]:
    """Write every agent-driven job of ``run`` (or only the job named ``job``, every
    iteration) as a study in ``storage``; return the study names (``<scenario>/<job>``,
    ``#<iteration>`` for repeated jobs). An existing study of that name is refused unless
    ``replace``."""
    import optuna

    jobs = run.iterations(job)

    scenario = run.info.get("scenario") or run.run_dir.name
    names: list[str] = []
    try:
        existing = {s.study_name for s in optuna.get_all_study_summaries(storage)}
    except Exception as exc:  # whatever SQLAlchemy or Optuna make of a mistyped URL
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__  # one line
        if "unable to open database file" in why:  # a well-formed sqlite URL
            why = "its database file cannot be opened or created there"
            raise UsageError(f"--optuna {storage}: {why}") from None
        raise UsageError(f"--optuna {storage}: not an Optuna storage URL ({why})") from None
    for job_trials in jobs:
        if job_trials.record.agent is None:
            continue  # a run-once job has nothing to search
        name = f"{scenario}/{job_trials.label}"
        if name in existing:
            if not replace:
                raise UsageError(
                    f"--optuna {storage}: a study named {name!r} exists already; "
                    "pass --replace to overwrite it"
                )
            optuna.delete_study(study_name=name, storage=storage)
        job_study(job_trials, name, storage)
        names.append(name)
    return names


def _trial(row: TrialRow, dists: dict[str, Any], metrics: Sequence[str]) -> Any:
    import optuna
    from optuna.trial import TrialState

    params = {name: _choice(row.action[name]) for name in dists if name in row.action}
    values: list[float] | None = None
    if row.status.scored:
        raw = [row.observation.get(m) for m in metrics] if metrics else [row.reward]
        if all(is_finite_number(v) for v in raw):
            values = [float(v) for v in raw]  # type: ignore[arg-type]
    start = dt.datetime.fromtimestamp(row.started_at) if row.started_at else None
    end = start + dt.timedelta(seconds=row.duration_s) if start is not None else None
    attrs: dict[str, Any] = {
        "step": row.step,
        "status": str(row.status),
        "duration_s": row.duration_s,
        "cached": row.cached,
        "error": row.error,
    }
    attrs.update({f"env_params.{k}": v for k, v in row.env_params.items()})
    trial = optuna.trial.create_trial(
        params=params,
        distributions={k: dists[k] for k in params},
        values=values,
        state=TrialState.COMPLETE if values is not None else TrialState.FAIL,
        user_attrs=attrs,
    )
    if start is not None:  # create_trial stamps "now"; the row knows when it ran
        trial.datetime_start, trial.datetime_complete = start, end
    return trial


def _choice(value: Any) -> Any:
    """A value Optuna can store as a categorical choice (None, bool, int, float, str)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    return str(value)


__all__ = ["distributions", "export_run", "job_study", "objectives"]
