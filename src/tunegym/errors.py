"""Error types shared across tunegym.

Every error a user can cause by bad input is a :class:`TunegymError` whose message
names what was wrong and where; the CLI prints it as one line and exits with
``exit_code`` (2 for bad input, before anything runs).
"""

from __future__ import annotations

import traceback


class TunegymError(Exception):
    """An error with a message fit for a user; the CLI maps it to ``exit_code``."""

    exit_code: int = 1


class SpecError(TunegymError, ValueError):
    """A spec file (or an override of one) is invalid. Raised before anything runs."""

    exit_code = 2


class UsageError(TunegymError, ValueError):
    """A command-line argument or Python-API argument is invalid."""

    exit_code = 2


class DiskFullError(TunegymError):
    """The disk (or the user's quota) filled up while tunegym wrote a run: every trial
    recorded before is kept, and the message says how to go on once there is space."""


def os_reason(exc: OSError) -> str:
    """What the OS said went wrong, worded as tunegym's messages are (``permission
    denied``, ``no such file or directory``): ``strerror`` with a lower-case start."""
    reason = exc.strerror or str(exc)
    return reason[:1].lower() + reason[1:]


def full_disk_cause(exc: BaseException) -> BaseException | None:
    """The error in ``exc``'s chain (itself, what it was raised from or during) that says
    the disk or the quota is full (``ENOSPC``, ``EDQUOT``, SQLite's ``SQLITE_FULL``), or
    ``None``."""
    import errno
    import sqlite3

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in (errno.ENOSPC, errno.EDQUOT):
            return current
        if getattr(current, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
            return current
        current = current.__cause__ or current.__context__
    return None


def full_disk_phrase(cause: BaseException) -> str:
    """``no space left on device (writing PATH)``, for a message."""
    if isinstance(cause, OSError):
        where = f" (writing {cause.filename})" if cause.filename else ""
        return f"{os_reason(cause) if cause.strerror else 'no space left on device'}{where}"
    return f"no space left on device ({cause})"


class TunegymWarning(UserWarning):
    """Something the user should know that does not stop the work (``server_args`` a
    server ignores, ...); the CLI prints it as one ``tunegym: warning:`` line."""


class SignalInterrupt(KeyboardInterrupt):
    """SIGTERM or SIGHUP, handled like Ctrl-C: the running trials are killed, every
    recorded row stays, reports are written; the exit code is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        import signal

        try:
            return signal.Signals(self.signum).name
        except ValueError:
            return f"signal {self.signum}"


_first_signal: list[int] = []
"""The signal that began the interrupt in progress (see :func:`note_interrupt_signal`)."""


def note_interrupt_signal(signum: int | None) -> None:
    """Record the signal that began an interrupt (``None``: none any more). Code that
    catches a ``KeyboardInterrupt`` and raises its own (Ray's ``ray.get`` does) loses a
    :class:`SignalInterrupt`'s signal; the exit code and message still follow this."""
    _first_signal[:] = [] if signum is None else [signum]


def _signal_of(exc: BaseException) -> int:
    if isinstance(exc, SignalInterrupt):
        return exc.signum
    return _first_signal[0] if _first_signal else 2


def interrupt_exit_code(exc: BaseException) -> int:
    """``128 + signum`` of the signal behind an interrupt (130 for Ctrl-C)."""
    return 128 + _signal_of(exc)


def interrupt_cause(exc: BaseException) -> str:
    """``"Ctrl-C"`` or the name of the signal behind an interrupt, e.g. ``"SIGTERM"``."""
    signum = _signal_of(exc)
    return "Ctrl-C" if signum == 2 else SignalInterrupt(signum).signal_name


def import_failure(exc: BaseException) -> str:
    """What went wrong importing a user's module (a harness, a plugin), for a message that
    names where: a syntax error's file and line, or the line of the module's top level
    that raised (the innermost module on the traceback: a failing import inside it, a
    bad config read at import). An ``ImportError`` keeps its own text (``No module
    named 'x'``); other exceptions are prefixed with their type."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return f"{type(exc).__name__}: {exc.msg} ({exc.filename}:{exc.lineno})"
    text = str(exc) if isinstance(exc, ImportError) else f"{type(exc).__name__}: {exc}"
    tops = [
        frame
        for frame in traceback.extract_tb(exc.__traceback__)
        if frame.name == "<module>" and not frame.filename.startswith("<")
    ]
    return f"{text} (at {tops[-1].filename}:{tops[-1].lineno})" if tops else text
