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


class CheckpointError(Exception):
    """A checkpoint file that cannot be loaded (damaged, not one, or not a file)."""


_KEYS = ("model", "optimizer", "version", "records", "untrained_reward")


def load(path: Path) -> dict[str, Any]:
    """The state saved in ``path``. Loaded with ``weights_only`` (tensors and plain data,
    never code: a run folder from elsewhere cannot run anything); a
    :class:`CheckpointError` says why one cannot be used."""
    import pickle

    import torch

    try:
        state = torch.load(path, weights_only=True)
    except (OSError, EOFError, RuntimeError, ValueError, pickle.UnpicklingError) as exc:
        raise CheckpointError(f"{path}: cannot be loaded ({type(exc).__name__}: {exc})") from None
    if not isinstance(state, dict) or not all(key in state for key in _KEYS):
        raise CheckpointError(f"{path}: not a tunegym async-RL checkpoint")
    return state


def newest_loadable(directory: Path) -> tuple[Path | None, list[str]]:
    """The newest checkpoint in ``directory`` that loads, and why each newer one was
    passed over (a run killed while writing, a damaged disk): ``(None, reasons)`` when
    none loads."""
    found = sorted(directory.glob(f"{PREFIX}*.pt"), reverse=True) if directory.is_dir() else []
    passed_over: list[str] = []
    for path in found:
        try:
            load(path)
        except CheckpointError as exc:
            passed_over.append(str(exc))
            continue
        return path, passed_over
    return None, passed_over
