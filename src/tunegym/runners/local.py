"""Run a trial as a local subprocess, or only write down what would run.

:class:`LocalRunner` gives every trial its own session and process group, so a timeout
or an interrupt can take down everything the trial started, grandchildren included; a
trial process that leaves the group (``setsid``, a daemon's double fork) is found through
its trial tag and tunegym's subreaper, and a watchdog takes the trial's processes down
if tunegym itself is killed (:mod:`tunegym.procgroup`). Waiting is event-driven: on Linux
a pidfd is polled with the remaining timeout, so the runner costs little more than a bare
:func:`subprocess.run`.
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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any, ClassVar

from pydantic import BaseModel

from tunegym.errors import os_reason
from tunegym.procgroup import (
    TAG_VARIABLE,
    Proc,
    adopted,
    descendants,
    environ_has,
    has_children,
    process_table,
    reap,
    set_child_subreaper,
    signal_group,
    signal_pids,
    start_watchdog,
    tag_prefix,
    tagged,
    wait_group_gone,
)
from tunegym.runners.base import (
    Runner,
    RunnerContext,
    StopSignal,
    TrialResult,
    TrialSpec,
    TrialStatus,
)
from tunegym.runners.local_resources import (
    CPU_VARIABLE,
    GPU_VARIABLE,
    Lease,
    LocalResources,
    PoolCancelled,
    available_cpus,
)
from tunegym.spec.models import LocalSpec, WorkloadSpec

STDOUT_NAME = "stdout.txt"
STDERR_NAME = "stderr.txt"
COMMAND_NAME = "command.txt"

_INTERRUPT_GRACE_S = 1.0
"""Grace between SIGTERM and SIGKILL when the runner itself is interrupted (Ctrl-C)."""

_STOP_GRACE_S = 0.5
"""Grace between SIGTERM and SIGKILL when the env stops a trial (pruned, budget spent)."""

_REAP_WAIT_S = 2.0
"""How long to wait, after SIGKILL, for the group's processes to actually be gone."""

_pidfd_supported = hasattr(os, "pidfd_open")
_POLL_MAX_MS = 2**31 - 1
"""poll() takes a C int of milliseconds; longer timeouts wait in slices."""


class _Trials:
    """Process-wide book of running local trials: their leaders (children we started, as
    opposed to orphans the subreaper adopted), the subreaper switched on while any runs,
    and each trial's tag."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.leaders: set[int] = set()
        self.running = 0
        self.subreaper = False
        self.started = 0
        self.sole: int | None = None
        """The serial of a trial that started alone in a process with no other child, as
        long as no other trial has started since: every orphan adopted then is its own."""
        self.guard = True
        """Watchdog and subreaper on (the default); off only to measure what they cost
        (benchmarks/bench_trial_overhead.py)."""
        self.before: frozenset[int] = frozenset()
        """The children this process had when the first of the running trials started:
        what is adopted later, and outlives them all, can only be theirs."""

    def enter(self) -> tuple[str, int]:
        """Count a trial in (the first one starts the watchdog, and the subreaper while
        any runs); its tag and serial. Pair with :meth:`leave`."""
        watched = self.guard and start_watchdog()
        with self.lock:
            self.started += 1
            serial = self.started
            self.running += 1
            if self.running == 1:
                if watched:
                    self.subreaper = set_child_subreaper(True)
                alone = not has_children()
                self.sole = serial if watched and alone else None
                self.before = frozenset() if alone else frozenset(adopted(process_table(), ()))
            else:
                self.sole = None
        return f"{tag_prefix()}{serial}", serial

    def leave(self) -> None:
        """Count a trial out. The last one out ends what the trials left that no tag
        tells apart (``setsid env -i daemon`` under ``--parallel``, where no orphan can be
        given to one trial): every orphan adopted since the first started."""
        with self.lock:
            self.running -= 1
            last = self.running == 0 and self.subreaper
        if not last:
            return
        _end_escaped(_LeftByTrials(self.before), signal.SIGKILL, time.monotonic() + _REAP_WAIT_S)
        with self.lock:
            if self.running == 0 and self.subreaper:
                set_child_subreaper(False)
                self.subreaper = False


_trials = _Trials()


class TrialCancelled(RuntimeError):
    """:meth:`LocalRunner.run` after :meth:`LocalRunner.cancel_all`: the run is being
    interrupted, so the trial was not started."""


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
      On Linux that includes processes that left the group (``setsid``, daemons): the
      environment also holds ``TUNEGYM_TRIAL_TAG`` (unique per trial), and while trials
      run tunegym is a child subreaper, so such orphans come back to it and are found by
      their tag. A watchdog process kills tagged processes if tunegym dies without
      cleaning up (``kill -9``); see :mod:`tunegym.procgroup` for the limits.
    - If waiting is interrupted (``KeyboardInterrupt`` or any other ``BaseException``),
      the group is terminated with a short grace, the leader reaped, and the exception
      re-raised.
    - With ``resources`` (the workload's ``[local]`` table), each trial first takes its
      share of the pool (waiting while none is free): GPUs as ``CUDA_VISIBLE_DEVICES``,
      CPUs as its CPU affinity (``TUNEGYM_CPUS`` names them); the share is returned when
      the trial ends, whatever the outcome.
    """

    Settings: ClassVar[type[BaseModel] | None] = LocalSpec
    """The ``[local]`` table: the resource pool trials share."""

    def __init__(self, resources: LocalResources | None = None) -> None:
        self._active: set[int] = set()
        self._lock = threading.Lock()
        self._cancelled = False
        self.resources = resources

    @classmethod
    def from_settings(cls, settings: LocalSpec, context: RunnerContext) -> Runner:
        """A runner for one job with the pool ``[local]`` declares; a
        :class:`DryRunRunner` when nothing is to execute."""
        if context.dry_run:
            return DryRunRunner()
        return cls(LocalResources.from_spec(settings))

    @classmethod
    def dispatches_whole_grid(cls, settings: Any) -> bool:
        return False

    @classmethod
    def settings_problems(cls, w: WorkloadSpec) -> Iterator[tuple[tuple[str | int, ...], str]]:
        """``[local]``: CPUs this machine has, and no ``[env]`` entry the pool overwrites
        (checked when the spec is loaded; field paths from the workload's top)."""
        pool = w.local
        if pool.gpus and GPU_VARIABLE in w.env:
            yield (
                ("env", GPU_VARIABLE),
                f"{GPU_VARIABLE} is set per trial from [local] gpus; drop it from [env]",
            )
        if pool.cpus_per_trial is None:
            if pool.cpus is not None:
                yield (
                    ("local", "cpus"),
                    "cpus is the pool cpus_per_trial takes from; set cpus_per_trial",
                )
            return
        if CPU_VARIABLE in w.env:
            yield ("env", CPU_VARIABLE), f"{CPU_VARIABLE} is set per trial from [local]; drop it"
        if w.runner != "local":
            return  # the pool is the local runner's; another machine's CPUs are unknown here
        usable = available_cpus()
        foreign = sorted(set(pool.cpus or ()) - usable)
        if foreign:
            yield (
                ("local", "cpus"),
                f"CPU(s) {foreign} are not available here (tunegym may use {sorted(usable)})",
            )
        elif pool.cpus is None and pool.cpus_per_trial > len(usable):
            yield (
                ("local", "cpus_per_trial"),
                f"{pool.cpus_per_trial} CPUs per trial, but tunegym may use {len(usable)} here",
            )

    def cancel_all(self) -> None:
        """Kill the process group of every trial running now (from another thread), and
        start no trial after this (one waiting for its share of the resource pool gives up
        with :class:`TrialCancelled`).

        Used when a parallel run is interrupted, or its env closed: each :meth:`run` call
        then returns, and its own clean-up reaps what is left of its group.
        """
        with self._lock:
            self._cancelled = True
            groups = list(self._active)
        if self.resources is not None:
            self.resources.cancel()
        for pgid in groups:
            signal_group(pgid, signal.SIGKILL)

    def _stop_trial(self, pgid: int, stop: StopSignal) -> None:
        """The env asked to stop this trial (``spec.stop``): SIGTERM to its group now,
        SIGKILL :data:`_STOP_GRACE_S` later if its leader is still being waited for (the
        leader stays unreaped until then, so the group id cannot have been reused). A
        leader that has already exited ended the trial on its own: the stop came too
        late, and the trial's result stands (what is left of its group is swept as for
        any trial)."""
        if _leader_exited(pgid):
            stop.came_too_late()
            return

        def kill(sig: int) -> None:
            with self._lock:
                if pgid in self._active:
                    signal_group(pgid, sig)

        kill(signal.SIGTERM)
        timer = threading.Timer(_STOP_GRACE_S, kill, args=(signal.SIGKILL,))
        timer.daemon = True
        timer.start()

    def run(self, spec: TrialSpec) -> TrialResult:
        """Run ``spec`` to completion and report what happened; see the class docstring."""
        if self._cancelled:
            raise TrialCancelled("the runner was cancelled; no new trial starts")
        try:
            lease = self.resources.acquire() if self.resources is not None else None
        except PoolCancelled:
            raise TrialCancelled("the runner was cancelled while the trial waited") from None
        try:
            tag, serial = _trials.enter()
            try:
                return self._run(spec, tag, serial, lease)
            finally:
                _trials.leave()
        finally:
            if lease is not None:
                lease.release()

    def _run(self, spec: TrialSpec, tag: str, serial: int, lease: Lease | None) -> TrialResult:
        cwd = spec.cwd
        stdout_path = cwd / STDOUT_NAME
        stderr_path = cwd / STDERR_NAME
        env = {**os.environ, **spec.env, TAG_VARIABLE: tag}
        if lease is not None:
            env.update(lease.env)
        started_at = time.time()
        t0 = time.monotonic()
        with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
            try:
                proc = _spawn(spec, env, out, err, lease.cpus if lease is not None else None)
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
            # From here on the trial's processes are ours to clean up, whatever happens.
            pidfd: int | None = None
            with self._lock:
                self._active.add(proc.pid)
                if self._cancelled:  # cancel_all ran while this trial was starting
                    signal_group(proc.pid, signal.SIGKILL)
            with _trials.lock:
                _trials.leaders.add(proc.pid)
            mine = _Escapees(f"{TAG_VARIABLE}={tag}\0".encode(), serial)
            forget = None
            if spec.stop is not None:
                pid, stop = proc.pid, spec.stop
                forget = stop.on_stop(lambda: self._stop_trial(pid, stop))
            try:
                pidfd = _open_pidfd(proc.pid)
                exited = _wait_exit(proc, pidfd, spec.timeout_s)
                _sweep_trial(proc, pidfd, spec.kill_grace_s, mine)
            except BaseException:
                _sweep_trial(proc, pidfd, min(spec.kill_grace_s, _INTERRUPT_GRACE_S), mine)
                raise
            finally:
                if forget is not None:
                    forget()
                with self._lock:
                    self._active.discard(proc.pid)
                with _trials.lock:
                    _trials.leaders.discard(proc.pid)
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
    return f"cannot execute {command}: {os_reason(exc)}"


def _exit_error(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exit code {returncode}"


def _leader_exited(pid: int) -> bool:
    """Whether the trial leader ``pid`` (our child) has exited, without reaping it."""
    try:
        return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:  # already reaped (the fallback without a pidfd)
        return True


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
        if timeout is None:
            return bool(poller.poll())
        deadline = time.monotonic() + timeout
        while True:
            ms = min(math.ceil((deadline - time.monotonic()) * 1000), _POLL_MAX_MS)
            if poller.poll(max(ms, 0)):
                return True
            if ms < _POLL_MAX_MS:
                return False
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True


@dataclass(frozen=True)
class _Escapees:
    """How to tell a trial's processes that left its group: its tag entry, and whether
    every adopted orphan is its own (it ran alone; see ``_Trials.sole``)."""

    entry: bytes
    serial: int

    def roots(self, table: dict[int, Proc], known: set[int]) -> set[int]:
        """The live processes adopted from this trial: tagged ones; and, when the trial ran
        alone, also untagged ones (``env -i``) outside tunegym's own session (a process
        tunegym's own code started without a new session is never taken for one)."""
        orphans = adopted(table, known)
        if _trials.sole == self.serial and _trials.started == self.serial:
            own_session = os.getsid(0)
            return {p for p in orphans if table[p].alive and table[p].sid != own_session}
        return tagged(table, self.entry, among=orphans)


@dataclass(frozen=True)
class _LeftByTrials:
    """The orphans adopted while trials ran that are still alive when none runs any more
    (see :meth:`_Trials.leave`): not among the children from ``before``, not in tunegym's
    own session, and not a resource server of this process (tagged as one)."""

    before: frozenset[int]

    def roots(self, table: dict[int, Proc], known: set[int]) -> set[int]:
        own_session = os.getsid(0)
        server = f"{TAG_VARIABLE}={tag_prefix()}harness-".encode()
        return {
            p
            for p in adopted(table, known)
            if p not in self.before
            and table[p].alive
            and table[p].sid != own_session
            and not environ_has(p, server)
        }


def _sweep_trial(
    proc: subprocess.Popen[bytes], pidfd: int | None, grace: float, mine: _Escapees
) -> None:
    """Leave no process of the trial alive, and the leader reaped.

    SIGTERM to the group (a zombie leader ignores it), then wait up to ``grace`` for the
    leader to exit and the rest of the group to be gone; then the same for processes that
    left the group (adopted by our subreaper, carrying the trial's ``entry`` tag). Unless
    all are then gone, SIGKILL them, in a ``finally`` so a second interrupt cannot skip it,
    and wait briefly until the kill has taken effect. Idempotent.
    """
    pgid = proc.pid  # start_new_session: the leader's pid is the group id
    deadline = time.monotonic() + grace
    clean = False
    try:
        signal_group(pgid, signal.SIGTERM)
        if proc.returncode is None and _wait_exit(proc, pidfd, grace):
            proc.wait()
        if proc.returncode is not None and wait_group_gone(pgid, deadline):
            clean = _end_escaped(mine, signal.SIGTERM, deadline)
    finally:
        if not clean:
            signal_group(pgid, signal.SIGKILL)
            proc.wait()
            until = time.monotonic() + _REAP_WAIT_S
            wait_group_gone(pgid, until)
            _end_escaped(mine, signal.SIGKILL, until)


def _end_escaped(mine: _Escapees | _LeftByTrials, sig: int, deadline: float) -> bool:
    """Signal the trial's processes that left its group, and their descendants, until none
    is left or ``deadline``; return whether none is left. Costs one syscall when this
    process has no child (nothing was adopted); reads ``/proc`` only otherwise."""
    if not _trials.subreaper:
        return True
    signalled: set[int] = set()
    delay = 0.001
    try:
        while has_children():
            table = process_table()
            with _trials.lock:
                known = set(_trials.leaders)
            roots = mine.roots(table, known)
            alive = {p for p in descendants(table, roots) if table[p].alive}
            # An adopted child that already exited may still have a child of its own that
            # the kernel hands to us only once it is reaped (a daemon's double fork caught
            # halfway): reap those and look again before calling the trial clean.
            exited = {p for p in adopted(table, known) if not table[p].alive}
            if not alive and not exited:
                return True
            _reap_adopted(exited)
            # SIGTERM once per process (then give it time); SIGKILL every round.
            signal_pids(alive if sig == signal.SIGKILL else alive - signalled, sig)
            signalled |= alive
            _reap_adopted(signalled)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            time.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.05)
        return True
    finally:
        _reap_adopted(signalled)


def _reap_adopted(pids: set[int]) -> None:
    """Reap those of ``pids`` that are our exited children, never a trial leader (a reused
    pid must not steal another trial's exit status from its Popen)."""
    with _trials.lock:
        leaders = set(_trials.leaders)
    reap(pids - leaders)


def _spawn(
    spec: TrialSpec,
    env: dict[str, str],
    out: IO[bytes],
    err: IO[bytes],
    cpus: frozenset[int] | None,
) -> subprocess.Popen[bytes]:
    """Start the trial's leader in a new session. With ``cpus``, this thread's CPU
    affinity is set around the start, so the leader inherits the mask from its first
    instruction (no ``preexec_fn``, no race with what it starts)."""
    before = None
    if cpus:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, cpus)
    try:
        return subprocess.Popen(
            spec.argv,
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    finally:
        if before is not None:
            os.sched_setaffinity(0, before)
