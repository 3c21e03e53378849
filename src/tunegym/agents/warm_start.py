"""``[agent] warm_start = "path/to/run"``: teach the agent an earlier run's trials first.

The path (relative to the workload file's folder, or absolute) names an earlier run
folder, or its ``trials.sqlite`` directly. The trials of the job with the same name are
read (every iteration, in step order; cache hits are left out since they repeat a
measurement); if that run has no job of this name but exactly one job, that one is used.
Trials whose action does not fit this job's search space are skipped; when none fits the
run stops with a clear error (the earlier run must be of the same workload and space).
Each successful trial is scored again by this job's reward, from its observation, so a
warm start from a run that maximised another reward (or minimised this one) teaches the
agent this job's objective, not that run's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunegym.errors import SpecError
from tunegym.expr import ExprError
from tunegym.spec.paths import resolve_store
from tunegym.trial.rows import Feedback
from tunegym.trial.status import TrialStatus
from tunegym.trial.store import RUN_DB_NAME, TrialDatabase, TrialStoreError
from tunegym.values import is_finite_number

if TYPE_CHECKING:
    from tunegym.agents.base import BaseAgent
    from tunegym.metrics.rewards import RewardFn
    from tunegym.space import SearchSpace
    from tunegym.spec.loader import Job

STORE_NAME = RUN_DB_NAME


@dataclass(frozen=True)
class WarmStart:
    """The usable trials of an earlier run, and what was left out."""

    source: Path
    job: str
    feedback: tuple[Feedback, ...]
    skipped: int

    def to_json(self, used: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": str(self.source),
            "job": self.job,
            "trials": len(self.feedback) if used is None else used,
            "skipped": self.skipped,
        }
        best = self.best
        if best is not None:
            out["earlier_best"] = {
                "step": best.step,
                "reward": best.reward,
                "action": dict(best.action),
                "env_params": dict(best.env_params),
                "earlier_run": True,
            }
        return out

    @property
    def best(self) -> Feedback | None:
        """The earlier run's best successful trial (highest reward, earliest on ties)."""
        scored = [f for f in self.feedback if f.succeeded and is_finite_number(f.reward)]
        return max(scored, key=lambda f: (f.reward, -f.step), default=None)


def load_warm_start(
    store: Path, job: str, space: SearchSpace, reward_fn: RewardFn | None = None
) -> WarmStart:
    """Read the trials of ``job`` from ``store`` that fit ``space`` (see module docs).
    With ``reward_fn``, each successful trial's reward is computed again from its
    observation (the earlier run may have scored it another way)."""
    db = TrialDatabase(store, read_only=True)
    try:
        jobs = db.jobs()
        if job not in jobs:
            if len(jobs) != 1:
                known = ", ".join(jobs) or "none"
                raise SpecError(f"warm_start: {store} has no trials of job {job!r} (jobs: {known})")
            job = jobs[0]
        rows = db.job_rows(job)
    except TrialStoreError as exc:
        raise SpecError(f"warm_start: {exc}") from None
    finally:
        db.close()
    feedback: list[Feedback] = []
    skipped = 0
    unscored = ""  # the first reason this job's reward could not score a trial
    for row in rows:
        if row.cached or row.status == TrialStatus.CACHED:
            continue
        try:
            canonical = space.canonicalize(row.action)
        except ValueError:
            skipped += 1
            continue
        reward = row.reward
        if reward_fn is not None and TrialStatus(row.status).succeeded:
            try:
                reward = reward_fn(row.observation)
            except ExprError as exc:  # e.g. a metric this job's reward reads, not that run
                skipped += 1
                unscored = unscored or str(exc)
                continue
        feedback.append(
            Feedback(
                row.step,
                canonical,
                dict(row.env_params),
                dict(row.observation),
                reward,
                row.status,
            )
        )
    if rows and not feedback and skipped:
        why = (
            f"this job's reward cannot score them ({unscored})"
            if unscored
            else "fit this job's search space"
        )
        raise SpecError(
            f"warm_start: none of the {skipped} trials of job {job!r} in {store} {why}; "
            "warm start from a run of the same workload and space"
        )
    return WarmStart(store, job, tuple(feedback), skipped)


def apply_warm_start(agent: BaseAgent, job: Job) -> dict[str, Any]:
    """Load ``job``'s warm start and teach it to ``agent``; returns the summary entry."""
    value = job.workload.agent.warm_start
    assert value is not None
    if not agent.supports_warm_start:
        raise SpecError(f"agent {agent.name!r} does not support warm_start")
    store = resolve_store(value, job.workload_dir)
    warm = load_warm_start(
        store, job.name, agent.env.action_space, getattr(agent.env, "reward_fn", None)
    )
    used = agent.warm_start(warm.feedback)
    return warm.to_json(used)


def check_warm_start(job: Job) -> Path:
    """The store ``job``'s warm start reads, checked before anything runs: it exists, is
    an SQLite file, and holds trials of this job that fit its space and its reward; a
    :class:`SpecError` names the workload file and ``agent.warm_start``. Before, an
    earlier run of another workload passed verify and stopped the run at that job, after
    the jobs before it had run, with a ``failure.txt`` as for a bug."""
    from tunegym.metrics.rewards import build_reward
    from tunegym.space import SearchSpace

    workload = job.workload
    value = workload.agent.warm_start
    assert value is not None
    try:
        store = resolve_store(value, job.workload_dir)
        if workload.mode == "offline":  # a live job's space is its server's: at its start
            reward_fn = build_reward(workload.agent.reward, workload.reward_metrics)
            load_warm_start(store, job.name, SearchSpace.from_workload(workload), reward_fn)
    except SpecError as exc:  # "warm_start: ..."
        raise SpecError(f"{job.workload_path}: agent.{exc}") from None
    return store


__all__ = [
    "STORE_NAME",
    "WarmStart",
    "apply_warm_start",
    "check_warm_start",
    "load_warm_start",
    "resolve_store",
]
