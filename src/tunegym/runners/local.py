"""Run a trial as a local subprocess, or only write down what would run.

:class:`LocalRunner` gives every trial its own session and process group, so a timeout
or an interrupt can take down everything the trial started, grandchildren included.
Waiting is event-driven: on Linux a pidfd is polled with the remaining timeout, so the
runner costs little more than a bare :func:`subprocess.run`.
"""

from __future__ import annotations

import math
import os
import select
import shlex
import signal
import subprocess
import threading
import time
from typing import Any, ClassVar

from pydantic import BaseModel

from tunegym.procgroup import signal_group, wait_group_gone
from tunegym.runners.base import Runner, RunnerContext, TrialResult, TrialSpec, TrialStatus

STDOUT_NAME = "stdout.txt"
STDERR_NAME = "stderr.txt"
COMMAND_NAME = "command.txt"

_INTERRUPT_GRACE_S = 1.0
"""Grace between SIGTERM and SIGKILL when the runner itself is interrupted (Ctrl-C)."""

_REAP_WAIT_S = 2.0
"""How long to wait, after SIGKILL, for the group's processes to actually be gone."""

_pidfd_supported = hasattr(os, "pidfd_open")


class LocalRunner:
    """Execute a :class:`TrialSpec` as a subprocess of this process.

    Contract:

    - ``argv`` is executed directly (no shell) in a new session, hence its own process
      group; ``cwd`` is the trial folder; stdin is ``/dev/null``; stdout and stderr go to
      ``cwd/stdout.txt`` and ``cwd/stderr.txt`` (truncated first); the environment is
      ``os.environ`` overlaid with ``spec.env``.
    - Exit code 0 is ``"ok"``; any other is ``"failed"`` with that returncode (negative for
      a signal). A command that cannot start (not found, not executable) is ``"failed"``
      with returncode ``None``; the reason is in ``error`` and in ``stderr.txt``.
    - After ``timeout_s`` the whole process group gets SIGTERM, then SIGKILL once
      ``kill_grace_s`` has passed with any member still alive; the status is ``"timeout"``
      and the returncode is the leader's (usually ``-SIGTERM`` or ``-SIGKILL``).
    - When the leader exits on its own, whatever it left behind in its group gets SIGTERM,
      then SIGKILL after the grace period: no process of a trial outlives :meth:`run`.
    - If waiting is interrupted (``KeyboardInterrupt`` or any other ``BaseException``),
      the group is terminated with a short grace, the leader reaped, and the exception
      re-raised.
    """

    Settings: ClassVar[type[BaseModel] | None] = None
    """The local runner has no ``[local]`` table."""

    def __init__(self) -> None:
        self._active: set[int] = set()
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any, context: RunnerContext) -> Runner:
        """A runner for one job: a :class:`DryRunRunner` when nothing is to execute."""
        return DryRunRunner() if context.dry_run else cls()

    @classmethod
    def dispatches_whole_grid(cls, settings: Any) -> bool:
        return False

    def cancel_all(self) -> None:
        """Kill the process group of every trial running now (from another thread).

        Used when a parallel run is interrupted: each :meth:`run` call then returns, and
        its own clean-up reaps what is left of its group.
        """
        with self._lock:
            groups = list(self._active)
        for pgid in groups:
            signal_group(pgid, signal.SIGKILL)

    def run(self, spec: TrialSpec) -> TrialResult:
        """Run ``spec`` to completion and report what happened; see the class docstring."""
        cwd = spec.cwd
        stdout_path = cwd / STDOUT_NAME
        stderr_path = cwd / STDERR_NAME
        env = {**os.environ, **spec.env} if spec.env else None
        started_at = time.time()
        t0 = time.monotonic()
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            try:
                proc = subprocess.Popen(
                    spec.argv,
                    cwd=cwd,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=err,
                    start_new_session=True,
                )
            except OSError as exc:
                message = _start_error(spec.argv[0], exc)
                err.write(f"tunegym: {message}\n".encode())
                return TrialResult(
                    status=TrialStatus.FAILED,
                    returncode=None,
                    duration_s=time.monotonic() - t0,
                    started_at=started_at,
                    stdout_path=stdout_path,
                    stderr_path=stderr_path,
                    error=message,
                )
            # From here on the trial's group is ours to clean up, whatever happens.
            pidfd: int | None = None
            with self._lock:
                self._active.add(proc.pid)
            try:
                pidfd = _open_pidfd(proc.pid)
                exited = _wait_exit(proc, pidfd, spec.timeout_s)
                _sweep_group(proc, pidfd, spec.kill_grace_s)
            except BaseException:
                _sweep_group(proc, pidfd, min(spec.kill_grace_s, _INTERRUPT_GRACE_S))
                raise
            finally:
                with self._lock:
                    self._active.discard(proc.pid)
                if pidfd is not None:
                    os.close(pidfd)
        duration = time.monotonic() - t0
        returncode = proc.returncode
        status: TrialStatus
        if not exited:
            status, error = TrialStatus.TIMEOUT, f"timed out after {spec.timeout_s} s"
        elif returncode == 0:
            status, error = TrialStatus.OK, None
        else:
            status, error = TrialStatus.FAILED, _exit_error(returncode)
        return TrialResult(
            status=status,
            returncode=returncode,
            duration_s=duration,
            started_at=started_at,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
            error=error,
        )


class DryRunRunner:
    """Write ``cwd/command.txt`` and execute nothing.

    ``command.txt`` holds one ``KEY=value`` line per variable of the env overlay (values
    shell-quoted) followed by the argv joined with :func:`shlex.join`, so it can be pasted
    into a shell. Empty ``stdout.txt`` and ``stderr.txt`` are created so later stages can
    read them. The result is ``"ok"`` with returncode 0 and duration 0.
    """

    def cancel_all(self) -> None:
        """Nothing runs: nothing to stop."""

    def run(self, spec: TrialSpec) -> TrialResult:
        """Record ``spec`` in ``command.txt``; see the class docstring."""
        started_at = time.time()
        lines = [f"{key}={shlex.quote(value)}" for key, value in spec.env.items()]
        lines.append(shlex.join(spec.argv))
        (spec.cwd / COMMAND_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
        stdout_path = spec.cwd / STDOUT_NAME
        stderr_path = spec.cwd / STDERR_NAME
        stdout_path.write_bytes(b"")
        stderr_path.write_bytes(b"")
        return TrialResult(
            status=TrialStatus.OK,
            returncode=0,
            duration_s=0.0,
            started_at=started_at,
            stdout_path=stdout_path,
            stderr_path=stderr_path,
        )


def _start_error(command: str, exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {command}"
    if isinstance(exc, PermissionError):
        return f"permission denied (not executable?): {command}"
    return f"cannot execute {command}: {exc.strerror or exc}"


def _exit_error(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


def _open_pidfd(pid: int) -> int | None:
    """A pidfd for ``pid``, or ``None`` where the OS has none (then we fall back)."""
    global _pidfd_supported
    if not _pidfd_supported:
        return None
    try:
        return os.pidfd_open(pid)
    except OSError:
        _pidfd_supported = False
        return None


def _wait_exit(proc: subprocess.Popen[bytes], pidfd: int | None, timeout: float | None) -> bool:
    """Wait until the leader exits or ``timeout`` passes; return whether it exited.

    With a pidfd the leader is left unreaped (a zombie still holds its pid, so its group
    id cannot be reused while we signal the group); the fallback reaps it.
    """
    if timeout is not None and timeout <= 0:
        return proc.poll() is not None
    if pidfd is not None:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        ms = None if timeout is None else math.ceil(timeout * 1000)
        return bool(poller.poll(ms))
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


def _sweep_group(proc: subprocess.Popen[bytes], pidfd: int | None, grace: float) -> None:
    """Leave no process of the trial's group alive, and the leader reaped.

    SIGTERM to the group (a zombie leader ignores it), then wait up to ``grace`` for the
    leader to exit and the rest of the group to be gone. Unless the group is then empty,
    SIGKILL it, in a ``finally`` so a second interrupt cannot skip it, and wait briefly
    until the kill has taken effect. Idempotent.
    """
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    clean = False
    try:
        signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        if proc.returncode is None and _wait_exit(proc, pidfd, grace):
            proc.wait()
        if proc.returncode is not None:
            clean = wait_group_gone(pgid, deadline)
    finally:
        if not clean:
            signal_group(pgid, signal.SIGKILL)
            proc.wait()
            wait_group_gone(pgid, time.monotonic() + _REAP_WAIT_S)
