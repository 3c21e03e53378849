"""Pieces every command shares: argument types and the error-to-exit-code mapping."""

from __future__ import annotations

import argparse
import errno
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tunegym.console import drop_stdout, say
from tunegym.errors import (
    SignalInterrupt,
    TunegymError,
    TunegymWarning,
    full_disk_cause,
    full_disk_phrase,
    interrupt_cause,
    interrupt_exit_code,
    note_interrupt_signal,
    os_reason,
)

__all__ = [
    "dispatch",
    "float_in",
    "int_in",
    "newest_run",
    "positive_int",
    "run_dir_or_newest",
    "say",
    "user_code_origin",
]

RUNS_FOLDER = Path("runs")
"""Where ``tunegym run`` puts run folders by default (``--output``)."""


def newest_run(root: Path = RUNS_FOLDER) -> Path:
    """The most recently started run folder under ``root`` (the default ``runs/``)."""
    from tunegym.errors import UsageError
    from tunegym.layout import RUN_DB_NAME

    candidates = [p for p in root.glob(f"*/{RUN_DB_NAME}") if p.is_file()] if root.is_dir() else []
    if not candidates:
        raise UsageError(f"no run folder under {root}/; give RUN_DIR")
    return max(candidates, key=_started).parent


def _started(db: Path) -> tuple[str, int, float]:
    """When a run folder was started: its name's ``<timestamp>[-n]`` (the folder's file
    time for a folder named otherwise)."""
    found = re.search(r"_(\d{8}-\d{6})(?:-(\d+))?$", db.parent.name)
    if found is None:
        return ("", 0, db.stat().st_mtime)
    return (found.group(1), int(found.group(2) or 0), 0.0)


def run_dir_or_newest(path: Path | None) -> Path:
    """``path``, or the newest run under ``runs/`` when it is not given."""
    return newest_run() if path is None else path


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def int_in(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in ``[low, high]`` (the spec's own bounds)."""
    return _bounded(int, "an integer", f"[{low}, {high}]", low, high)


def float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse type: a number in ``[low, high]`` (so never NaN)."""
    return _bounded(float, "a number", f"[{low:g}, {high:g}]", low, high)


def _bounded(convert: Callable[[str], Any], noun: str, bounds: str, low: Any, high: Any) -> Any:
    """An argparse type: ``convert(text)`` when it lies in ``[low, high]``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text[:40]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be in {bounds}, got {text[:40]}")
        return value

    parse.__name__ = noun.split()[-1]  # argparse names the type in its messages
    return parse


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """While the block runs, a :class:`TunegymWarning` prints as one ``tunegym:
    warning:`` line on stderr (Python's default adds the file, line and source of the
    ``warnings.warn`` call, inside tunegym); other warnings print as before."""
    shown = warnings.showwarning

    def show(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, TunegymWarning):
            print(f"tunegym: warning: {message}", file=sys.stderr)
        else:
            shown(message, category, *args, **kwargs)

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = shown


def dispatch(args: argparse.Namespace) -> int:
    """Run the parsed command's handler and map what it raises to an exit code.

    Bad input (a :class:`TunegymError`) prints one ``tunegym: error:`` line and exits with
    its code (2 for bad input); Ctrl-C exits 130, and a command that handles SIGTERM and
    SIGHUP like Ctrl-C (``tunegym run``, see :func:`terminate_like_ctrl_c`) exits 143 and
    129 for them; an exception raised by the user's code (:func:`user_code_origin`) prints
    ``tunegym: error:`` with where it was raised, a full disk says so, and a bug
    ``tunegym: internal error:``, each one line and exit 1 (a run's ``failure.txt`` has
    a bug's traceback).
    """
    try:
        with _warnings_as_lines():
            return int(args.handler(args) or 0)
    except TunegymError as exc:
        print(f"tunegym: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print(f"tunegym: interrupted by {interrupt_cause(exc)}", file=sys.stderr)
        return interrupt_exit_code(exc)
    except BrokenPipeError:  # whoever read our output stopped reading: not an error
        drop_stdout()
        return 0
    except Exception as exc:
        full = full_disk_cause(exc)
        if full is not None:  # not a bug: the disk (or quota) is full
            print(f"tunegym: error: {full_disk_phrase(full)}", file=sys.stderr)
            return 1
        path = _unusable_path(exc)
        if path is not None:  # a path the user gave that no program could use
            print(f"tunegym: error: {path}", file=sys.stderr)
            return 2
        origin = user_code_origin(exc)
        if origin is None:
            print(f"tunegym: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        else:  # the user's server, objective or plugin raised: not a tunegym bug
            print(f"tunegym: error: {origin} raised {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


_UNUSABLE_PATH_ERRNOS = frozenset({errno.ELOOP, errno.ENAMETOOLONG})


def _unusable_path(exc: BaseException) -> str | None:
    """``PATH: too many levels of symbolic links`` (or ``file name too long``) when
    ``exc`` is an OS error over a path no program could use, which reaches tunegym from
    any path a user names (a spec file, ``--output``, a run folder, ``--log-file``)."""
    if isinstance(exc, OSError) and exc.errno in _UNUSABLE_PATH_ERRNOS and exc.filename:
        shown = str(exc.filename)
        shown = shown if len(shown) <= 200 else f"{shown[:200]}... ({len(shown)} characters)"
        return f"{shown}: {os_reason(exc)}"
    loop = re.fullmatch(r"Symlink loop from '(.*)'", str(exc), re.S)
    if isinstance(exc, RuntimeError) and loop is not None:  # Path.resolve before 3.13
        return f"{loop.group(1)}: too many levels of symbolic links"
    return None


def user_code_origin(exc: BaseException) -> str | None:
    """``path:line (in name)`` of the user's code that raised ``exc`` (a live server, an
    objective, a plugin: code tunegym called that is neither tunegym nor an installed
    package nor the standard library), or ``None`` when tunegym or a library raised it."""
    import sysconfig
    import traceback

    import tunegym

    frames = traceback.extract_tb(exc.__traceback__)
    ours = str(Path(tunegym.__file__).parent) + os.sep
    libraries = {sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib")}

    def is_user(filename: str) -> bool:
        if filename.startswith(("<", ours)) or not os.path.isabs(filename):
            return False  # a compiled extension's frame is relative (numpy/random/...pyx)
        return not any(filename.startswith(lib) for lib in libraries)

    last_ours = max((i for i, f in enumerate(frames) if f.filename.startswith(ours)), default=-1)
    called = frames[last_ours + 1 :]
    if last_ours < 0 or not called or not is_user(called[0].filename):
        return None  # raised in tunegym, or in a library tunegym called
    user = [f for f in called if is_user(f.filename)][-1]
    return f"{user.filename}:{user.lineno} (in {user.name})"


TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextmanager
def terminate_like_ctrl_c() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise :class:`SignalInterrupt` (a
    ``KeyboardInterrupt``) in the main thread, so ``timeout``, Slurm time limits,
    Kubernetes and a closed terminal stop a run the way Ctrl-C does: trials killed, rows
    kept, reports written, exit ``128 + signum``. Only the first such signal interrupts;
    later ones are ignored, so clean-up finishes (it is bounded: ``kill -9`` remains).
    A signal ignored when tunegym started stays ignored (``nohup tunegym run ...``). The
    previous handlers come back afterwards. Outside the main thread: no change.

    Ctrl-C (SIGINT) interrupts too, and the first signal decides the exit code and the
    message: a later Ctrl-C still cuts the clean-up short, as a second Ctrl-C does, but
    as an interrupt by the first signal (a SIGINT during a SIGTERM's clean-up made it
    look like a Ctrl-C, exit 130 instead of 143)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    first: int | None = None

    def handler(signum: int, frame: object) -> None:
        nonlocal first
        if first is None:
            first = signum
            note_interrupt_signal(signum)
        elif signum != signal.SIGINT:
            return  # a later SIGTERM or SIGHUP: the clean-up goes on
        if first == signal.SIGINT:
            raise KeyboardInterrupt
        raise SignalInterrupt(first)

    previous = {
        sig: signal.signal(sig, handler)
        for sig in (signal.SIGINT, *TERMINATING_SIGNALS)
        if signal.getsignal(sig) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        note_interrupt_signal(None)
        for sig, old in previous.items():
            signal.signal(sig, old)
