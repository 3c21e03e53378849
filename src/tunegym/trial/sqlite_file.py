"""A run's SQLite file before anything reads or writes it: opened read-only, and checked.

A ``trials.sqlite`` that is not a tunegym run's database (garbage bytes, a copy cut
short, an empty file, a directory, someone else's database, tables without tunegym's
columns) is a :class:`DamagedDatabaseError`: bad input, exit 2, one line naming the file
and what is wrong. :func:`check_run_file` tells from the file's bytes alone (nothing is
opened), :func:`check_run_tables` from its schema over a read-only connection; a read
that SQLite finds damaged later is one too (:func:`read_failure`). A file that cannot be
opened for another reason (permission denied, a full disk) stays a
:class:`TrialStoreError`, exit 1.
"""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tunegym.errors import TunegymError, full_disk_cause

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""

RUN_COLUMNS = {
    "trials": (
        "job",
        "iteration",
        "step",
        "action",
        "env_params",
        "observation",
        "reward",
        "status",
        "cached",
        "returncode",
        "duration_s",
        "started_at",
        "seq",
        "error",
    ),
    "meta": ("key", "value"),
}
"""The tables every tunegym run's database has, and the columns tunegym reads and writes
in them (the other tables, ``curves``, ``episodes`` and ``dispatched``, are newer: a run
made before them lacks them, and readers do without)."""


class TrialStoreError(TunegymError):
    """A trial database that cannot be read (not SQLite, damaged, or not a tunegym run's):
    the message names the file, and the row or meta key when one is damaged."""


class DamagedDatabaseError(TrialStoreError):
    """A trial database whose contents are wrong (not SQLite, cut short, missing
    tunegym's tables or columns, a row or meta key that does not decode): the user's
    file is bad input, so exit 2. It is left as it is."""

    exit_code = 2


def check_run_file(path: Path) -> None:
    """A :class:`DamagedDatabaseError` when ``path``'s bytes are not a whole SQLite
    database: a directory or other non-file, an empty file, a file without SQLite's
    header, one cut short of the pages its header counts. Nothing is opened by SQLite
    (which would create ``-wal`` and ``-shm`` files beside it); a file this user cannot
    read is left to the open, which says so."""
    try:
        info = path.stat()
    except OSError:
        return
    if stat.S_ISDIR(info.st_mode):
        raise DamagedDatabaseError(f"{path}: a directory, not an SQLite database")
    if not stat.S_ISREG(info.st_mode):
        raise DamagedDatabaseError(f"{path}: not a regular file, so not an SQLite database")
    if info.st_size == 0:
        raise DamagedDatabaseError(f"{path}: an empty file (0 bytes), not an SQLite database")
    try:
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError:
        return
    if not header.startswith(SQLITE_HEADER):
        raise DamagedDatabaseError(
            f"{path}: not an SQLite database (it does not begin with SQLite's header)"
        )
    cut = _cut_short(path, header, info.st_size)
    if cut is not None:
        raise DamagedDatabaseError(f"{path}: a damaged SQLite database: cut short ({cut})")


def _cut_short(path: Path, header: bytes, size: int) -> str | None:
    """How a file that begins as SQLite's does falls short of a whole database, in words
    (``None``: it does not). SQLite writes whole pages, and the database header (its first
    100 bytes) counts them; that count is checked only when no write-ahead log beside the
    file may hold pages it does not yet."""
    if len(header) < 100:
        return f"{size} bytes, less than the 100 of SQLite's header"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return f"its header gives the page size {page_size}"
    if size % page_size:
        return f"{size} bytes, not a whole number of its {page_size}-byte pages"
    pages = int.from_bytes(header[28:32], "big")
    counted = header[24:28] == header[92:96] and pages > 0  # SQLite's rule for the count
    if counted and size < pages * page_size and not _has_log(path):
        return f"{size} bytes of the {pages * page_size} its header counts"
    return None


def _has_log(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > 0
    except OSError:
        return False


def check_run_tables(conn: sqlite3.Connection, path: Path) -> None:
    """A :class:`DamagedDatabaseError` when the database ``conn`` reads (the file at
    ``path``) is damaged, or lacks the tables and columns of a tunegym run
    (:data:`RUN_COLUMNS`); the message says it is left as it is. An error that is not
    about the file's contents (locked, I/O) is left to the reads that follow."""
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
        missing = [name for name in RUN_COLUMNS if name not in tables]
        if missing:
            what = " and ".join(missing)
            raise DamagedDatabaseError(
                f"{path}: not a tunegym run's database (it has no {what} "
                f"table{'s' if len(missing) > 1 else ''}); left as it is"
            )
        for table, wanted in RUN_COLUMNS.items():
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            lacking = [name for name in wanted if name not in columns]
            if lacking:
                raise DamagedDatabaseError(
                    f"{path}: not a tunegym run's database (its {table} table has no "
                    f"{_names(lacking)}); left as it is"
                )
    except sqlite3.DatabaseError as exc:
        if _damage(exc) is not None:
            raise read_failure(path, exc) from None
        # Not about the file's contents (locked, I/O): the reads that follow say what is.


def _names(columns: list[str]) -> str:
    """``action column``, ``job, step columns``, ``job, iteration, step and 11 more
    columns``."""
    shown = ", ".join(columns[:3]) + (f" and {len(columns) - 3} more" if len(columns) > 3 else "")
    return f"{shown} column{'s' if len(columns) > 1 else ''}"


def _read_only_uri(path: Path, *, immutable: bool = False) -> str:
    """A SQLite URI that opens ``path`` read-only (percent-encoded: a ``#``, ``?`` or ``%``
    in a folder's name is part of the path, not of the URI)."""
    return f"{path.absolute().as_uri()}?mode=ro" + ("&immutable=1" if immutable else "")


def connect_read_only(path: Path) -> sqlite3.Connection:
    """``path`` opened to read only. A run's file is in WAL mode, and SQLite reads one by
    way of a shared-memory file beside it, which it creates when it is not there: in a
    folder this user may not write to, that fails. Then, when no ``-wal`` file is beside
    it either (the run closed its database: every committed row is in the file, and no
    writer is at work), the file is opened as immutable. A ``-wal`` file still there
    holds rows the file does not, so that case is left to fail."""
    conn = sqlite3.connect(
        _read_only_uri(path), uri=True, isolation_level=None, check_same_thread=False
    )
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.OperationalError:
        conn.close()
        if Path(f"{path}-wal").exists() or os.access(path.parent, os.W_OK):
            raise
    except BaseException:  # not SQLite, damaged: closed before the error says so
        conn.close()
        raise
    return sqlite3.connect(
        _read_only_uri(path, immutable=True),
        uri=True,
        isolation_level=None,
        check_same_thread=False,
    )


def _damage(exc: sqlite3.DatabaseError) -> str | None:
    """What SQLite's error says is wrong with the file itself, or ``None`` when the
    error is not about its contents (locked, permission, I/O)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_NOTADB:
        return f"not an SQLite database ({exc})"
    if code == sqlite3.SQLITE_CORRUPT:
        return f"a damaged SQLite database ({exc})"
    if code == sqlite3.SQLITE_ERROR and str(exc).startswith(("no such table", "no such column")):
        return f"not a tunegym run's database ({exc}); left as it is"
    return None


def read_failure(path: Path, exc: sqlite3.DatabaseError) -> TrialStoreError:
    """The error for a read of ``path`` that SQLite refused with ``exc``: a
    :class:`DamagedDatabaseError` when the file is damaged or not a run's, else a
    :class:`TrialStoreError`."""
    damage = _damage(exc)
    if damage is not None:
        return DamagedDatabaseError(f"{path}: {damage}")
    return TrialStoreError(f"cannot read {path}: {exc}")


def open_failure(path: Path, exc: sqlite3.DatabaseError) -> TrialStoreError:
    """The error for an open of ``path`` that SQLite refused with ``exc``: damaged
    (:class:`DamagedDatabaseError`), or why not where the file system says so."""
    if _damage(exc) is not None:
        return DamagedDatabaseError(f"cannot open {path}: {exc} (a damaged file?)")
    return TrialStoreError(f"cannot open {path}: {exc}{_why_not(path, exc)}")


def _why_not(path: Path, exc: sqlite3.DatabaseError) -> str:
    """Why ``path`` could not be opened, where the file system says so (SQLite's own
    message, "attempt to write a readonly database", does not)."""
    if full_disk_cause(exc) is not None:
        return " (no space left on device)"
    folder = path.parent
    if not os.access(folder, os.R_OK | os.X_OK) or not os.access(path, os.R_OK):
        return " (permission denied: this user cannot read it)"
    if Path(f"{path}-wal").exists() and not os.access(folder, os.W_OK):
        return (
            f" (its write-ahead log {path.name}-wal holds rows the file does not, and SQLite "
            f"reads it only where it may write beside it: {folder} is read-only to this "
            "user; copy the folder somewhere writable)"
        )
    if not os.access(path, os.W_OK) or not os.access(folder, os.W_OK):
        return " (permission denied: it or its folder is read-only to this user)"
    return " (a damaged file?)"


@contextmanager
def leaving_no_trace(path: Path) -> Iterator[None]:
    """Around a check of ``path`` that may refuse it: when the block raises a
    :class:`DamagedDatabaseError`, the ``-wal`` and ``-shm`` files a read-only SQLite
    connection created beside it (for a file in WAL mode) are removed, so a refused file
    is left as it was found. Files that were there before, and a ``-wal`` that holds
    something, are kept. Close the connections inside the block."""
    sidecars = (Path(f"{path}-wal"), Path(f"{path}-shm"))
    there = any(sidecar.exists() for sidecar in sidecars)
    try:
        yield
    except DamagedDatabaseError:
        if not there and not _has_log(path):
            for sidecar in sidecars:
                with suppress(OSError):
                    sidecar.unlink(missing_ok=True)
        raise
