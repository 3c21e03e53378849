"""Paths a spec names that must exist before anything runs."""

from __future__ import annotations

from pathlib import Path

from tunegym.errors import SpecError
from tunegym.layout import RUN_DB_NAME


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
    return store
