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

__all__ = ["MAX_FILE_BYTES", "TrialFileError", "read_trial_file"]

MAX_FILE_BYTES = 64 * 2**20
"""The most of one trial file read for its metrics (64 MiB: a benchmark's report is far
smaller; a trial printing more has its stdout read from its last 64 MiB)."""


class TrialFileError(Exception):
    """A trial file that is not read: not a regular file, or too large to read whole."""


def read_trial_file(path: Path, limit: int = MAX_FILE_BYTES, *, tail: bool = False) -> bytes:
    """The bytes of the regular file ``path``: all of them up to ``limit``; past it, the
    last ``limit`` when ``tail``, else :class:`TrialFileError`. A file that is not there
    raises ``FileNotFoundError`` (an ``OSError``, as any other failure to open it)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # O_NONBLOCK: a FIFO does not block
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise TrialFileError(f"{path.name} is not a regular file")
        if info.st_size > limit:
            if not tail:
                raise TrialFileError(
                    f"{path.name} is larger than {limit / 2**20:g} MiB "
                    f"({info.st_size} bytes); it is not read"
                )
            fh.seek(info.st_size - limit)
        return fh.read(limit)
