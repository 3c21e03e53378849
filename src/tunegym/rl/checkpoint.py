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
    import torch

    try:
        state = torch.load(path, weights_only=True)
    except Exception as exc:  # a damaged file breaks the unpickler anywhere
        # (KeyError, IndexError, UnicodeDecodeError, ... besides UnpicklingError and EOFError)
        raise CheckpointError(f"{path}: cannot be loaded ({_reason(exc)})") from None
    if not isinstance(state, dict) or not all(key in state for key in _KEYS):
        raise CheckpointError(f"{path}: not a tunegym async-RL checkpoint")
    problem = _bad_value(state)
    if problem:
        raise CheckpointError(f"{path}: not a usable checkpoint ({problem})")
    return state


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _bad_value(state: dict[str, Any]) -> str | None:
    """What is wrong with the values of a loaded checkpoint, or ``None``."""
    import torch

    model, version, records = state["model"], state["version"], state["records"]
    if not isinstance(model, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in model.items()
    ):
        return "model is not a dict of tensors"
    if not isinstance(state["optimizer"], dict):
        return "optimizer is not a dict"
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        return f"version must be a whole number >= 1, got {version!r}"
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        return "records is not a list of update records"
    if len(records) != version:
        return f"{len(records)} update record(s) for version {version}"
    reward = state["untrained_reward"]
    if isinstance(reward, bool) or not isinstance(reward, int | float) or not 0 <= reward <= 1:
        return f"untrained_reward must be a number in [0, 1], got {reward!r}"
    return None


def restore(model: Any, optimizer: Any, state: dict[str, Any], path: Path) -> None:
    """Load a checkpoint's policy and optimizer into ``model`` and ``optimizer``; a
    :class:`CheckpointError` when they do not fit (a config with another ``hidden``,
    ``max_operand`` or ``max_tokens`` than the checkpoint's)."""
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: its model does not match the config ({_first_problem(exc)})"
        ) from None
    try:
        optimizer.load_state_dict(state["optimizer"])
    except (RuntimeError, KeyError, TypeError, ValueError, IndexError) as exc:
        raise CheckpointError(
            f"{path}: its optimizer state does not match the model ({_first_problem(exc)})"
        ) from None


def _first_problem(exc: BaseException) -> str:
    """The first specific line of a (multi-line) ``load_state_dict`` error."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    specific = [line for line in lines if not line.startswith("Error(s) in loading")]
    return (specific or lines or [type(exc).__name__])[0].rstrip(".")


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
