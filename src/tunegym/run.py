"""Run a scenario: every job and iteration, into one run folder, under the failure contract.

* A trial that fails is data: a row with its status and a penalty; the sweep goes on.
* An agent that returns non-zero is remembered; the other jobs still run; exit code 1.
* A bug (an exception) stops the run: ``summary.json`` and best configs are still
  written for what finished, ``failure.txt`` records it, and the exception propagates.
* Ctrl-C: the runner kills the running trial's process group, every recorded row stays,
  reports are written, and :class:`RunInterrupted` (exit code 130) is raised.
"""

from __future__ import annotations

import datetime as dt
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tunegym.agents.base import AgentConfig
from tunegym.agents.registry import default_agent_reason, default_max_steps, load_agent
from tunegym.env.observers import StepObserver
from tunegym.env.workload import EnvSettings, WorkloadEnv
from tunegym.errors import TunegymError, UsageError, interrupt_cause, interrupt_exit_code
from tunegym.report.progress import ProgressObserver
from tunegym.report.reports import record_job, record_start, write_reports
from tunegym.report.summary import JobRecord
from tunegym.runners.base import Runner
from tunegym.runners.factory import make_runner
from tunegym.space import SearchSpace
from tunegym.spec.loader import Job, Scenario
from tunegym.trial.resume import check_fingerprints, record_fingerprints
from tunegym.trial.store import RUN_DB_NAME, TrialDatabase, TrialStore, open_run_db
from tunegym.trial.sweep import Sweep


class RunInterrupted(TunegymError):
    """Ctrl-C during a run; what was recorded is kept and reports are written."""

    exit_code = 130


@dataclass(frozen=True)
class RunOptions:
    output: Path = Path("runs")
    dry_run: bool = False
    seed: int | None = None
    max_steps: int | None = None
    progress: bool = True
    verbosity: int = 1
    """0 quiet (no progress output), 1 normal, 2 verbose (each trial's action too)."""
    log_file: Path | None = None
    """Append every trial's progress line, timestamped, to this file."""
    parallel: int | None = None
    """Trials in flight at once; overrides every job's ``agent.parallel``."""
    resume: Path | None = None
    """Continue this run folder instead of starting a new one."""
    runner: str | None = None
    """``local``, ``ray`` or ``slurm``: overrides every job's ``runner``."""
    ray_address: str | None = None


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    exit_code: int


def make_run_dir(output: Path, name: str) -> Path:
    """``<output>/<name>_<timestamp>``, made unique if two runs start in the same second."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    output.mkdir(parents=True, exist_ok=True)
    for n in range(1000):
        path = output / (f"{name}_{stamp}" if n == 0 else f"{name}_{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise TunegymError(f"could not create a run folder under {output}")


def resolve_agent(job: Job, space: SearchSpace, max_steps: int | None) -> tuple[str, int]:
    """The agent type and step budget of a job (spec, CLI override, then defaults)."""
    agent_type, budget, _ = agent_choice(job, space, max_steps)
    return agent_type, budget


def agent_choice(
    job: Job, space: SearchSpace, max_steps: int | None
) -> tuple[str, int, str | None]:
    """``(agent type, budget, why)``; ``why`` says why the default rule chose the agent,
    and is ``None`` when the spec names it."""
    agent = job.workload.agent
    budget = max_steps or agent.max_steps
    if job.workload.slurm.batch and agent.type is None:
        size = budget or space.size or default_max_steps(space)
        return "grid", size, "slurm batch mode submits the whole grid as one job array"
    if agent.type is not None:
        return agent.type, budget or default_max_steps(space), None
    agent_type, why = default_agent_reason(
        space,
        budget,
        warm_start=agent.warm_start is not None,
        deterministic=job.workload.cache and not job.workload.env_params,
    )
    return agent_type, budget or default_max_steps(space), why


def run_scenario(
    scenario: Scenario, options: RunOptions, on_job: Callable[[JobRecord], None] | None = None
) -> RunResult:
    started = time.time()
    _check_warm_starts(scenario)
    _check_live_servers(scenario)
    if options.resume is not None:
        run_dir, db, run_info, options = _reopen(scenario, options)
        run_info["resumed_at"] = [*run_info.get("resumed_at", []), started]
    else:
        run_dir = make_run_dir(options.output, scenario.name)
        db = TrialDatabase(run_dir / RUN_DB_NAME)
        record_fingerprints(db, scenario)
        run_info = {
            "scenario": scenario.name,
            "spec": str(scenario.path),
            "run_dir": str(run_dir),
            "dry_run": options.dry_run,
            "seed": options.seed,
            "max_steps": options.max_steps,
            "started_at": started,
        }
    db.set_meta("run", run_info)
    record_start(db)
    records: list[JobRecord] = []
    status = "ok"
    try:
        for job in scenario.jobs:
            for iteration in range(job.iterations):
                record = _run_job(job, iteration, run_dir, db, options, records)
                if on_job is not None:
                    on_job(record)
        if any(r.status != "ok" for r in records):
            status = "agent_failed"
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (SignalInterrupt)
        status = "interrupted"
        _mark_running(records, "interrupted", f"interrupted by {interrupt_cause(exc)}")
        finish_run(run_dir, run_info, records, db, status, started)
        interrupted = RunInterrupted(
            f"interrupted by {interrupt_cause(exc)}; recorded trials and reports are in {run_dir}"
        )
        interrupted.exit_code = interrupt_exit_code(exc)
        raise interrupted from None
    except BaseException as exc:
        status = "error"
        _mark_running(records, "error", f"{type(exc).__name__}: {exc}")
        write_failure(run_dir, exc)
        finish_run(run_dir, run_info, records, db, status, started)
        raise
    summary = finish_run(run_dir, run_info, records, db, status, started)
    return RunResult(run_dir, summary, 0 if status == "ok" else 1)


def open_env(
    job: Job,
    iteration: int,
    folder: Path,
    db: TrialDatabase,
    runner: Runner | None,
    settings: EnvSettings,
    observers: Sequence[StepObserver] = (),
) -> WorkloadEnv:
    """The env of one job iteration, writing into ``folder`` and the run's database.

    ``runner`` executes an offline job's trials; a live job has none (``None``).
    """
    store = TrialStore(db, job.name, iteration, folder, list(job.workload.env_params))
    if job.workload.mode == "live":
        from tunegym.env.live import LiveEnv

        return LiveEnv(job, Sweep(folder), store, settings, observers)
    if runner is None:
        raise ValueError(f"job {job.name!r} runs its command per trial: it needs a runner")
    return WorkloadEnv(job, Sweep(folder), store, runner, settings, observers)


def _reopen(
    scenario: Scenario, options: RunOptions
) -> tuple[Path, TrialDatabase, dict[str, Any], RunOptions]:
    """Open a run folder to resume; its seed, budget and dry-run setting are kept."""
    run_dir = Path(options.resume)  # type: ignore[arg-type]
    try:
        db = open_run_db(run_dir)
    except UsageError as exc:
        raise UsageError(f"cannot resume: {exc}") from None
    try:
        check_fingerprints(db, scenario)
    except BaseException:
        db.close()
        raise
    run_info = dict(db.meta().get("run", {}))
    options = replace(
        options,
        seed=run_info.get("seed"),
        max_steps=run_info.get("max_steps"),
        dry_run=bool(run_info.get("dry_run", False)),
    )
    return run_dir, db, run_info, options


def _run_job(
    job: Job,
    iteration: int,
    run_dir: Path,
    db: TrialDatabase,
    options: RunOptions,
    records: list[JobRecord],
) -> JobRecord:
    folder = run_dir / job.name / str(iteration)
    seed = (job.workload.agent.seed if options.seed is None else options.seed) + iteration
    parallel = options.parallel or job.workload.agent.parallel
    batch = job.workload.slurm.batch and (options.runner or job.workload.runner) == "slurm"
    if batch:  # the whole grid is dispatched at once and submitted as one job array
        parallel = max(parallel, min(SearchSpace.from_workload(job.workload).size or 1, 512))
    runner = None  # a live job steps its server in process: no runner, no Ray start
    if job.workload.mode == "offline":
        runner = make_runner(
            job.workload,
            dry_run=options.dry_run,
            parallel=parallel,
            runner=options.runner,
            ray_address=options.ray_address,
        )
    settings = EnvSettings(
        dry_run=options.dry_run, cache=job.workload.cache, seed=seed, parallel=parallel
    )
    env = open_env(job, iteration, folder, db, runner, settings)
    if options.resume is not None and hasattr(env, "load_history"):
        env.load_history()
    space = env.action_space
    agent_driven = not space.is_empty or job.workload.mode == "live"
    agent_type, max_steps = resolve_agent(job, space, options.max_steps)
    record = JobRecord(
        job,
        iteration,
        folder,
        agent_type if agent_driven else None,
        max_steps if agent_driven else 1,
    )
    records.append(record)
    record_job(db, record, len(records) - 1)
    label = job.name if job.iterations == 1 else f"{job.name}#{iteration}"
    progress = ProgressObserver(
        label,
        record.max_steps,
        live=None if options.progress else False,
        verbosity=options.verbosity,
        log_path=options.log_file,
    )
    env.observers.append(progress)
    try:
        with progress:
            if agent_driven:
                agent_cls = load_agent(agent_type)
                options_model = agent_cls.Config.model_validate(job.workload.agent.config)
                config = AgentConfig(max_steps, seed, options_model, parallel=parallel)
                config = _with_search_settings(config, job)
                agent = agent_cls(env, config)
                if job.workload.agent.warm_start is not None:
                    from tunegym.agents.warm_start import apply_warm_start

                    record.extra["warm_start"] = apply_warm_start(agent, job)
                record.exit_code = agent.run()
            else:
                _run_once(env)
                record.exit_code = 0
    finally:
        env.close()
    if record.exit_code == 0:
        record.status = "ok"
    else:
        record.status = "agent_failed"
        record.message = f"agent {agent_type!r} returned {record.exit_code} (no trial succeeded?)"
    return record


def _check_warm_starts(scenario: Scenario) -> None:
    """Every ``agent.warm_start`` names an earlier run, before anything runs (SpecError)."""
    from tunegym.agents.warm_start import resolve_store

    for job in scenario.jobs:
        if job.workload.agent.warm_start is not None:
            resolve_store(job.workload.agent.warm_start, job.workload_dir)


def _check_live_servers(scenario: Scenario) -> None:
    """Every live job's server imports and implements the protocol (SpecError, exit 2),
    before anything runs; building it and reading its spaces waits for the job."""
    from tunegym.gym.server import ServerError, import_server_class

    for job in scenario.jobs:
        if job.workload.mode == "live" and job.workload.server is not None:
            try:
                import_server_class(job.workload.server, job.workload_dir)
            except ServerError as exc:
                raise ServerError(f"{job.workload_path}: server: {exc}") from exc


def _with_search_settings(config: AgentConfig, job: Job) -> AgentConfig:
    """``config`` with the job's ``agent.repeats`` and ``agent.objectives`` (issue 3)."""
    from dataclasses import replace

    spec = job.workload.agent
    objectives = tuple(spec.objectives) if spec.objectives else None
    return replace(config, repeats=spec.repeats, objectives=objectives)


def _run_once(env: Any) -> None:
    """A job without search dimensions: one trial. Resumed, its trial runs again only if
    it started without finishing (a finished one is kept)."""
    plan = getattr(env, "pending_replay", [])
    if not plan:
        env.step({})
    for item in plan:
        if item.row is None:
            env.complete(env.resubmit(item))


def _mark_running(records: list[JobRecord], status: str, message: str) -> None:
    for record in records:
        if record.status == "running":
            record.status = status
            record.message = message


def write_failure(run_dir: Path, exc: BaseException) -> None:
    """``failure.txt``: the type, message and traceback of the bug that stopped a run."""
    (run_dir / "failure.txt").write_text(
        f"type: {type(exc).__name__}\nmessage: {exc}\n\n" + "".join(traceback.format_exception(exc))
    )


def finish_run(
    run_dir: Path,
    run_info: dict[str, Any],
    records: list[JobRecord],
    db: TrialDatabase,
    status: str,
    started: float,
) -> dict[str, Any]:
    """Stamp the run's end and status, write every report, and close the database."""
    finished = time.time()
    info = {
        **run_info,
        "status": status,
        "finished_at": finished,
        "duration_s": round(finished - started, 6),
    }
    try:
        return write_reports(run_dir, info, records, db)
    finally:
        db.close()
