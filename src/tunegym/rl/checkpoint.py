"""Checkpoints: ``<dir>/update-<version>.pt`` holding policy, optimizer and the curve so far."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

PREFIX = "update-"


def save(directory: Path, version: int, state: dict[str, Any]) -> Path:
    """Write one checkpoint atomically (a temp file renamed into place)."""
    import torch

    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{PREFIX}{version:06d}.pt"
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def latest(directory: Path) -> Path | None:
    """The checkpoint with the highest version in ``directory`` (``None`` when none)."""
    found = sorted(directory.glob(f"{PREFIX}*.pt")) if directory.is_dir() else []
    return found[-1] if found else None


def load(path: Path) -> dict[str, Any]:
    import torch

    state: dict[str, Any] = torch.load(path, weights_only=False)
    return state
