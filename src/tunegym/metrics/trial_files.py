"""Reading the files a trial leaves behind, which the trial could have made anything
(and other files tunegym reads but does not own, such as a harness's kwargs file).

A trial's command owns its folder while it runs: it can leave a FIFO (a read would block
for ever), a link to ``/dev/zero`` (a read would never end) or a file of gigabytes where
tunegym reads a metric. :func:`read_trial_file` reads only a regular file, and at most
``limit`` bytes: the whole of a smaller one, else its last ``limit`` bytes (stdout, whose
last match wins) or nothing (a JSON or CSV file, whose whole is needed).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["MAX_FILE_BYTES", "TrialFileError", "open_regular", "read_trial_file"]

MAX_FILE_BYTES = 64 * 2**20
"""The most of one trial file read for its metrics (64 MiB: a benchmark's report is far
smaller; a trial printing more has its stdout read from its last 64 MiB)."""


class TrialFileError(Exception):
    """A trial file that is not read: not a regular file, or too large to read whole.
    The message names the file; :attr:`reason` says the rest, for a message that names
    it its own way."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path.name} {reason}")
        self.reason = reason


def open_regular(path: Path) -> tuple[BinaryIO, int]:
    """``path`` open to read, with its size, when it is a regular file; a
    :class:`TrialFileError` otherwise (opened without blocking: a FIFO with no writer
    does not hang the open). A file that is not there raises ``FileNotFoundError``."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    fh = os.fdopen(fd, "rb")
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        fh.close()
        raise TrialFileError(path, "is not a regular file")
    return fh, info.st_size


def read_trial_file(path: Path, limit: int = MAX_FILE_BYTES, *, tail: bool = False) -> bytes:
    """The bytes of the regular file ``path``: all of them up to ``limit``; past it, the
    last ``limit`` when ``tail``, else :class:`TrialFileError`. A file that is not there
    raises ``FileNotFoundError`` (an ``OSError``, as any other failure to open it)."""
    fh, size = open_regular(path)
    with fh:
        if size > limit:
            if not tail:
                raise TrialFileError(
                    path, f"is larger than {limit / 2**20:g} MiB ({size} bytes); it is not read"
                )
            fh.seek(size - limit)
        return fh.read(limit)
