"""``SlurmRunner``: each trial is an sbatch job; ``batch`` mode makes one job array.

A trial becomes ``<trial folder>/sbatch.sh``: ``#SBATCH`` lines from ``[slurm]``, the
environment overlay as ``export`` lines, and the command (every argument quoted with
:func:`shlex.quote`, so no value is ever interpreted by the shell), then the exit code is
written to ``<trial folder>/exitcode``. The job is submitted with ``sbatch --parsable``
and polled with ``sacct`` (falling back to ``squeue`` plus the exit-code file when
``sacct`` is missing or does not know the job yet). Slurm's final states map to trial
statuses: COMPLETED -> ok (or failed on a non-zero exit), FAILED, CANCELLED,
OUT_OF_MEMORY, NODE_FAIL -> failed (with the reason), TIMEOUT -> timeout. An interrupt
(Ctrl-C) runs ``scancel`` on the job before re-raising. ``dry_run`` writes the scripts
and submits nothing.

In batch mode, the trials dispatched together (the parallel loop dispatches a whole grid
at once) are gathered for ``batch_window_s`` and submitted as one job array whose tasks
each run one trial folder's script.
"""

from __future__ import annotations

import contextlib
import math
import shlex
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from tunegym.errors import TunegymError
from tunegym.runners.base import Runner, RunnerContext, TrialResult, TrialSpec, TrialStatus
from tunegym.spec.models import SlurmSpec

SCRIPT_NAME = "sbatch.sh"
EXITCODE_NAME = "exitcode"
ACTIVE_STATES = {
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "REQUEUED",
    "RESIZING",
    "SUSPENDED",
    "STAGE_OUT",
}
_FAILED_REASONS = {
    "FAILED": "the job failed",
    "CANCELLED": "the job was cancelled",
    "OUT_OF_MEMORY": "the job ran out of memory",
    "NODE_FAIL": "a node of the job failed",
    "PREEMPTED": "the job was preempted",
    "BOOT_FAIL": "the job's node failed to boot",
    "DEADLINE": "the job missed its deadline",
}
# With only squeue, how many polls a job may be missing with no exit-code file yet.
_VANISHED_POLLS = 3


def slurm_time(spec: SlurmSpec, timeout_s: float | None) -> str | None:
    """``--time``: the table's value, else the workload timeout rounded up to minutes."""
    if spec.time:
        return spec.time
    if timeout_s is None:
        return None
    minutes = max(1, math.ceil(timeout_s / 60))
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def sbatch_header(spec: SlurmSpec, name: str, timeout_s: float | None) -> list[str]:
    lines = [f"#SBATCH --job-name={name}", f"#SBATCH --nodes={spec.nodes}"]
    if spec.partition:
        lines.append(f"#SBATCH --partition={spec.partition}")
    if spec.account:
        lines.append(f"#SBATCH --account={spec.account}")
    time_limit = slurm_time(spec, timeout_s)
    if time_limit:
        lines.append(f"#SBATCH --time={time_limit}")
    if spec.gpus is not None:
        lines.append(f"#SBATCH --gpus-per-node={spec.gpus}")
    lines += [f"#SBATCH {line}" for line in spec.extra_sbatch]
    return lines


def command_line(spec: SlurmSpec, argv: Sequence[str]) -> str:
    prefix = list(spec.srun_prefix)
    if spec.container_image:
        prefix = prefix or ["srun"]
        prefix.append(f"--container-image={spec.container_image}")
        if spec.container_mounts:
            prefix.append(f"--container-mounts={','.join(spec.container_mounts)}")
    return shlex.join([*prefix, *argv])


def trial_script(spec: SlurmSpec, trial: TrialSpec, name: str) -> str:
    """The sbatch script of one trial (also the body each array task runs)."""
    cwd = trial.cwd
    lines = [
        "#!/bin/bash",
        *sbatch_header(spec, name, trial.timeout_s),
        f"#SBATCH --chdir={cwd}",
        f"#SBATCH --output={cwd / 'stdout.txt'}",
        f"#SBATCH --error={cwd / 'stderr.txt'}",
        "",
        f"cd {shlex.quote(str(cwd))}",
        *(f"export {key}={shlex.quote(value)}" for key, value in sorted(trial.env.items())),
        command_line(spec, trial.argv),
        "code=$?",
        f"echo $code > {shlex.quote(str(cwd / EXITCODE_NAME))}",
        "exit $code",
        "",
    ]
    return "\n".join(lines)


def array_script(spec: SlurmSpec, trials: Sequence[TrialSpec], name: str, folder: Path) -> str:
    """One job array: task ``i`` runs the script of ``trials[i]`` with its own output files."""
    timeouts = [t.timeout_s for t in trials if t.timeout_s is not None]
    lines = [
        "#!/bin/bash",
        *sbatch_header(spec, name, max(timeouts) if timeouts else None),
        f"#SBATCH --array=0-{len(trials) - 1}",
        f"#SBATCH --output={folder / 'array-%a.out'}",
        "",
        'case "$SLURM_ARRAY_TASK_ID" in',
    ]
    for i, trial in enumerate(trials):
        script = shlex.quote(str(trial.cwd / SCRIPT_NAME))
        out = shlex.quote(str(trial.cwd / "stdout.txt"))
        err = shlex.quote(str(trial.cwd / "stderr.txt"))
        lines.append(f"  {i}) bash {script} > {out} 2> {err} ;;")
    lines += ["esac", ""]
    return "\n".join(lines)


@dataclass
class _Batch:
    specs: list[TrialSpec] = field(default_factory=list)
    results: dict[int, TrialResult] = field(default_factory=dict)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None


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
        self._lock = threading.Lock()
        self._batch: _Batch | None = None
        self._batch_count = 0

    # -- one trial -----------------------------------------------------------------------
    def run(self, spec: TrialSpec) -> TrialResult:
        started_at, t0 = time.time(), time.monotonic()
        script = spec.cwd / SCRIPT_NAME
        script.write_text(trial_script(self.spec, spec, f"{self.job_name}-{spec.cwd.name}"))
        (spec.cwd / EXITCODE_NAME).unlink(missing_ok=True)
        if self.dry_run:
            for name in ("stdout.txt", "stderr.txt"):
                (spec.cwd / name).touch()
            return self._result(spec, TrialStatus.OK, 0, started_at, t0)
        if self.spec.batch:
            return self._run_in_batch(spec)
        job_id, error = self._submit(script)
        if job_id is None:
            return self._result(spec, TrialStatus.FAILED, None, started_at, t0, error)
        state, returncode = self._wait(job_id, [spec.cwd])[0]
        return self._finish(spec, state, returncode, started_at, t0)

    # -- batch mode ------------------------------------------------------------------------
    def _run_in_batch(self, spec: TrialSpec) -> TrialResult:
        with self._lock:
            if self._batch is None:
                self._batch = _Batch()
                threading.Thread(
                    target=self._submit_batch_later, args=(self._batch,), daemon=True
                ).start()
            batch = self._batch
            index = len(batch.specs)
            batch.specs.append(spec)
        batch.done.wait()
        if batch.error is not None:
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
            batch.error = exc
        finally:
            batch.done.set()

    def _run_array(self, batch: _Batch) -> None:
        started_at, t0 = time.time(), time.monotonic()
        self._batch_count += 1
        folder = batch.specs[0].cwd.parent
        script = folder / f"array-{self._batch_count}.sbatch.sh"
        name = f"{self.job_name}-array{self._batch_count}"
        script.write_text(array_script(self.spec, batch.specs, name, folder))
        job_id, error = self._submit(script)
        if job_id is None:
            for i, spec in enumerate(batch.specs):
                batch.results[i] = self._result(
                    spec, TrialStatus.FAILED, None, started_at, t0, error
                )
            return
        outcomes = self._wait(job_id, [s.cwd for s in batch.specs], array=True)
        for i, (spec, (state, code)) in enumerate(zip(batch.specs, outcomes, strict=True)):
            batch.results[i] = self._finish(spec, state, code, started_at, t0)

    # -- Slurm commands ---------------------------------------------------------------------
    def _submit(self, script: Path) -> tuple[str | None, str]:
        """``(job id, "")``, or ``(None, why)`` when sbatch refused the script."""
        try:
            proc = subprocess.run(
                ["sbatch", "--parsable", str(script)], capture_output=True, text=True, check=False
            )
        except FileNotFoundError:
            raise TunegymError(
                "sbatch not found on PATH: run on a Slurm login node, or use --dry-run to "
                "only write the sbatch scripts"
            ) from None
        if proc.returncode != 0:
            return None, f"sbatch failed ({proc.returncode}): {proc.stderr.strip()}"
        job_id = proc.stdout.strip().split(";")[0]
        with self._lock:
            self._active.add(job_id)
        return job_id, ""

    def _wait(
        self, job_id: str, folders: Sequence[Path], array: bool = False
    ) -> list[tuple[str, int | None]]:
        """Poll until every task is final; ``(state, returncode)`` per folder."""
        ids = [f"{job_id}_{i}" for i in range(len(folders))] if array else [job_id]
        final: dict[str, tuple[str, int | None]] = {}
        vanished: dict[str, int] = {}
        try:
            while len(final) < len(ids):
                time.sleep(self.spec.poll_interval_s)
                states = _sacct(job_id)
                for task, folder in zip(ids, folders, strict=True):
                    if task in final:
                        continue
                    state = states.get(task) if states is not None else None
                    if state is None:
                        state = _squeue_state(task) or _from_exitcode_file(folder)
                        if state is None:
                            vanished[task] = vanished.get(task, 0) + 1
                            if vanished[task] >= _VANISHED_POLLS:
                                final[task] = ("UNKNOWN", None)
                            continue
                    name, code = state
                    if name.split()[0] not in ACTIVE_STATES:
                        file_state = _from_exitcode_file(folder)  # the command's own code
                        final[task] = (name.split()[0], file_state[1] if file_state else code)
        except BaseException:
            self._cancel(job_id)
            raise
        finally:
            with self._lock:
                self._active.discard(job_id)
        return [final[task] for task in ids]

    def _cancel(self, job_id: str) -> None:
        with contextlib.suppress(FileNotFoundError, subprocess.TimeoutExpired):
            subprocess.run(["scancel", job_id], capture_output=True, check=False, timeout=30)

    def cancel_all(self) -> None:
        with self._lock:
            jobs = list(self._active)
        for job_id in jobs:
            self._cancel(job_id)

    # -- results ----------------------------------------------------------------------------
    def _finish(
        self, spec: TrialSpec, state: str, returncode: int | None, started_at: float, t0: float
    ) -> TrialResult:
        if state == "COMPLETED":
            if returncode in (0, None):
                return self._result(spec, TrialStatus.OK, 0, started_at, t0)
            return self._result(
                spec, TrialStatus.FAILED, returncode, started_at, t0, f"exit code {returncode}"
            )
        if state == "TIMEOUT":
            return self._result(
                spec, TrialStatus.TIMEOUT, returncode, started_at, t0, "Slurm time limit reached"
            )
        reason = _FAILED_REASONS.get(state, f"Slurm state {state}")
        return self._result(
            spec, TrialStatus.FAILED, returncode, started_at, t0, f"{reason} ({state})"
        )

    @staticmethod
    def _result(
        spec: TrialSpec,
        status: TrialStatus,
        returncode: int | None,
        started_at: float,
        t0: float,
        error: str | None = None,
    ) -> TrialResult:
        for name in ("stdout.txt", "stderr.txt"):
            (spec.cwd / name).touch()
        return TrialResult(
            status,
            returncode,
            time.monotonic() - t0,
            started_at,
            spec.cwd / "stdout.txt",
            spec.cwd / "stderr.txt",
            error,
        )


def _sacct(job_id: str) -> dict[str, tuple[str, int | None]] | None:
    """``{job id: (state, exit code)}`` from sacct; ``None`` when sacct is unavailable."""
    try:
        proc = subprocess.run(
            ["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "JobID,State,ExitCode"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    states: dict[str, tuple[str, int | None]] = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 3:
            code = parts[2].split(":")[0]
            states[parts[0]] = (parts[1], int(code) if code.isdigit() else None)
    return states


def _squeue_state(job_id: str) -> tuple[str, int | None] | None:
    try:
        proc = subprocess.run(
            ["squeue", "-h", "-j", job_id, "-o", "%T"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    state = proc.stdout.strip()
    return (state, None) if proc.returncode == 0 and state else None


def _from_exitcode_file(folder: Path) -> tuple[str, int | None] | None:
    path = folder / EXITCODE_NAME
    try:
        code = int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return ("COMPLETED" if code == 0 else "FAILED", code)
