"""The Slurm commands the Slurm runner runs (``squeue``, ``sacct``, ``scancel``) and what
their answers mean, each bounded in time: a controller that does not answer is ``None``,
never a hang."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from tunegym.errors import TunegymError
from tunegym.procgroup import on_death

ACTIVE_STATES = {
    "PENDING",
    "CONFIGURING",
    "RUNNING",
    "COMPLETING",
    "REQUEUED",
    "REQUEUE_FED",
    "REQUEUE_HOLD",
    "RESIZING",
    "SUSPENDED",
    "STAGE_OUT",
    "SIGNALING",
    "STOPPED",
}
"""Slurm states in which a job may still run (or run again): not final."""

JOB_ID_NAME = "slurm_job"
"""The trial folder's record of the job (``J``, or ``J_i`` for an array task) that runs it."""

LEFT_OVER_WAIT_S = 60.0
"""How long a job left running in a trial folder may take to end after ``scancel``."""

_CLIENT_ENV = ("PATH", "HOME", "USER", "LOGNAME", "LANG")
"""What the watchdog's ``scancel`` keeps of this process's environment, besides ``SLURM_*``."""


def scancel(job_id: str) -> None:
    """``scancel job_id`` (a job, or one array task ``J_i``); one that already ended is no
    error."""
    with contextlib.suppress(FileNotFoundError, subprocess.TimeoutExpired):
        subprocess.run(["scancel", job_id], capture_output=True, check=False, timeout=30)


def _run_quietly(argv: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=60)
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None


def squeue_states(job_id: str) -> dict[str, tuple[str, int | None]] | None:
    """``{task: (state, code)}`` for every task squeue still lists, finished ones included
    (``-t all``); the code is decoded from the wait status squeue prints. ``{}`` when
    Slurm no longer knows the job; ``None`` when squeue could not answer (the controller
    unreachable: the job may well be running)."""
    proc = _run_quietly(
        ["squeue", "-h", "-t", "all", "-r", "-j", job_id, "-O", "JobArrayID:|,State:|,exit_code:|"]
    )
    states: dict[str, tuple[str, int | None]] = {}
    if proc is None:
        return None
    if proc.returncode != 0:
        return states if "Invalid job id" in proc.stderr else None
    for line in proc.stdout.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 3 and parts[0] and parts[1]:
            status = int(parts[2]) if parts[2].isdigit() else None
            code = None if status is None else _decode_wait_status(status)
            states[parts[0]] = (parts[1].split()[0], code)
    return states


def _decode_wait_status(status: int) -> int | None:
    if status & 0x7F:
        return -(status & 0x7F)
    return status >> 8


def sacct_states(job_id: str) -> dict[str, tuple[str, int | None]] | None:
    """``{task: (state, code)}`` from sacct; ``None`` when sacct is missing or disabled."""
    proc = _run_quietly(["sacct", "-j", job_id, "-X", "-n", "-P", "-o", "JobID,State,ExitCode"])
    if proc is None:
        return None
    if proc.returncode != 0:
        return None if "disabled" in proc.stderr or not proc.stderr else {}
    states: dict[str, tuple[str, int | None]] = {}
    for line in proc.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) >= 3:
            states[parts[0]] = (parts[1].split()[0], _sacct_code(parts[2]))
    return states


def _sacct_code(text: str) -> int | None:
    """sacct's ``code:signal``: the code, ``-signal`` when a signal ended it."""
    code, _, sig = text.partition(":")
    if sig.isdigit() and int(sig):
        return -int(sig)
    return int(code) if code.isdigit() else None


def cancel_on_death(key: str, jobs: Iterable[str]) -> None:
    """Have tunegym's watchdog ``scancel`` ``jobs`` should tunegym die (``kill -9``) before
    it sees them end; each call replaces ``key``'s jobs, none clears them. A batch job
    outlives the process that submitted it, and nobody would record what it measures."""
    ids = sorted(jobs)
    env = {k: v for k, v in os.environ.items() if k.startswith("SLURM_") or k in _CLIENT_ENV}
    on_death(key, ["scancel", *ids] if ids else None, env)


def record_job(folder: Path, job_id: str) -> None:
    """Note in the trial folder which job runs it (see :func:`stop_left_over_job`)."""
    with contextlib.suppress(OSError):  # a trial may remove its own folder
        (folder / JOB_ID_NAME).write_text(job_id + "\n")


def stop_left_over_job(folder: Path) -> str | None:
    """Cancel the job recorded in ``folder`` should it still be queued or running (a
    tunegym killed before it could cancel it, now resumed into the same folder), and wait
    for it to end, so that two jobs never run one trial at once. Returns its id, or
    ``None`` when there was none to stop (or squeue cannot say: the controller down)."""
    try:
        job_id = (folder / JOB_ID_NAME).read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    stopped = None
    deadline = time.monotonic() + LEFT_OVER_WAIT_S
    while job_id and time.monotonic() < deadline:
        states = squeue_states(job_id)
        if not states or all(state not in ACTIVE_STATES for state, _ in states.values()):
            break
        if stopped is None:
            scancel(job_id)
            stopped = job_id
        time.sleep(0.5)
    else:
        if stopped is not None:
            raise TunegymError(
                f"Slurm job {job_id}, left running in {folder} by an earlier tunegym, did not "
                f"end within {LEFT_OVER_WAIT_S:g} s of scancel; cancel it and resume again"
            )
    with contextlib.suppress(OSError):
        (folder / JOB_ID_NAME).unlink()
    return stopped
