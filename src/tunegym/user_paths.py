"""Files and folders a user names for tunegym to write (``--output``, ``--log-file``, a
folder for run folders): checked before any work, so a path that cannot be written is a
:class:`~tunegym.errors.UsageError` saying what is in the way, not an ``OSError`` from
deep inside, after the work was done."""

from __future__ import annotations

import os
from pathlib import Path

from tunegym.errors import UsageError, os_reason


def why_not_a_folder(path: Path, exc: OSError) -> str:
    """Why ``path`` could not be made a folder (``exc``), naming the file in the way if
    one is (``File exists`` says nothing useful about ``a-file/sub``)."""
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            return f"{part} is a file, not a folder"
    return os_reason(exc)


def output_folder(path: Path, what: str) -> Path:
    """Make the folder ``path`` (and its parents) for ``what`` (the option or argument
    that named it); a :class:`UsageError` when that cannot be done."""
    why = _unmakeable_folder(path)
    if why is not None:
        raise UsageError(f"{what} {path}: cannot write there: {why}")
    return path


def output_file(path: Path, what: str) -> Path:
    """Make the folder of the file ``path`` and check the file can be written, for
    ``what`` (the option that named it); a :class:`UsageError` when it cannot. The file
    itself is not created or changed."""
    if path.is_dir():
        raise UsageError(f"{what} {path}: is a folder; give a file path")
    why = _unmakeable_folder(path.parent)
    if why is None and path.exists() and not os.access(path, os.W_OK):
        why = "permission denied"
    if why is not None:
        raise UsageError(f"{what} {path}: cannot write it: {why}")
    return path


def _unmakeable_folder(path: Path) -> str | None:
    """Make the folder ``path``; why it cannot be made or written to, or ``None``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return why_not_a_folder(path, exc)
    return None if os.access(path, os.W_OK) else "permission denied"
