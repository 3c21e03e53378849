"""Run a scenario: every job and iteration, into one run folder, under the failure contract.

* A trial that fails is data: a row with its status and a penalty; the sweep goes on.
* An agent that returns non-zero is remembered; the other jobs still run; exit code 1.
* A bug (an exception) stops the run: ``summary.json`` and best configs are still
  written for what finished, ``failure.txt`` records it, and the exception propagates.
* Ctrl-C: the runner kills the running trial's process group, every recorded row stays,
  reports are written, and :class:`RunInterrupted` (exit code 130) is raised.

The run folder belongs to a :class:`~tunegym.session.RunSession` from start to end (one
writer: a second ``tunegym run --resume`` of the same folder is refused).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from tunegym.errors import (
    DiskFullError,
    SpecError,
    TunegymError,
    TunegymWarning,
    UsageError,
    full_disk_cause,
    full_disk_phrase,
    interrupt_cause,
    interrupt_exit_code,
)
from tunegym.limits import MAX_PARALLEL, MAX_SEED, MAX_STEPS, check_seconds, check_whole
from tunegym.plugins import RUNNERS, available
from tunegym.report.writing import write_reports
from tunegym.run.job import JobOptions, parallel_of, run_job
from tunegym.session.folder import RunSession
from tunegym.session.records import JobRecord
from tunegym.spec.loader import Job, Scenario
from tunegym.trial.rows import TrialRow


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
    """Continue this run folder instead of starting a new one (with ``max_steps`` larger
    than the run's: extend it, continuing each job's search)."""
    earlier_max_steps: tuple[int | None, ...] = ()
    """Set for an extended run: the ``max_steps`` overrides it ran with before (oldest
    first; ``None``: the spec's own)."""
    runner: str | None = None
    """A registered runner name (``local``, ``ray``, ``slurm``): overrides every job's."""
    ray_address: str | None = None
    runner_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Settings per runner name that override the workloads' (``ray_address`` adds
    ``{"ray": {"address": ...}}``)."""

    budget_s: float | None = None
    """``--budget``: wall-clock seconds for the whole run (from :meth:`job_options`)."""
    budget_grace_s: float | None = None
    """``--budget-grace``: running trials get this long once a budget is spent."""
    on_trial: Callable[[str, TrialRow], object] | None = None
    """Called with the job's label and each trial's row as it is recorded."""

    def __post_init__(self) -> None:
        """Refuse settings that cannot work, naming the field (:class:`UsageError`, exit
        2). ``tunegym run`` checks its flags first; this guards the Python API."""
        if not isinstance(self.dry_run, bool):  # the run meta records it as true or false
            raise UsageError(f"dry_run must be True or False, got {self.dry_run!r}")
        check_whole("seed", self.seed, 0, MAX_SEED)
        check_whole("max_steps", self.max_steps, 1, MAX_STEPS)
        check_whole("parallel", self.parallel, 1, MAX_PARALLEL)
        check_seconds("budget_s", self.budget_s, above_zero=True)
        check_seconds("budget_grace_s", self.budget_grace_s, above_zero=False)
        if self.verbosity not in (0, 1, 2):
            raise UsageError(
                f"verbosity must be 0 (quiet), 1 or 2 (verbose), got {self.verbosity!r}"
            )
        if self.on_trial is not None and not callable(self.on_trial):
            raise UsageError(f"on_trial must be callable, got {self.on_trial!r}")
        if self.runner is not None and self.runner not in available(RUNNERS):
            known = ", ".join(available(RUNNERS))
            raise UsageError(f"runner must be one of {known}, got {self.runner!r}")
        if self.ray_address is not None:
            from tunegym.spec.models import check_ray_address

            try:
                check_ray_address(self.ray_address)
            except (TypeError, ValueError) as exc:
                raise UsageError(f"ray_address: {exc}") from None

    def job_options(self) -> JobOptions:
        overrides = {k: dict(v) for k, v in self.runner_overrides.items()}
        if self.ray_address is not None:
            overrides.setdefault("ray", {})["address"] = self.ray_address
        return JobOptions(
            dry_run=self.dry_run,
            seed=self.seed,
            max_steps=self.max_steps,
            earlier_max_steps=self.earlier_max_steps,
            parallel=self.parallel,
            runner=self.runner,
            runner_overrides=overrides,
            progress=self.progress,
            verbosity=self.verbosity,
            log_file=self.log_file,
            run_deadline=None if self.budget_s is None else time.monotonic() + self.budget_s,
            run_budget_s=self.budget_s,
            budget_grace_s=self.budget_grace_s,
            on_trial=self.on_trial,
        )


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    exit_code: int


def run_scenario(
    scenario: Scenario, options: RunOptions, on_job: Callable[[JobRecord], None] | None = None
) -> RunResult:
    check_before_run(scenario, options)
    if options.resume is not None:
        extend = extension_of(scenario, options)
        session = RunSession.reopen(options.resume, scenario)
        if extend is not None:
            session.extend(extend)
        if options.budget_s is not None or options.budget_grace_s is not None:
            session.set_budget(options.budget_s, options.budget_grace_s)
        budgets = list(session.info.get("budgets") or [])
        options = replace(  # a resumed run keeps its seed, budgets and dry-run setting
            options,
            seed=session.info.get("seed"),
            max_steps=session.info.get("max_steps"),
            dry_run=bool(session.info.get("dry_run", False)),
            earlier_max_steps=tuple(budgets[:-1]),
            budget_s=session.info.get("budget_s"),  # --budget again, on a fresh clock
            budget_grace_s=session.info.get("budget_grace_s"),
        )
    else:
        session = RunSession.create(
            options.output,
            scenario,
            dry_run=options.dry_run,
            seed=options.seed,
            max_steps=options.max_steps,
            budget_s=options.budget_s,
            budget_grace_s=options.budget_grace_s,
        )
    job_options = options.job_options()
    status = "ok"
    try:
        for job in scenario.jobs:
            for iteration in range(job.iterations):
                record = run_job(job, iteration, session, job_options)
                if on_job is not None:
                    on_job(record)
        if any(r.status != "ok" for r in session.records):
            status = "agent_failed"
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM/SIGHUP (SignalInterrupt)
        unrecorded = _unrecorded_phrase(session)  # before finish_run closes the database
        session.mark_running("interrupted", f"interrupted by {interrupt_cause(exc)}")
        finish_run(session, "interrupted")
        interrupted = RunInterrupted(
            f"interrupted by {interrupt_cause(exc)}{unrecorded}; recorded "
            f"trials and reports are in {session.run_dir} (go on with: tunegym run --resume "
            f"{session.run_dir})"
        )
        interrupted.exit_code = interrupt_exit_code(exc)
        raise interrupted from None
    except BaseException as exc:
        session.mark_running("error", f"{type(exc).__name__}: {exc}")
        full = full_disk_cause(exc)
        if full is not None:
            raise _ended_by_a_full_disk(session, full) from exc
        session.fail(exc)
        finish_run(session, "error")
        raise
    try:
        summary = finish_run(session, status)
    except KeyboardInterrupt as exc:  # a signal while the reports were being written
        interrupted = RunInterrupted(
            f"interrupted by {interrupt_cause(exc)} while writing the reports; every trial "
            f"is recorded in {session.run_dir} (write the reports with: tunegym report "
            f"{session.run_dir})"
        )
        interrupted.exit_code = interrupt_exit_code(exc)
        raise interrupted from None
    return RunResult(session.run_dir, summary, 0 if status == "ok" else 1)


def _ended_by_a_full_disk(session: RunSession, cause: BaseException) -> DiskFullError:
    """The error for a run the disk filled up under. Not a bug, so no ``failure.txt``;
    the run's end and its reports are recorded as far as the space left allows (the rows
    already recorded are in ``trials.sqlite`` either way)."""
    unrecorded = _unrecorded_phrase(session)  # before finish_run closes the database
    reports = ""
    try:
        finish_run(session, "error")
    except Exception as later:
        if full_disk_cause(later) is None:
            raise
        reports = f" (no room for the reports either: tunegym report {session.run_dir})"
    return DiskFullError(
        f"{full_disk_phrase(cause)}{unrecorded}; the trials recorded before are kept in "
        f"{session.run_dir}{reports}: free some space, then go on with: tunegym run "
        f"--resume {session.run_dir}"
    )


def _unrecorded_phrase(session: RunSession) -> str:
    """``; 2 running trial(s) were stopped and not recorded (sgd step(s) 7, 8)`` when
    trials were under way at an interrupt (a resume runs them again), else nothing."""
    count, where = 0, []
    for record in session.records:
        steps = [step for step, _, _ in session.db.unfinished(record.job.name, record.iteration)]
        if steps:
            count += len(steps)
            shown = ", ".join(str(s) for s in steps[:10]) + (", ..." if len(steps) > 10 else "")
            where.append(f"{record.label} step(s) {shown}")
    if not count:
        return ""
    return f"; {count} running trial(s) were stopped and not recorded ({'; '.join(where)})"


def spec_to_run(
    path: str | Path | None,
    resume: str | Path | None,
    kept: Mapping[str, bool],
    resume_hint: str,
) -> Path:
    """The spec file a run starts from, with the rules of a resumed run (one home for
    ``tunegym run`` and :func:`tunegym.tune`, which name their options in their own way).

    ``kept`` maps each option a resumed run keeps as it was (the seed, dry-run) to whether
    it was given; one given with ``resume`` is refused (``max_steps`` may only extend the
    run: :func:`extension_of`). Without a ``path``, a resumed run starts from the spec
    recorded in its folder, which must still be there; with neither, ``resume_hint`` says
    how to name one (``--resume RUN_DIR`` or ``resume=RUN_DIR``)."""
    if resume is None:
        if path is None:
            raise UsageError(f"give a scenario or workload file (or {resume_hint})")
        return Path(path)
    for name, given in kept.items():
        if given:
            raise UsageError(f"{name} cannot change a resumed run (it keeps its own)")
    from tunegym.trial.store import TrialStoreError

    if path is not None:
        from tunegym.layout import RUN_DB_NAME
        from tunegym.trial.sqlite_file import check_run_file

        try:  # before the run says it resumes: a file that is no database is refused now
            check_run_file(Path(resume) / RUN_DB_NAME)
        except TrialStoreError as exc:
            raise type(exc)(f"cannot resume: {exc}") from None
        return Path(path)
    from tunegym.session import recorded_spec

    try:
        spec = recorded_spec(Path(resume))
    except (UsageError, TrialStoreError) as exc:
        raise type(exc)(f"cannot resume: {exc}") from None
    if not spec.exists():
        raise UsageError(
            f"cannot resume: the run was started from {spec}, which is no longer there; "
            "give the spec file's new path with the resume (its contents must not have "
            "changed)"
        )
    return spec


def check_log_file(path: Path, scenario: Scenario, resume: Path | None, what: str) -> Path:
    """``path`` as the log file (``--log-file``, named ``what``), checked before anything
    runs: a :class:`UsageError` when appending log lines to it would break the spec file
    being run or a workload file it reads, or overwrite what the resumed run recorded
    (its database, its journal, ``summary.json``, any file in its folder); else made
    writable as every output file is (:func:`~tunegym.user_paths.output_file`)."""
    from tunegym.session.recorded import refuse_a_file_of_a_run
    from tunegym.user_paths import output_file

    target = path.expanduser().resolve()
    inputs = {scenario.path.resolve(): f"the spec file being run ({scenario.path})"}
    for job in scenario.jobs:
        inputs.setdefault(
            job.workload_path.resolve(),
            f"the workload file of job {job.name!r} ({job.workload_path})",
        )
    if target in inputs:
        raise UsageError(
            f"{what} {path}: is {inputs[target]}; appending log lines would break it "
            "(give a file of its own, e.g. run.log)"
        )
    if resume is not None:
        refuse_a_file_of_a_run(path, what, "appending log lines", resume, " (e.g. run.log)")
    return output_file(path, what)


def extension_of(scenario: Scenario, options: RunOptions) -> int | None:
    """The larger budget ``--resume RUN_DIR --max-steps N`` gives the run (``None``: no
    change). Refused (exit 2) when ``N`` is not more than a job already had: a resumed
    run can grow, never shrink."""
    if options.max_steps is None or options.resume is None:
        return None
    from tunegym.run.choice import agent_choice
    from tunegym.session.reading import recorded_run_info
    from tunegym.space import SearchSpace

    recorded = recorded_run_info(options.resume).get("max_steps")
    if recorded == options.max_steps:
        return None
    for job in scenario.jobs:
        space = SearchSpace.from_workload(job.workload)
        if space.is_empty and job.workload.mode != "live":
            continue  # a run-once job has one trial whatever the budget
        _, before, _ = agent_choice(job, space, recorded, options.runner)
        if options.max_steps <= before:
            raise UsageError(
                f"--max-steps {options.max_steps} does not extend the run: job {job.name!r} "
                f"already has max_steps {before}; give a larger number to continue it"
            )
    return options.max_steps


def finish_run(session: RunSession, status: str) -> dict[str, Any]:
    """Record the run's end, write every report, and close the session."""
    try:
        info = session.finish(status)
        return write_reports(session.run_dir, info, session.records, session.db)
    finally:
        session.close()


def check_before_run(scenario: Scenario, options: RunOptions) -> None:
    """What can be refused before anything runs (exit 2): warm starts that name no earlier
    run, ``[when]`` conditions that cannot be evaluated, constraints that no action
    satisfies, live servers that do not import, a live job
    asked to run trials in parallel."""
    from tunegym.agents.warm_start import check_warm_start
    from tunegym.env.feasible import workload_problem
    from tunegym.env.server import ServerError, import_server_class

    job_options = options.job_options()
    runners = {options.runner or job.workload.runner for job in scenario.jobs}
    if options.ray_address is not None and "ray" not in runners:  # it was dropped unsaid
        warnings.warn(
            TunegymWarning(
                f"--ray-address {options.ray_address}: no job of this run uses the ray "
                f"runner ({', '.join(sorted(runners))}); it is ignored"
            ),
            stacklevel=2,
        )
    for job in scenario.jobs:
        workload = job.workload
        if workload.agent.warm_start is not None:
            check_warm_start(job)
        problem = workload_problem(workload)
        if problem is not None:
            raise SpecError(f"{job.workload_path}: {': '.join(problem)}")
        _check_ray_connection(job, job_options)
        if workload.mode != "live":
            continue
        if workload.server is not None:
            try:
                import_server_class(workload.server, job.workload_dir)
            except ServerError as exc:
                raise ServerError(f"{job.workload_path}: server: {exc}") from exc
        parallel = parallel_of(job, job_options)
        if parallel > 1:
            error = UsageError if options.parallel else SpecError
            where = "--parallel" if options.parallel else f"{job.workload_path}: agent.parallel"
            raise error(
                f"{where}: {parallel} trials at once, but job {job.name!r} is live: a live "
                "server is one environment, stepped one step after another"
            )


def _check_ray_connection(job: Job, options: JobOptions) -> None:
    """A Ray job whose cluster is not the one this process is already connected to (an
    earlier ``tunegym.tune`` call): refused before a run folder is made."""
    import sys

    if (options.runner or job.workload.runner) != "ray" or "ray" not in sys.modules:
        return  # Ray not imported here: the runner connects when it starts
    import ray

    if not ray.is_initialized():
        return
    from tunegym.runners.ray import check_connected_to
    from tunegym.runners.registry import runner_settings

    overrides = (options.runner_overrides or {}).get("ray")
    check_connected_to(runner_settings(job.workload, "ray", overrides).address)
