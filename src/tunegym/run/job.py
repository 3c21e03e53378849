"""One job iteration of a run: its env, its agent (or a single trial), its progress."""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunegym.agents.base import AgentConfig, BaseAgent
from tunegym.agents.registry import build_agent, load_agent
from tunegym.budget import TimeBudget, budget_phrase
from tunegym.env.base import TrialEnv
from tunegym.env.live import LiveEnv
from tunegym.env.observers import StepObserver, TrialCallback
from tunegym.env.workload import EnvSettings, WorkloadEnv
from tunegym.errors import TunegymWarning
from tunegym.progress import ProgressObserver
from tunegym.run.choice import agent_choice
from tunegym.runners.base import Runner, RunnerContext
from tunegym.runners.registry import build_runner, dispatches_whole_grid
from tunegym.session.folder import RunSession
from tunegym.session.records import JobRecord
from tunegym.space import SearchSpace
from tunegym.spec.loader import Job
from tunegym.spec.pruning import unprunable_reason
from tunegym.trial.rows import TrialRow
from tunegym.trial.status import TrialStatus
from tunegym.trial.store import TrialStore
from tunegym.trial.sweep import Sweep

# A Slurm batch dispatches the whole grid at once, up to this many trials.
MAX_BATCH = 512


@dataclass(frozen=True)
class JobOptions:
    """What the command line (or a Python caller) sets for every job of a run."""

    dry_run: bool = False
    seed: int | None = None
    max_steps: int | None = None
    earlier_max_steps: tuple[int | None, ...] = ()
    """An extended run's earlier ``max_steps`` overrides (oldest first): the agent is
    chosen as the run began and replays its trials with the budgets they had."""
    parallel: int | None = None
    runner: str | None = None
    runner_overrides: dict[str, dict[str, Any]] | None = None
    progress: bool = True
    verbosity: int = 1
    log_file: Path | None = None
    run_deadline: float | None = None
    """``time.monotonic()`` when the run's ``--budget`` is spent (every job stops there)."""
    run_budget_s: float | None = None
    """The run's ``--budget`` as given."""
    budget_grace_s: float | None = None
    """``--budget-grace``: overrides each job's ``agent.budget_grace_s``."""
    on_trial: Callable[[str, TrialRow], object] | None = None
    """Called with the job's label and each row as it is recorded (``tunegym.tune``)."""


def time_budget_of(job: Job, options: JobOptions) -> TimeBudget | None:
    """The job iteration's time budget: ``agent.budget_s``, cut to what is left of the
    run's ``--budget`` (``None`` when neither is set)."""
    spec = job.workload.agent
    grace = options.budget_grace_s if options.budget_grace_s is not None else spec.budget_grace_s
    if options.run_deadline is not None:
        left = max(0.0, options.run_deadline - time.monotonic())
        if spec.budget_s is None or left < spec.budget_s:
            return TimeBudget(left, grace, source="--budget", given_s=options.run_budget_s)
    if spec.budget_s is None:
        return None
    return TimeBudget(spec.budget_s, grace)


def open_env(
    job: Job,
    store: TrialStore,
    runner: Runner | None,
    settings: EnvSettings,
    observers: Sequence[StepObserver] = (),
) -> WorkloadEnv | LiveEnv:
    """The env of one job iteration, recording into ``store`` (in its folder).

    ``runner`` executes an offline job's trials; a live job has none (``None``).
    """
    if job.workload.mode == "live":
        return LiveEnv(job, Sweep(store.folder), store, settings, observers)
    if runner is None:
        raise ValueError(f"job {job.name!r} runs its command per trial: it needs a runner")
    return WorkloadEnv(job, Sweep(store.folder), store, runner, settings, observers)


def parallel_of(job: Job, options: JobOptions) -> int:
    """Trials in flight at once: the option, else ``agent.parallel``; a whole-grid runner
    (Slurm batch mode) dispatches the grid at once."""
    parallel = options.parallel or job.workload.agent.parallel
    if job.workload.mode == "offline" and dispatches_whole_grid(job.workload, options.runner):
        size = SearchSpace.from_workload(job.workload).size or 1
        parallel = max(parallel, min(size, MAX_BATCH))
    return parallel


def run_job(job: Job, iteration: int, session: RunSession, options: JobOptions) -> JobRecord:
    """Run one job iteration into ``session``; return its record (also in the session)."""
    seed = (job.workload.agent.seed if options.seed is None else options.seed) + iteration
    parallel = parallel_of(job, options)
    runner = None  # a live job steps its server in process: no runner, no Ray start
    if job.workload.mode == "offline":
        overrides = (options.runner_overrides or {}).get(options.runner or job.workload.runner)
        runner = build_runner(
            job.workload,
            RunnerContext(job.name, options.dry_run, parallel),
            runner=options.runner,
            overrides=overrides,
        )
    if (blind := unprunable_reason(job.workload, options.runner)) is not None:
        warnings.warn(TunegymWarning(f"job {job.name}: {blind}"), stacklevel=2)
    settings = EnvSettings(
        dry_run=options.dry_run, cache=job.workload.cache, seed=seed, parallel=parallel
    )
    store = session.open_store(job, iteration)
    env = open_env(job, store, runner, settings)
    plan = env.resume() if session.resumed else ()
    space = env.action_space
    agent_driven = not space.is_empty or job.workload.mode == "live"
    agent_type, max_steps, _ = agent_choice(job, space, options.max_steps, options.runner)
    earlier = [agent_choice(job, space, b, options.runner)[1] for b in options.earlier_max_steps]
    if options.earlier_max_steps:  # an extended run keeps the agent it began with
        agent_type = agent_choice(job, space, options.earlier_max_steps[0], options.runner)[0]
    record = JobRecord(
        job,
        iteration,
        store.folder,
        agent_type if agent_driven else None,
        max_steps if agent_driven else 1,
    )
    session.start_job(record)
    progress = ProgressObserver(
        record.label,
        record.max_steps,
        live=None if options.progress else False,
        verbosity=options.verbosity,
        log_path=options.log_file,
    )
    progress.resume_from([item.row for item in plan if item.row is not None])
    env.observers.append(progress)
    if options.on_trial is not None:
        env.observers.append(TrialCallback(record.label, options.on_trial))
    budget = time_budget_of(job, options) if agent_driven else None
    try:
        with progress:
            if agent_driven:
                record.exit_code = _run_agent(
                    job,
                    env,
                    agent_type,
                    max_steps,
                    seed,
                    parallel,
                    record,
                    tuple(earlier),
                    budget,
                )
                if budget is not None:
                    record.extra["budget"] = budget.summary()
            else:
                _run_once(env)
                rows = store.rows()  # its one trial failed: the job failed, as a search's
                record.exit_code = 1 if rows and not any(r.status.succeeded for r in rows) else 0
    finally:
        env.close()
    if record.exit_code == 0:
        record.status = "ok"
    else:
        record.status = "agent_failed"
        record.message = record.message or _failure_message(
            agent_type, record.exit_code, budget, store
        )
    return record


def _failure_message(
    agent_type: str, exit_code: int, budget: TimeBudget | None, store: TrialStore
) -> str:
    """Why the job's agent failed, as the summary and ``tunegym run`` say it."""
    rows = store.rows()
    if budget is not None and budget.ended_job and not rows:
        return (
            f"{budget_phrase(budget.summary())} ended the job before any trial ran: "
            f"nothing was measured (raise {budget.source})"
        )
    if rows and not any(TrialStatus(row.status).succeeded for row in rows):
        return no_success_message(rows)
    when = "" if rows else " before any trial ran"
    return f"agent {agent_type!r} returned {exit_code}{when}"


def no_success_message(rows: Sequence[TrialRow]) -> str:
    """``no trial succeeded (failed 3, timeout 1); 3 of 4 trials: <their error>``: the
    statuses, and the most common reason, which is what to fix (a command that is not
    found, a metric the regex never matches)."""
    statuses = Counter(str(row.status) for row in rows)
    said = ", ".join(f"{status} {n}" for status, n in statuses.most_common())
    text = f"no trial succeeded ({said})"
    reasons = Counter(row.error for row in rows if row.error)
    if reasons:
        reason, n = reasons.most_common(1)[0]
        share = f"all {n} trials" if n == len(rows) > 1 else f"{n} of {len(rows)} trial(s)"
        text += f"; {share}: {reason}"
    return text


def _run_agent(
    job: Job,
    env: TrialEnv,
    agent_type: str,
    max_steps: int,
    seed: int,
    parallel: int,
    record: JobRecord,
    earlier_budgets: tuple[int, ...] = (),
    budget: TimeBudget | None = None,
) -> int:
    spec = job.workload.agent
    agent_cls = load_agent(agent_type)
    config = AgentConfig(
        max_steps,
        seed,
        agent_cls.Config.model_validate(spec.config),
        parallel=parallel,
        repeats=spec.repeats,
        min_draws=spec.min_draws,
        earlier_budgets=tuple(b for b in earlier_budgets if b < max_steps),
        objectives=tuple(spec.objectives) if spec.objectives else None,
        folder=record.folder,
        base_dir=job.workload_dir,
        time_budget=budget,
    )
    agent = build_agent(agent_cls, env, config)
    explained = getattr(agent, "agent", agent)  # a RepeatingAgent wraps the agent
    if hasattr(explained, "explain"):
        record.extra["search"] = explained.explain()
    if spec.warm_start is not None:
        from tunegym.agents.warm_start import apply_warm_start

        record.extra["warm_start"] = apply_warm_start(agent, job)
    code = agent.run()
    gave_up = _gave_up(agent)
    if gave_up is not None:
        record.message = gave_up  # said on the job's line, and the reason when it failed
        if not any(f.succeeded for f in agent.history):
            return 1
    return code


def _gave_up(agent: BaseAgent) -> str | None:
    """The :attr:`~tunegym.agents.base.BaseAgent.gave_up` reason of ``agent`` or of an
    agent it wraps (``agent``) or delegates to (``delegate``: auto's choice)."""
    current: Any = agent
    while current is not None:
        reason = vars(current).get("gave_up")
        if reason is not None:
            return str(reason)
        current = vars(current).get("agent") or vars(current).get("delegate")
    return None


def _run_once(env: TrialEnv) -> None:
    """A job without search dimensions: one trial. Resumed, its trial runs again only if
    it started without finishing (a finished one is kept)."""
    plan = env.replay_plan
    if not plan:
        env.step({})
    for item in plan:
        if item.row is None:
            env.complete(env.resubmit(item))


__all__ = ["JobOptions", "open_env", "parallel_of", "run_job"]
