"""``summary.json``: the machine-readable result of a run (documented in the README)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunegym.agents.registry import load_agent
from tunegym.analysis.policy import policy_stats
from tunegym.analysis.results import JobResults, measured_repeatedly, measurements_word
from tunegym.analysis.robust import robust_summary
from tunegym.errors import SpecError
from tunegym.layout import BEST_CONFIG_NAME, TRAJECTORY_NAME
from tunegym.outputs.best_config import write_action_config, write_best_config
from tunegym.outputs.files import atomic_write_text
from tunegym.outputs.fingerprint import workload_fingerprint
from tunegym.results.compare import baseline_of
from tunegym.results.importance import param_importances
from tunegym.results.runs import JobTrials
from tunegym.session.records import JobRecord
from tunegym.trial.status import STATUSES
from tunegym.trial.store import TrialDatabase
from tunegym.version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "JobRecord",
    "build_summary",
    "job_summary",
    "search_entries",
    "write_summary",
]

SCHEMA_VERSION = 1


def job_summary(
    record: JobRecord, results: JobResults, run_dir: Path, *, write_files: bool = True
) -> dict[str, Any]:
    """One job's entry of ``summary.json``; writes its ``best_config.toml`` unless
    ``write_files`` is false (then the entry names the one already there, if any)."""
    rows = results.rows
    counts: Counter[str] = Counter(row.status.value for row in rows)
    best = results.best_row
    if write_files:
        best_config = write_best(record, results)
    else:
        present = record.folder / BEST_CONFIG_NAME
        best_config = present if present.is_file() else None
    summary: dict[str, Any] = {
        "name": record.job.name,
        "iteration": record.iteration,
        "status": record.status,
        "agent": record.agent,
        "max_steps": record.max_steps,
        "trials": len(rows),
        "counts": {status: counts.get(status, 0) for status in STATUSES},
        "folder": _rel(record.folder, run_dir),
        "trajectory": _rel(record.folder / TRAJECTORY_NAME, run_dir),
        "best": None,
        "best_config": _rel(best_config, run_dir) if best_config else None,
        "fingerprint": workload_fingerprint(record.job.workload),
    }
    if record.message:
        summary["message"] = record.message
    if best is not None:
        summary["best"] = {
            "step": best.step,
            "reward": best.reward,
            "action": dict(best.action),
            "env_params": dict(best.env_params),
            "observation": dict(best.observation),
        }
    summary.update(search_entries(record, results, run_dir))
    return summary


def write_best(record: JobRecord, results: JobResults) -> Path | None:
    """Write ``best_config.toml``: the robust best action when the job has env params
    (highest mean reward over its draws, not the single luckiest row), else the best row's.
    ``None`` (and nothing written) when no trial was scored.
    """
    job, path = record.job, record.folder / BEST_CONFIG_NAME
    if measured_repeatedly(job.workload):
        top = results.robust_best
        if top is None:
            return None
        sem = "" if top.sem is None else f" (standard error {top.sem:.6g})"
        unit = "env-param draw(s)" if job.workload.env_params else "measurement(s)"
        over = f"{top.count} {unit}"
        note = f"robust best, mean reward {top.mean_reward!r}{sem} over {over}"
        return write_action_config(job, top.action, path, note)
    best = results.best_row
    return write_best_config(job, best, path) if best is not None else None


def search_entries(record: JobRecord, results: JobResults, run_dir: Path) -> dict[str, Any]:
    """``robust``, ``objectives``/``pareto_front`` and ``warm_start`` entries of a job.

    * With env params: ``robust`` (see :func:`tunegym.analysis.robust.robust_summary`).
    * With two or more objectives: ``pareto_front`` lists the non-dominated actions and
      ``best_config_<i>.toml`` is written for front member ``i``.
    """
    out: dict[str, Any] = {}
    job, folder = record.job, record.folder
    if measured_repeatedly(job.workload):
        out["robust"] = robust_summary(
            results.action_stats,
            results.contexts if job.workload.env_params else [],
            choice=results.robust_choice,
            over=measurements_word(job.workload),
        )
    if results.objectives:
        for stale in folder.glob("best_config_*.toml"):
            stale.unlink(missing_ok=True)  # a concurrent writer may have removed it
        entries = []
        for i, member in enumerate(results.pareto_front):
            values = ", ".join(f"{m} {v!r}" for m, v in member.objectives.items())
            note = f"Pareto-front member {i} ({values})"
            path = write_action_config(job, member.action, folder / f"best_config_{i}.toml", note)
            entries.append({**member.to_json(), "best_config": _rel(path, run_dir)})
        out["objectives"] = dict(results.objectives)
        out["pareto_front"] = entries
    if record.extra.get("warm_start"):
        out["warm_start"] = record.extra["warm_start"]
    if record.extra.get("budget"):
        out["budget"] = record.extra["budget"]
    pruning = pruning_entry(record, results)
    if pruning is not None:
        out["pruning"] = pruning
    if record.extra.get("search"):
        out["search"] = record.extra["search"]
    return out


def pruning_entry(record: JobRecord, results: JobResults) -> dict[str, Any] | None:
    """``pruning``: the pruner, the metric it watched and what it decided (``None`` for a
    job without ``[agent.pruner]``). ``saved_seconds`` estimates what pruning saved: each
    pruned trial would have run as long as the completed ones did on average."""
    from tunegym.spec.pruning import progress_metric, pruner_direction

    workload = record.job.workload
    pruner = workload.agent.pruner
    metric = progress_metric(workload)
    if pruner is None or metric is None:
        return None
    rows = results.rows
    pruned = [row for row in rows if row.status == "pruned"]
    stopped = [row.duration_s for row in pruned if not row.cached]
    ran = [row.duration_s for row in rows if row.status == "ok" and not row.cached]
    full = sum(ran) / len(ran) if ran else None  # what a trial run to its end took
    return {
        "pruner": pruner.type,
        "metric": metric.name,
        "direction": pruner_direction(workload, metric.name),
        "pruned": len(pruned),
        "curves": sum(1 for row in rows if row.curve),
        "trial_seconds": sum(row.duration_s for row in rows if not row.cached),
        "pruned_seconds": sum(stopped),
        "saved_seconds": None if full is None else sum(max(0.0, full - s) for s in stopped),
    }


def write_summary(
    path: Path,
    run: dict[str, Any],
    records: Sequence[JobRecord],
    db: TrialDatabase,
    results: Sequence[JobResults] | None = None,
) -> dict[str, Any]:
    """Write ``summary.json`` atomically (a reader never sees half a file), and each
    job's ``best_config.toml``; return the summary.

    ``results`` are the jobs' rows and derived values in the order of ``records`` (read
    from ``db`` when not given); pass them to share them with the HTML writer.
    """
    summary = build_summary(path.parent, run, records, db, results)
    atomic_write_text(path, json.dumps(summary, indent=2, default=str) + "\n")
    return summary


def build_summary(
    run_dir: Path,
    run: dict[str, Any],
    records: Sequence[JobRecord],
    db: TrialDatabase,
    results: Sequence[JobResults] | None = None,
    *,
    write_files: bool = True,
) -> dict[str, Any]:
    """The summary of the run in ``run_dir`` (as :func:`write_summary` writes it); with
    ``write_files`` false it writes nothing at all (a run folder this user may not
    write)."""
    if results is None:
        results = [JobResults.load(db, r) for r in records]
    jobs = [
        job_summary(r, res, run_dir, write_files=write_files)
        for r, res in zip(records, results, strict=True)
    ]
    insights(jobs, records, results, db, run.get("seed"))
    return {
        "schema_version": SCHEMA_VERSION,
        "tunegym_version": __version__,
        **run,
        "jobs": jobs,
    }


def insights(
    entries: Sequence[dict[str, Any]],
    records: Sequence[JobRecord],
    results: Sequence[JobResults],
    db: TrialDatabase,
    run_seed: int | None,
) -> None:
    """Add ``rl`` (a policy's reward statistics), ``baseline`` (a tuned job against the
    plain job of its workload) and ``importance`` (which parameters mattered) to the job
    entries that have them."""
    trials = [JobTrials(r, tuple(res.rows)) for r, res in zip(records, results, strict=True)]
    for entry, job in zip(entries, trials, strict=True):
        if is_policy_job(job.record):
            record = job.record
            seed = record.job.workload.agent.seed if run_seed is None else run_seed
            stats = policy_stats(job.rows, db.episodes(record.job.name, record.iteration))
            entry["rl"] = {"seed": seed + record.iteration, **stats.to_json()}
            continue  # a policy has no best action, importance or baseline to speak of
        baseline = baseline_of(job, trials)
        if baseline is not None:
            entry["baseline"] = {**baseline.to_json(), "text": baseline.describe()}
        importance = param_importances(job) if job.record.agent is not None else None
        if importance is not None:
            entry["importance"] = importance.to_json()


def is_policy_job(record: JobRecord) -> bool:
    """A job that trains or evaluates a policy (its agent says so), or steps a live env."""
    if record.job.workload.mode == "live":
        return True
    if record.agent is None:
        return False
    try:
        return bool(load_agent(record.agent).trains_policy)
    except SpecError:  # "external" (make_env), or an agent no longer installed
        return False


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
