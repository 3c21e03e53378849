"""Paths a spec names that must exist before anything runs."""

from __future__ import annotations

from pathlib import Path

from tunegym.errors import SpecError, os_reason
from tunegym.layout import RUN_DB_NAME

SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite database file."""


def resolve_store(value: str, base: Path) -> Path:
    """The ``trials.sqlite`` named by ``value`` (a run folder or the file), relative to
    ``base`` (``agent.warm_start``). Raises ``SpecError`` when there is none."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = base / path
    store = path / RUN_DB_NAME if path.is_dir() else path
    if not store.is_file():
        where = f"{path} has no {RUN_DB_NAME}" if path.is_dir() else f"no such file: {path}"
        raise SpecError(f"warm_start: {where} (give an earlier run folder or its {RUN_DB_NAME})")
    try:
        with store.open("rb") as fh:
            head = fh.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise SpecError(f"warm_start: cannot read {store}: {os_reason(exc)}") from None
    if head != SQLITE_HEADER:
        raise SpecError(
            f"warm_start: {store} is not an SQLite database (give an earlier run folder "
            f"or its {RUN_DB_NAME})"
        )
    return store
