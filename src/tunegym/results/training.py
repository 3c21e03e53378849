"""The run folder of an async-RL training run (``tunegym.rl``), read for ``show``,
``report`` and ``export``.

A training run writes ``summary.json`` (``kind = "async_rl"``), ``config.json`` and one
JSON line per update to ``updates.jsonl``; it has no ``trials.sqlite``. Reading never
writes. A run killed while writing leaves a partial last line, which is left out; any
other line that is not a JSON object is an error naming the file and line.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunegym.errors import UsageError

__all__ = ["KIND", "UPDATE_COLUMNS", "TrainingRun", "training_run"]

KIND = "async_rl"
"""``summary.json``'s ``kind`` in a training run's folder."""

UPDATE_COLUMNS = (
    "update",
    "version",
    "reward",
    "claimed",
    "trained",
    "stale_dropped",
    "oldest_version",
    "newest_version",
    "claim_wait_s",
    "step_s",
    "elapsed_s",
)
"""The flat fields of an ``updates.jsonl`` line, in the order ``export`` writes them."""


@dataclass(frozen=True)
class TrainingRun:
    """An async-RL run: its summary and its updates, oldest first."""

    run_dir: Path
    summary: Mapping[str, Any]
    updates: Sequence[Mapping[str, Any]]

    def records(self) -> list[dict[str, Any]]:
        """One flat record per update (``UPDATE_COLUMNS``; a missing field is ``None``)."""
        return [{c: update.get(c) for c in UPDATE_COLUMNS} for update in self.updates]


def training_run(run_dir: Path) -> TrainingRun | None:
    """The training run in ``run_dir``, or ``None`` when the folder is not one (no
    ``summary.json`` of kind ``async_rl``)."""
    summary_path = run_dir / "summary.json"
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or summary.get("kind") != KIND:
        return None
    return TrainingRun(run_dir, summary, _updates(run_dir / "updates.jsonl"))


def _updates(path: Path) -> list[dict[str, Any]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []  # stopped before its first update
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read it: {exc}") from None
    updates: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            update = json.loads(line)
        except ValueError:
            if number == len(lines):
                break  # the line being written when the run was killed
            raise UsageError(f"{path}: line {number}: not a JSON object") from None
        if not isinstance(update, dict):
            raise UsageError(f"{path}: line {number}: not a JSON object")
        updates.append(update)
    return updates
