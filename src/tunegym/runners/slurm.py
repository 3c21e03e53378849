"""``SlurmRunner``: each trial is an sbatch job; ``batch`` mode makes one job array.

A trial becomes ``<trial folder>/sbatch.sh``: ``#SBATCH`` lines from ``[slurm]``, the
environment overlay as ``export`` lines, and the command (every argument quoted with
:func:`shlex.quote`, so no value is ever interpreted by the shell). The script itself
enforces the trial's ``timeout_s`` with GNU ``timeout`` (SIGTERM to the command's process
group, SIGKILL ``kill_grace_s`` later), since Slurm's own limit has a granularity of a
minute and is enforced late; ``--time`` is set to the timeout plus a margin, as a
backstop. Without ``srun_prefix`` or a container, the script checks first that the
command exists. At its end it writes ``<trial folder>/exitcode``: the exit code, how it
ended (``exit``, ``timeout`` or ``notfound``) and the start and end times measured on the
node, so a trial's ``duration_s`` is its own run time, in array mode too.

The job is submitted with ``sbatch --parsable`` and polled with ``squeue -t all`` (which
lists finished jobs for ``MinJobAge``) and, for jobs squeue no longer knows, ``sacct``
when accounting is on. A final state maps to a trial status: the exit-code file decides
for COMPLETED and FAILED; TIMEOUT is ``timeout``; CANCELLED, OUT_OF_MEMORY, NODE_FAIL,
PREEMPTED, BOOT_FAIL and DEADLINE are ``failed`` with the reason. A job Slurm ended has no
known return code (``None``) unless its script still wrote one.

``sbatch`` refusing a script stops the run: :class:`SlurmSubmitError` with sbatch's reason
on one line, raised for that trial and for every later one without submitting again.
Ctrl-C runs ``scancel`` on the job before re-raising; :meth:`SlurmRunner.cancel_all`
cancels every active job (and a job whose submission was under way); a trial whose
``spec.stop`` is set (pruned, or the time budget spent) has its own job cancelled (in
batch mode its own array task, the other tasks running on).
``dry_run`` writes the scripts (and ``command.txt``, like the local dry run) and submits nothing.

In batch mode, the trials dispatched together (the parallel loop dispatches a whole grid
at once) are gathered for ``batch_window_s`` and submitted as one job array whose tasks
each run one trial folder's script (a dry run writes that array script too). Each
trial's result is handed back as soon as its own task is final, the others still running,
so a pruner judges later tasks against the finished ones and the run records them.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import shlex
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from tunegym.errors import TunegymError, TunegymWarning
from tunegym.procgroup import TAG_VARIABLE, start_watchdog
from tunegym.runners.base import (
    Runner,
    RunnerContext,
    TrialResult,
    TrialSpec,
    TrialStatus,
    stop_came_too_late_if_ok,
)
from tunegym.runners.local import DryRunRunner
from tunegym.runners.slurm_commands import (
    ACTIVE_STATES,
    cancel_on_death,
    record_job,
    sacct_states,
    scancel,
    squeue_states,
    stop_left_over_job,
)
from tunegym.spec.models import SlurmSpec

SCRIPT_NAME = "sbatch.sh"
EXITCODE_NAME = "exitcode"
_FAILED_REASONS = {
    "FAILED": "the job failed",
    "CANCELLED": "the job was cancelled",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "NODE_FAIL": "a node of the job failed",
    "PREEMPTED": "the job was preempted",
    "BOOT_FAIL": "the job's node failed to boot",
    "DEADLINE": "the job missed its deadline",
}
MAX_ARG_STRLEN = 32 * 4096
"""Linux's limit on one argument of ``execve``, its terminating NUL included."""
TIME_MARGIN_S = 30.0
"""Slurm's ``--time`` is the trial's timeout plus its kill grace plus this margin."""

_VANISHED_POLLS = 3
"""Polls a job may be unknown to squeue and sacct, with no exit-code file, before it is
recorded as lost (state UNKNOWN)."""

_INTERRUPT_TENTHS = 10
"""A cancelled job's script gives its trial's group 1 s between SIGTERM and SIGKILL (well
inside Slurm's ``KillWait``, 30 s by default, after which Slurm kills the script)."""

_TRAP_WAIT_S = 0.5
"""How long a trial's script, whose command died of SIGTERM, waits for its own SIGTERM
from Slurm before taking the 143 for the command's own exit."""

_CANCEL_WAIT_S = 5.0
"""After ``cancel_all``, how long a waiting trial polls for the job's final state."""

_END_CHECK_S = 0.25
"""Between two squeue polls, how often a waiting trial looks for its script's exit-code
file (a stat on the trial folder, no load on slurmctld): a trial that ended is polled at
once, not up to ``poll_interval_s`` later."""

_ENDED_POLL_S = 1.0
"""How often a trial whose script has ended is polled until Slurm's state is final (the
job is COMPLETING for a moment; its final state can say more than the exit code, such as
OUT_OF_MEMORY)."""


class SlurmSubmitError(TunegymError):
    """sbatch refused a job script: the run stops, since every trial would fail alike."""


def slurm_time(spec: SlurmSpec, timeout_s: float | None, kill_grace_s: float = 5.0) -> str | None:
    """``--time``: the table's value, else the timeout plus grace and margin, in minutes."""
    if spec.time:
        return spec.time
    if timeout_s is None or math.isinf(timeout_s):
        return None
    minutes = max(1, math.ceil((timeout_s + kill_grace_s + TIME_MARGIN_S) / 60))
    days, rest = divmod(minutes, 24 * 60)
    clock = f"{rest // 60:02d}:{rest % 60:02d}:00"
    return f"{days}-{clock}" if days else clock


def sbatch_header(
    spec: SlurmSpec, name: str, timeout_s: float | None, kill_grace_s: float = 5.0
) -> list[str]:
    lines = [f"#SBATCH --job-name={name}", f"#SBATCH --nodes={spec.nodes}"]
    if spec.partition:
        lines.append(f"#SBATCH --partition={spec.partition}")
    if spec.account:
        lines.append(f"#SBATCH --account={spec.account}")
    time_limit = slurm_time(spec, timeout_s, kill_grace_s)
    if time_limit:
        lines.append(f"#SBATCH --time={time_limit}")
    if spec.gpus is not None:
        lines.append(f"#SBATCH --gpus-per-node={spec.gpus}")
    lines += [f"#SBATCH {line}" for line in spec.extra_sbatch]
    return lines


def command_prefix(spec: SlurmSpec) -> list[str]:
    """What goes before the trial's argv: ``srun_prefix`` and the container options."""
    prefix = list(spec.srun_prefix)
    if spec.container_image:
        prefix = prefix or ["srun"]
        prefix.append(f"--container-image={spec.container_image}")
        if spec.container_mounts:
            prefix.append(f"--container-mounts={','.join(spec.container_mounts)}")
    return prefix


def command_line(spec: SlurmSpec, argv: Sequence[str]) -> str:
    return shlex.join([*command_prefix(spec), *argv])


def _quoted(text: str) -> str:
    """A path on an ``#SBATCH`` line, in double quotes (a space split it: sbatch said
    "Invalid directive")."""
    return f'"{text}"'


def _literal(path: Path) -> str:
    """``path`` with its ``%`` doubled, for ``--output`` and ``--error``, where sbatch
    expands ``%j`` and the like (a run folder named ``pct%jdir`` became ``pct17dir``)."""
    return str(path).replace("%", "%%")


def _has_limit(timeout_s: float | None) -> bool:
    return timeout_s is not None and not math.isinf(timeout_s)


def trial_script(spec: SlurmSpec, trial: TrialSpec, name: str) -> str:
    """The sbatch script of one trial (also the body each array task runs)."""
    cwd = trial.cwd.absolute()
    q = shlex.quote
    exitcode = q(str(cwd / EXITCODE_NAME))
    command = command_line(spec, trial.argv)
    lines = [
        "#!/bin/bash",
        *sbatch_header(spec, name, trial.timeout_s, trial.kill_grace_s),
        f"#SBATCH --chdir={_quoted(str(cwd))}",
        f"#SBATCH --output={_quoted(_literal(cwd / 'stdout.txt'))}",
        f"#SBATCH --error={_quoted(_literal(cwd / 'stderr.txt'))}",
        "",
        f"cd {q(str(cwd))} || exit 1",
        *(f"export {key}={q(value)}" for key, value in sorted(trial.env.items())),
        # Slurm's SIGTERM (scancel, --time) is trapped: the trial's group is swept below,
        # since linuxproc tracking loses what a dead script leaves re-parented to init.
        "trap 'tunegym_stop=1' TERM INT HUP",
        # Every process of the trial carries its tag (as a local trial's do), so one that
        # left the group (setsid, a daemon's double fork) is swept with it.
        f'export {TAG_VARIABLE}="slurm.${{SLURM_JOB_ID:-$$}}"',
        "tunegym_tagged() {  # the tagged processes (these helpers run untagged)",
        f'  env -u {TAG_VARIABLE} grep -lzsx "{TAG_VARIABLE}=${TAG_VARIABLE}" '
        f"/proc/[0-9]*/environ | env -u {TAG_VARIABLE} cut -d/ -f3",
        "}",
        'tunegym_alive() { kill -0 -- -$tunegym_pg 2>/dev/null || [ -n "$(tunegym_tagged)" ]; }',
        "tunegym_sweep() {  # SIGTERM the trial's group and tagged ones, SIGKILL $1 tenths later",
        "  tunegym_alive || return 0",
        "  kill -TERM -- -$tunegym_pg $(tunegym_tagged) 2>/dev/null",
        '  for _ in $(seq "$1"); do',
        "    tunegym_alive || return 0",
        "    sleep 0.1",
        "  done",
        "  kill -KILL -- -$tunegym_pg $(tunegym_tagged) 2>/dev/null",
        "}",
        "tunegym_start=$(date +%s.%N)",
    ]
    if not command_prefix(spec):  # in a container the command is only known inside it
        missing = f"tunegym: command not found: {trial.argv[0]}"
        lines += [
            f"if ! command -v -- {q(trial.argv[0])} >/dev/null 2>&1; then",
            f"  echo {q(missing)} >&2",
            f'  echo "127 notfound $tunegym_start $(date +%s.%N)" > {exitcode}',
            "  exit 127",
            "fi",
        ]
    # The command leads its own process group (job control), so that whatever it leaves
    # behind can be swept as the local runner does.
    grace_tenths = max(1, math.ceil(max(trial.kill_grace_s, 0.1) * 10))
    # A stopped trial (pruned, budget, Ctrl-C) records its own run time too, so its
    # duration_s is measured as a completed one's is, not by the polls around it.
    cancelled = f'echo "143 cancelled $tunegym_start $(date +%s.%N)" > {exitcode}; exit 143'
    stop = f"  tunegym_sweep {_INTERRUPT_TENTHS}; {cancelled}"
    lines.append(f'if [ -n "${{tunegym_stop:-}}" ]; then {cancelled}; fi')
    if _has_limit(trial.timeout_s):
        limit = float(trial.timeout_s)  # type: ignore[arg-type]
        grace = max(trial.kill_grace_s, 0.1)
        lines += [
            "tunegym_t0=$(date +%s%N)",
            "set -m",
            f"timeout --kill-after={grace:g}s {limit:g}s {command} &",
        ]
    else:
        lines += ["set -m", f"{command} &"]
    lines += [
        "tunegym_pg=$!",
        "set +m",
        'if [ -z "${tunegym_stop:-}" ]; then wait $tunegym_pg; fi',
        "code=$?",
        # Slurm's SIGTERM reaches every process of the job in no set order: a command it
        # killed first may end the wait before this script's own SIGTERM is handled. A
        # moment's sleep lets the trap run, so the stop is not taken for an exit of 143.
        f'if [ -z "${{tunegym_stop:-}}" ] && [ $code -eq 143 ]; then sleep {_TRAP_WAIT_S:g}; fi',
        'if [ -n "${tunegym_stop:-}" ]; then  # cancelled: Slurm\'s state tells the rest',
        stop,
        "fi",
        "outcome=exit",
    ]
    if _has_limit(trial.timeout_s):
        lines += [
            # 124: timeout sent SIGTERM; 137: it needed SIGKILL. The elapsed time tells a
            # command that exits 124 on its own apart from one that was stopped.
            "if { [ $code -eq 124 ] || [ $code -eq 137 ]; } && "
            f"[ $(( $(date +%s%N) - tunegym_t0 )) -ge {int(limit * 1e9)} ]; then",
            "  outcome=timeout",
            "fi",
        ]
    lines += [
        f"tunegym_sweep {grace_tenths}  # what the command left behind",
        f'echo "$code $outcome $tunegym_start $(date +%s.%N)" > {exitcode}',
        "exit $code",
        "",
    ]
    return "\n".join(lines)


def array_script(spec: SlurmSpec, trials: Sequence[TrialSpec], name: str, folder: Path) -> str:
    """One job array: task ``i`` runs the script of ``trials[i]`` with its own output files."""
    timeouts = [t.timeout_s for t in trials if t.timeout_s is not None and _has_limit(t.timeout_s)]
    grace = max(t.kill_grace_s for t in trials)
    folder = folder.absolute()
    lines = [
        "#!/bin/bash",
        *sbatch_header(spec, name, max(timeouts) if timeouts else None, grace),
        f"#SBATCH --array=0-{len(trials) - 1}",
        f"#SBATCH --output={_quoted(_literal(folder) + '/array-%a.out')}",
        "",
        'case "$SLURM_ARRAY_TASK_ID" in',
    ]
    for i, trial in enumerate(trials):
        cwd = trial.cwd.absolute()
        script = shlex.quote(str(cwd / SCRIPT_NAME))
        out = shlex.quote(str(cwd / "stdout.txt"))
        err = shlex.quote(str(cwd / "stderr.txt"))
        lines.append(f"  {i}) bash {script} > {out} 2> {err} & ;;")
    lines += [
        "esac",
        # scancel's SIGTERM reaches this shell too: it waits on for the trial's script,
        # which sweeps the trial's group and writes its exit-code file, so the task's
        # state is final only once the trial is over.
        "trap : TERM INT HUP",
        "tunegym_script=$!",
        "wait $tunegym_script",
        "code=$?",
        "while kill -0 $tunegym_script 2>/dev/null; do wait $tunegym_script; code=$?; done",
        "exit $code",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class _ScriptEnd:
    """What a trial's script wrote at its end (``exitcode``)."""

    code: int
    outcome: str = "exit"
    started_at: float | None = None
    finished_at: float | None = None


def read_exitcode(folder: Path) -> _ScriptEnd | None:
    """The trial script's ``exitcode`` file, or ``None`` when it never got that far."""
    try:
        parts = (folder / EXITCODE_NAME).read_text().split()
        code = int(parts[0])
    except (OSError, ValueError, IndexError):
        return None
    outcome = parts[1] if len(parts) > 1 else "exit"
    times: list[float | None] = [None, None]
    for i, text in enumerate(parts[2:4]):
        with contextlib.suppress(ValueError):
            times[i] = float(text)
    return _ScriptEnd(code, outcome, times[0], times[1])


@dataclass
class _Outcome:
    """A task's final Slurm state and code, and when it was first seen running."""

    state: str
    returncode: int | None
    running_since: float | None = None


@dataclass
class _Batch:
    """The trials gathered into one job array; ``ended[i]`` is set once trial ``i``'s
    result is in ``results`` (each as its own task ends) or the array failed (``error``)."""

    epoch: int
    specs: list[TrialSpec] = field(default_factory=list)
    results: dict[int, TrialResult] = field(default_factory=dict)
    ended: list[threading.Event] = field(default_factory=list)
    error: BaseException | None = None

    def fail(self, error: BaseException) -> None:
        """Every trial without a result yet raises ``error``."""
        self.error = error
        for event in self.ended:
            event.set()


class SlurmRunner:
    """Submit trials to Slurm and wait for them (blocking; the parallel loop uses threads)."""

    Settings: ClassVar[type[BaseModel] | None] = SlurmSpec

    @classmethod
    def from_settings(cls, settings: SlurmSpec, context: RunnerContext) -> Runner:
        """A runner for one job (a dry run writes the scripts and submits nothing)."""
        return cls(settings, job_name=f"tunegym-{context.job_name}", dry_run=context.dry_run)

    @classmethod
    def dispatches_whole_grid(cls, settings: SlurmSpec) -> bool:
        """Batch mode: the grid is dispatched at once and submitted as one job array."""
        return settings.batch

    @classmethod
    def settings_problems(cls, workload: Any) -> list[tuple[tuple[str | int, ...], str]]:
        """Nothing beyond what the settings model checks."""
        return []

    def __init__(
        self,
        spec: SlurmSpec | None = None,
        *,
        job_name: str = "tunegym",
        dry_run: bool = False,
        batch_window_s: float = 0.5,
    ) -> None:
        self.spec = spec or SlurmSpec()
        self.job_name = job_name
        self.dry_run = dry_run
        self.batch_window_s = batch_window_s
        self._active: set[str] = set()
        self._cancelled: set[str] = set()
        self._cancel_epoch = 0
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._batch: _Batch | None = None
        self._batch_count = 0
        self._submit_error: SlurmSubmitError | None = None
        self._sacct_usable = True

    # -- one trial -----------------------------------------------------------------------
    def run(self, spec: TrialSpec) -> TrialResult:
        started_at, t0 = time.time(), time.monotonic()
        cwd = spec.cwd.absolute()
        if (too_long := _argument_too_long(spec.argv)) is not None:  # the shell's 126
            return self._result(spec, TrialStatus.FAILED, None, started_at, t0, too_long)
        if not self.dry_run:
            self._stop_left_over_job(cwd)
        script = cwd / SCRIPT_NAME
        script.write_text(trial_script(self.spec, spec, f"{self.job_name}-{cwd.name}"))
        (cwd / EXITCODE_NAME).unlink(missing_ok=True)
        if self.dry_run and not self.spec.batch:
            DryRunRunner().run(spec)  # command.txt, as the local dry run writes it
            return self._result(spec, TrialStatus.OK, 0, started_at, t0)
        if self.spec.batch:
            return self._run_in_batch(spec)
        with self._lock:
            epoch = self._cancel_epoch
        job_id = self._submit(script, epoch)
        record_job(cwd, job_id)
        forget = spec.stop.on_stop(lambda: self._cancel_job(job_id)) if spec.stop else None
        try:
            outcome = self._wait(job_id, [cwd])[0]
        finally:
            if forget is not None:
                forget()
        return self._finish(spec, outcome, started_at, t0)

    @staticmethod
    def _stop_left_over_job(cwd: Path) -> None:
        """A job that an earlier tunegym left running in this trial folder (it was killed
        before it could cancel it, and this run resumes into the folder) is cancelled and
        waited for, with a warning, before the folder is used again."""
        job_id = stop_left_over_job(cwd)
        if job_id is not None:
            warnings.warn(
                TunegymWarning(
                    f"cancelled Slurm job {job_id}, left running in {cwd} by an earlier "
                    "tunegym, before running its trial again"
                ),
                stacklevel=2,
            )

    def _guard_in_flight(self) -> None:
        """Keep ``scancel`` of every job in flight with the watchdog (the lock held, so
        the last call wins): should tunegym die, its jobs do not run on unrecorded."""
        cancel_on_death(f"slurm-{id(self)}", self._active)

    def _cancel_job(self, job_id: str, target: str | None = None) -> None:
        """The env asked to stop a trial (``spec.stop``): ``scancel`` ``target`` now, its
        whole job by default, or one array task (``JOB_TASK``; the others run on). The
        wait then ends in a few tenths of a second."""
        target = target or job_id
        with self._lock:
            if job_id not in self._active:
                return
            self._cancelled.add(target)
            self._wake.notify_all()
        scancel(target)

    # -- batch mode ------------------------------------------------------------------------
    def _run_in_batch(self, spec: TrialSpec) -> TrialResult:
        with self._lock:
            if self._batch is None:
                self._batch = _Batch(self._cancel_epoch)
                threading.Thread(
                    target=self._submit_batch_later, args=(self._batch,), daemon=True
                ).start()
            batch = self._batch
            index = len(batch.specs)
            batch.specs.append(spec)
            batch.ended.append(threading.Event())
        batch.ended[index].wait()
        if index not in batch.results:
            assert batch.error is not None  # set by batch.fail before the event
            raise batch.error
        return batch.results[index]

    def _submit_batch_later(self, batch: _Batch) -> None:
        seen = -1
        while seen != len(batch.specs):  # gather until no trial arrived for one window
            seen = len(batch.specs)
            time.sleep(self.batch_window_s)
        with self._lock:
            self._batch = None
        try:
            self._run_array(batch)
        except BaseException as exc:  # surfaced in every waiting trial's thread
            batch.fail(exc)
        else:  # every task handed its result over; a trial left without one would hang
            batch.fail(TunegymError("the job array ended without a result for this trial"))

    def _run_array(self, batch: _Batch) -> None:
        started_at, t0 = time.time(), time.monotonic()
        with self._lock:
            self._batch_count += 1
            count = self._batch_count
        folder = batch.specs[0].cwd.absolute().parent
        script = folder / f"array-{count}.sbatch.sh"
        name = f"{self.job_name}-array{count}"
        script.write_text(array_script(self.spec, batch.specs, name, folder))
        if self.dry_run:
            for i, spec in enumerate(batch.specs):
                DryRunRunner().run(spec)
                batch.results[i] = self._result(spec, TrialStatus.OK, 0, started_at, t0)
                batch.ended[i].set()
            return
        job_id = self._submit(script, batch.epoch)
        for i, spec in enumerate(batch.specs):
            record_job(spec.cwd.absolute(), f"{job_id}_{i}")
        forget = {
            i: spec.stop.on_stop(functools.partial(self._cancel_job, job_id, f"{job_id}_{i}"))
            for i, spec in enumerate(batch.specs)
            if spec.stop is not None
        }

        def task_ended(i: int, outcome: _Outcome) -> None:
            """Trial ``i``'s result, handed over as its own task ends: a pruner judging
            the tasks still running sees it complete, and the run records it."""
            if (unregister := forget.pop(i, None)) is not None:
                unregister()
            batch.results[i] = self._finish(batch.specs[i], outcome, started_at, t0)
            batch.ended[i].set()

        try:
            self._wait(
                job_id, [s.cwd.absolute() for s in batch.specs], array=True, on_end=task_ended
            )
        finally:
            for unregister in forget.values():
                unregister()

    # -- Slurm commands ---------------------------------------------------------------------
    def _submit(self, script: Path, epoch: int) -> str:
        """Submit ``script``; its job id. Raises :class:`SlurmSubmitError` when refused.

        ``epoch`` is the cancel count when the trial started: a job submitted after a
        ``cancel_all`` that came while sbatch ran is cancelled at once.
        """
        if self._submit_error is not None:
            raise self._submit_error
        start_watchdog()  # before the job exists: its scancel is then only a file write away
        try:
            proc = _sbatch(script)
        except FileNotFoundError:
            raise TunegymError(
                "sbatch not found on PATH: run on a Slurm login node, or use --dry-run to "
                "only write the sbatch scripts"
            ) from None
        if proc.returncode != 0:
            error = SlurmSubmitError(f"sbatch refused {script}: {_one_line(proc.stderr)}")
            with self._lock:
                self._submit_error = self._submit_error or error
            raise error
        job_id = proc.stdout.strip().split(";")[0]
        with self._lock:
            self._active.add(job_id)
            self._guard_in_flight()
            late = self._cancel_epoch != epoch
            if late:
                self._cancelled.add(job_id)
        if late:
            scancel(job_id)
        return job_id

    def _wait(
        self,
        job_id: str,
        folders: Sequence[Path],
        array: bool = False,
        on_end: Callable[[int, _Outcome], None] | None = None,
    ) -> list[_Outcome]:
        """Poll until every task is final; one :class:`_Outcome` per folder. ``on_end(i,
        outcome)`` is called as each task ``i`` becomes final, before the others are."""
        ids = [f"{job_id}_{i}" for i in range(len(folders))] if array else [job_id]
        final: dict[str, _Outcome] = {}
        running_since: dict[str, float] = {}
        vanished: dict[str, int] = {}
        cancel_deadline: float | None = None
        task_deadlines: dict[str, float] = {}  # array tasks cancelled one by one
        ended: set[str] = set()  # tasks whose script wrote its exit-code file
        told: set[str] = set()  # tasks handed to on_end
        try:
            while len(final) < len(ids):
                pending = {t: f for t, f in zip(ids, folders, strict=True) if t not in final}
                self._pause(job_id, pending, ended)
                with self._lock:
                    cancelled = job_id in self._cancelled
                    stopped = [t for t in ids if t in self._cancelled and t not in final]
                if cancelled and cancel_deadline is None:
                    cancel_deadline = time.monotonic() + _CANCEL_WAIT_S
                for task in stopped:
                    task_deadlines.setdefault(task, time.monotonic() + _CANCEL_WAIT_S)
                answer = self._states(job_id, [t for t in ids if t not in final])
                states = answer or {}
                now = time.monotonic()
                for task, folder in zip(ids, folders, strict=True):
                    if task in final:
                        continue
                    state = states.get(task)
                    if state is None:
                        end = read_exitcode(folder)
                        if end is not None:  # the job left squeue (and sacct is off)
                            name = "COMPLETED" if end.code == 0 else "FAILED"
                            if end.outcome == "cancelled":  # its trap wrote it: stopped
                                name = "CANCELLED"
                            final[task] = _Outcome(name, end.code, running_since.get(task))
                            continue
                        if answer is None:  # squeue could not say: not a sign it is gone
                            continue
                        vanished[task] = vanished.get(task, 0) + 1
                        if vanished[task] >= _VANISHED_POLLS:
                            scancel(task)  # should it still run somewhere, it stops
                            final[task] = _Outcome("UNKNOWN", None, running_since.get(task))
                        continue
                    name, code = state
                    if name == "RUNNING":
                        running_since.setdefault(task, now)
                    if name not in ACTIVE_STATES:
                        final[task] = _Outcome(name, code, running_since.get(task))
                if cancel_deadline is not None and time.monotonic() >= cancel_deadline:
                    for task in ids:
                        final.setdefault(task, _Outcome("CANCELLED", None, running_since.get(task)))
                for task, deadline in task_deadlines.items():
                    if time.monotonic() >= deadline:
                        final.setdefault(task, _Outcome("CANCELLED", None, running_since.get(task)))
                if on_end is not None:
                    for i, task in enumerate(ids):
                        if task in final and task not in told:
                            told.add(task)
                            on_end(i, final[task])
        except BaseException:
            scancel(job_id)
            raise
        finally:
            with self._lock:
                self._active.discard(job_id)
                self._guard_in_flight()
                self._cancelled.discard(job_id)
                self._cancelled.difference_update(ids)
        return [final[task] for task in ids]

    def _pause(self, job_id: str, pending: dict[str, Path], ended: set[str]) -> None:
        """Wait until the next squeue poll: ``poll_interval_s``, 0.2 s once a stop was
        asked for, :data:`_ENDED_POLL_S` while a task whose script ended is not final; or
        sooner, when a stop is asked for or another task's script writes its exit-code
        file (added to ``ended``)."""
        stopping = self._stopping(job_id, pending)
        if stopping:
            wait_s = 0.2
        elif ended & pending.keys():
            wait_s = min(self.spec.poll_interval_s, _ENDED_POLL_S)
        else:
            wait_s = self.spec.poll_interval_s
        deadline = time.monotonic() + wait_s
        while (left := deadline - time.monotonic()) > 0:
            with self._lock:
                if self._wake.wait(min(left, _END_CHECK_S)):
                    return  # a stop (notify_all)
            if not stopping and self._stopping(job_id, pending):
                return  # a stop asked for between two slices
            new = [t for t, f in pending.items() if t not in ended and (f / EXITCODE_NAME).exists()]
            if new:
                ended.update(new)
                return

    def _stopping(self, job_id: str, tasks: Iterable[str]) -> bool:
        with self._lock:
            return job_id in self._cancelled or any(t in self._cancelled for t in tasks)

    def _states(
        self, job_id: str, tasks: Sequence[str]
    ) -> dict[str, tuple[str, int | None]] | None:
        """``{task: (state, code)}`` from squeue, completed by sacct for what it lacks;
        ``None`` when squeue could not answer."""
        states = squeue_states(job_id)
        if states is None:
            return None
        if self._sacct_usable and any(t not in states for t in tasks):
            found = sacct_states(job_id)
            if found is None:
                self._sacct_usable = False  # no sacct, or accounting disabled
            else:
                states = {**found, **states}
        return states

    def cancel_all(self) -> None:
        """``scancel`` every active job; waiting trials then return ``failed`` promptly."""
        with self._lock:
            self._cancel_epoch += 1
            jobs = list(self._active)
            self._cancelled.update(jobs)
            self._wake.notify_all()
        for job_id in jobs:
            scancel(job_id)

    # -- results ----------------------------------------------------------------------------
    def _finish(
        self, spec: TrialSpec, outcome: _Outcome, started_at: float, t0: float
    ) -> TrialResult:
        """The trial's result from its final state and exit-code file; a stop that came
        after the job completed came too late (its script exits 143 when stopped)."""
        return stop_came_too_late_if_ok(spec, self._result_of(spec, outcome, started_at, t0))

    def _result_of(
        self, spec: TrialSpec, outcome: _Outcome, started_at: float, t0: float
    ) -> TrialResult:
        end = read_exitcode(spec.cwd.absolute())
        duration: float | None = None
        if end is not None and end.started_at is not None:
            started_at = end.started_at
            if end.finished_at is not None:
                duration = max(0.0, end.finished_at - end.started_at)
        elif outcome.running_since is not None:  # it started once seen running, not when sent
            started_at += outcome.running_since - t0
            t0 = outcome.running_since
        state = outcome.state
        if end is not None and end.outcome == "cancelled":
            # its trap ran: stopped (scancel, or Slurm's --time). Its run time is the
            # script's own; its exit code (143) is the trap's, not the command's.
            state = "CANCELLED" if state in ("COMPLETED", "FAILED") else state
            end = None
        returncode = end.code if end is not None else outcome.returncode
        if state == "CANCELLED" and end is not None and (end.outcome, end.code) == ("exit", 0):
            # cancelled after its command had ended (a script stopped before that writes
            # "143 cancelled")
            state = "COMPLETED"
        if state in ("COMPLETED", "FAILED") and end is not None:
            if end.outcome == "notfound":
                error = f"command not found: {spec.argv[0]}"
                return self._result(spec, TrialStatus.FAILED, None, started_at, t0, error, duration)
            if end.outcome == "timeout":
                error = f"timed out after {spec.timeout_s} s"
                return self._result(
                    spec, TrialStatus.TIMEOUT, None, started_at, t0, error, duration
                )
            if end.code == 0:
                return self._result(spec, TrialStatus.OK, 0, started_at, t0, None, duration)
            return self._result(
                spec,
                TrialStatus.FAILED,
                end.code,
                started_at,
                t0,
                f"exit code {end.code}",
                duration,
            )
        if state == "COMPLETED":
            return self._result(spec, TrialStatus.OK, 0, started_at, t0, None, duration)
        if state == "TIMEOUT":
            code = end.code if end is not None else None  # Slurm's 0:0 is not the command's
            error = "Slurm time limit reached (TIMEOUT)"
            return self._result(spec, TrialStatus.TIMEOUT, code, started_at, t0, error, duration)
        if state == "FAILED" and returncode not in (None, 0):
            reason = f"exit code {returncode} (FAILED)"
        else:
            known = _FAILED_REASONS.get(state)
            reason = f"{known} ({state})" if known else f"Slurm state {state}"
            if state != "FAILED":
                returncode = end.code if end is not None else None
        return self._result(spec, TrialStatus.FAILED, returncode, started_at, t0, reason, duration)

    @staticmethod
    def _result(
        spec: TrialSpec,
        status: TrialStatus,
        returncode: int | None,
        started_at: float,
        t0: float,
        error: str | None = None,
        duration_s: float | None = None,
    ) -> TrialResult:
        cwd = spec.cwd.absolute()
        cwd.mkdir(parents=True, exist_ok=True)  # a trial may have removed its own folder
        for name in ("stdout.txt", "stderr.txt"):
            (cwd / name).touch()
        return TrialResult(
            status,
            returncode,
            time.monotonic() - t0 if duration_s is None else duration_s,
            started_at,
            cwd / "stdout.txt",
            cwd / "stderr.txt",
            error,
        )


def _argument_too_long(argv: Sequence[str]) -> str | None:
    """Why the job's shell could not start ``argv``: Linux refuses to exec any single
    argument longer than ``MAX_ARG_STRLEN``, and the script's shell then exits 126 with
    no word in the trial's row. ``None`` when every argument fits."""
    for i, arg in enumerate(argv):
        size = len(os.fsencode(arg)) + 1
        if size > MAX_ARG_STRLEN:
            return (
                f"argument {i} of the command is {size - 1} bytes; Linux refuses to start a "
                f"command with an argument over {MAX_ARG_STRLEN - 1} bytes (MAX_ARG_STRLEN): "
                "pass a value that large in a file"
            )
    return None


def _sbatch(script: Path) -> subprocess.CompletedProcess[str]:
    """``sbatch --parsable script``, in a session of its own so that a Ctrl-C in the
    terminal does not cut it off after the controller took the job. Interrupted here, it
    is let finish (up to 30 s) and the job it submitted is cancelled before re-raising:
    otherwise the job, its id never read, would run on."""
    argv = ["sbatch", "--parsable", str(script)]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate()
    except BaseException:
        with contextlib.suppress(Exception):
            out, _ = proc.communicate(timeout=30)
            if proc.returncode == 0 and (job_id := out.strip().split(";")[0]):
                scancel(job_id)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def _one_line(stderr: str) -> str:
    """sbatch's error lines, without their ``sbatch: error:`` prefixes, on one line."""
    lines = []
    for line in stderr.splitlines():
        text = line.strip()
        for prefix in ("sbatch: error:", "sbatch:"):
            if text.startswith(prefix):
                text = text[len(prefix) :].strip()
        if text and text not in lines:
            lines.append(text)
    return "; ".join(lines) or "no reason given"
