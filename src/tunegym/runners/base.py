"""The runner contract: a :class:`TrialSpec` goes in, a :class:`TrialResult` comes out.

This is the only thing that crosses the line between the environment and whatever
executes a trial (a local subprocess, a Ray worker, a Slurm job). A runner never
raises for a trial that fails: a non-zero exit, a missing command or a timeout is data,
reported through :attr:`TrialResult.status`. It raises only for bugs (for example a trial
folder that does not exist) and re-raises interrupts after cleaning up.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from tunegym.trial.status import TrialStatus

__all__ = [
    "Runner",
    "RunnerContext",
    "StopSignal",
    "TrialResult",
    "TrialSpec",
    "TrialStatus",
    "stop_came_too_late_if_ok",
]

SETTLE_S = 10.0
"""The longest :attr:`StopSignal.landed` waits for the runners' callbacks to a stop (a
local signal takes microseconds, a Slurm ``scancel`` a fraction of a second)."""


class StopSignal:
    """A request to stop one running trial now (a pruner's decision, a spent time budget).

    The env that owns the trial calls :meth:`stop`; the runner running it registered a
    callback with :meth:`on_stop` that ends the trial at once (its process group, Slurm
    job or Ray task), and :meth:`run` then returns as it would for any killed trial. The
    env, which asked, records the trial with :attr:`status` (the runner's own status is
    overridden). The first :meth:`stop` wins; later ones change nothing.

    A stop can come too late: the trial's command had already ended on its own (its last
    progress line was read after it exited, or a Slurm job completed between two polls).
    The runner that finds so calls :meth:`came_too_late`, and the trial's own result then
    stands (:attr:`landed` is false): a finished measurement is never thrown away.

    A signal does not cross a process boundary: a pickled copy (a Ray task's spec) is a
    fresh, unset signal, so only the runner in the driver acts on it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._event = threading.Event()
        self._callbacks: list[Callable[[], None]] = []
        self.status: TrialStatus | None = None
        self.reason: str | None = None
        self._settled = threading.Event()  # the runners' callbacks for the stop returned
        self._too_late = False

    def __reduce__(self) -> tuple[Any, ...]:
        return (StopSignal, ())

    @property
    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the signal is set or ``timeout`` passes; whether it is set."""
        return self._event.wait(timeout)

    def stop(self, status: TrialStatus, reason: str) -> bool:
        """Ask the trial to stop, recorded as ``status`` because of ``reason``; whether
        this call set the signal (``False``: it was set before)."""
        with self._lock:
            if self._event.is_set():
                return False
            self.status, self.reason = TrialStatus(status), reason
            self._event.set()
            callbacks = list(self._callbacks)
        try:
            for callback in callbacks:
                callback()
        finally:
            self._settled.set()
        return True

    def came_too_late(self) -> None:
        """The runner's word that the trial had ended on its own before the stop could act
        (see the class docs)."""
        self._too_late = True

    @property
    def landed(self) -> bool:
        """Whether the stop ended the trial: it was set and did not come too late. Waits
        (briefly) for the runners' callbacks to the stop to return, since one of them is
        what finds it too late."""
        if not self._event.is_set():
            return False
        self._settled.wait(SETTLE_S)
        return not self._too_late

    def on_stop(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` when the signal is set (at once when it is already set);
        returns a function that unregisters it (call it when the trial is over)."""
        with self._lock:
            fired = self._event.is_set()
            if not fired:
                self._callbacks.append(callback)
        if fired:
            callback()

        def forget() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return forget


@dataclass(frozen=True)
class RunnerContext:
    """What a job tells the runner it builds (besides the runner's own settings)."""

    job_name: str = "tunegym"
    dry_run: bool = False
    """Execute nothing; write down what would run (``command.txt``, scripts)."""
    parallel: int = 1
    """Trials the job keeps in flight at once."""


@dataclass(frozen=True)
class TrialSpec:
    """One command to execute for one trial.

    ``argv`` is executed directly, never through a shell; ``argv[0]`` is resolved via the
    ``PATH`` of the merged environment (``os.environ`` overlaid with ``env``). ``cwd`` is the
    trial folder, which must exist; the runner writes ``stdout.txt`` and ``stderr.txt``
    there. ``timeout_s`` of ``None`` means no limit. On timeout the runner sends SIGTERM to
    the trial's process group and SIGKILL ``kill_grace_s`` seconds later.

    Lists are accepted for ``argv`` and strings for ``cwd``; they are normalised to a tuple
    and a :class:`~pathlib.Path`. ``env`` is copied, so later changes by the caller do not
    leak in.
    """

    argv: tuple[str, ...]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float | None = None
    kill_grace_s: float = 5.0
    stop: StopSignal | None = field(default=None, compare=False)
    """Set by the env to stop the trial before it ends (see :class:`StopSignal`)."""

    def __post_init__(self) -> None:
        argv = tuple(self.argv)
        if not argv:
            raise ValueError("TrialSpec.argv must hold at least the command")
        for arg in argv:
            if not isinstance(arg, str):
                raise TypeError(f"TrialSpec.argv items must be str, got {type(arg).__name__}")
        if self.kill_grace_s < 0:
            raise ValueError("TrialSpec.kill_grace_s must be >= 0")
        object.__setattr__(self, "argv", argv)
        object.__setattr__(self, "cwd", Path(self.cwd))
        object.__setattr__(self, "env", dict(self.env))


@dataclass(frozen=True)
class TrialResult:
    """What happened when a trial ran.

    ``returncode`` is ``None`` when the command could not start (or, for runners that
    cannot know it, when it was killed); a negative value is the signal that ended the
    process, as in :mod:`subprocess`. ``started_at`` is ``time.time()`` at start;
    ``duration_s`` is measured with a monotonic clock. ``error`` is a one-line reason for a
    status other than ``"ok"``, such as ``"command not found: foo"`` or
    ``"timed out after 2.0 s"``.
    """

    status: TrialStatus
    """``ok``, ``failed`` or ``timeout`` (a string is accepted); ``metric_missing``,
    ``cached`` and ``constraint_failed`` are decided later by the env, never by a runner."""
    returncode: int | None
    duration_s: float
    started_at: float
    stdout_path: Path
    stderr_path: Path
    error: str | None = None

    def __post_init__(self) -> None:
        status = TrialStatus(self.status)
        if not status.from_runner:
            raise ValueError(f"a runner reports ok, failed or timeout, not {status}")
        object.__setattr__(self, "status", status)


@runtime_checkable
class Runner(Protocol):
    """Anything that executes a :class:`TrialSpec` and reports a :class:`TrialResult`."""

    def run(self, spec: TrialSpec) -> TrialResult:
        """Execute ``spec`` to completion; never raise for a failing trial."""
        ...

    def cancel_all(self) -> None:
        """Stop every trial running now; safe to call from another thread, and idempotent.

        Each :meth:`run` blocked on one of those trials returns promptly with a status
        other than ``"ok"``, and no process of the trial is left behind (the trial's whole
        process group, on whichever machine it ran). The parallel loop calls this when a
        run is interrupted (Ctrl-C) or its env closed. A runner may refuse trials started
        after the call (:class:`~tunegym.runners.local.LocalRunner` raises
        ``TrialCancelled``); the Ray and Slurm runners still run them.
        """
        ...


def stop_came_too_late_if_ok(spec: TrialSpec, result: TrialResult) -> TrialResult:
    """``result``, having told ``spec.stop`` it came too late if the trial ended ``ok``
    although a stop was set. For runners whose stopped trials never end ``ok`` (a
    cancelled Slurm job exits 143 from its trap): an ``ok`` one ran to its end on its
    own, and the stop reached it after that."""
    if spec.stop is not None and spec.stop.is_set and result.status is TrialStatus.OK:
        spec.stop.came_too_late()
    return result
