"""One writer per run folder: an exclusive ``flock`` on ``<run folder>/.lock``.

The kernel drops the lock when its holder exits, however it exits (``kill -9``
included), so a lock left by a dead process is taken over by the next writer without any
clean-up; a live holder makes :meth:`RunLock.acquire` fail at once with
:class:`RunLockedError` naming its PID. The holder writes its PID and host into the file
for that message (the lock itself is the flock, never the file's content).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from tunegym.errors import TunegymError, UsageError, os_reason

LOCK_NAME = ".lock"


class RunLockedError(UsageError):
    """Another process is writing to this run folder (exit code 2)."""


class RunLockFileError(TunegymError):
    """The run folder's lock file cannot be opened for writing (exit code 1): the folder
    is read-only, or something else stands where the lock file goes."""

    def __init__(self, path: Path, exc: OSError) -> None:
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            why = "the run folder is read-only here; copy it somewhere writable to go on"
        else:
            why = (
                f"{os_reason(exc)}; remove {path.name} if no tunegym process uses this "
                "folder (it is only the lock)"
            )
        super().__init__(f"{path}: cannot take the run folder's lock: {why}")


class RunLock:
    """The exclusive lock of one run folder, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, run_dir: Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise :class:`RunLockedError` at once (never waits); a lock
        file that cannot be opened (a read-only folder, a directory or a dangling link in
        its place) is a :class:`RunLockFileError` naming it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunLockFileError(self.path, exc) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise RunLockedError(
                f"{self.path.parent}: the run folder is in use by tunegym process {holder} "
                "(one writer per run folder); wait for it to finish or stop it first"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            os.ftruncate(fd, 0)
            me = {"pid": os.getpid(), "host": socket.gethostname()}
            os.pwrite(fd, json.dumps(me).encode(), 0)
        except BaseException:  # a full disk, say: the lock is not held
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor drops the flock


def run_folder_locked(run_dir: Path) -> bool:
    """Whether a live process holds ``run_dir``'s lock (a reader's question: never takes it
    for longer than the test)."""
    path = Path(run_dir) / LOCK_NAME
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


HOLDER_WAIT_S = 1.0
"""How long a refused writer waits for the holder's PID: the holder writes it just after
taking the flock, so a refusal in between would otherwise find the file still empty."""


def _read_holder(fd: int) -> str:
    deadline = time.monotonic() + HOLDER_WAIT_S
    while True:
        try:
            data = json.loads(os.pread(fd, 4096, 0) or b"{}")
            return f"PID {data['pid']} on {data['host']}"
        except (OSError, ValueError, KeyError, TypeError):
            if time.monotonic() >= deadline:
                return "(PID unknown)"
            time.sleep(0.01)
