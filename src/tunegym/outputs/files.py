"""Writing report files so that a reader or a concurrent writer never sees half a file."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a unique temporary file in its folder.

    The temporary name is new for every call, so two writers of the same file (a run
    finishing while ``tunegym report`` regenerates it) never rename each other's file
    away; the last ``os.replace`` wins and the file is always complete. Like
    :func:`tempfile.mkstemp` it is created exclusively, but with mode ``0o666`` minus the
    umask, as a plain ``write_text`` would. No fsync: these files can be rebuilt.
    """
    path = Path(path)
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return path
