"""The run folder of an async-RL training run (``tunegym.rl``), read for ``show``,
``report`` and ``export``.

A training run writes ``config.json`` when it starts (``kind = "async_rl"``, its config,
start and resume times, and the pid and host of the process training), one JSON line
per update to ``updates.jsonl`` as it goes, and ``summary.json`` when it ends; it has no
``trials.sqlite``. Reading never writes.

A run still training, or killed before it could write ``summary.json`` (or a resume of
it that has not ended: its ``summary.json`` is the earlier start's), is read from
``config.json`` and ``updates.jsonl``: status ``running`` while its process is alive,
else ``crashed``, with what the updates so far say. A run killed while writing leaves a
partial last line, which is left out; any other line that is not a JSON object, or
whose fields (``UPDATE_COLUMNS``) are not numbers or null, is an error naming the file,
line and field, and so is a ``summary.json`` field that holds a value no run writes
(``config`` or ``throughput`` not an object, a reward not a number, ...).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunegym.errors import UsageError
from tunegym.session.reading import process_alive

__all__ = [
    "KIND",
    "UPDATE_COLUMNS",
    "TrainingRun",
    "reward_per_version",
    "started_record",
    "training_process",
    "training_run",
]

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


def started_record(
    config: Mapping[str, Any], started: float, resumed: list[float]
) -> dict[str, Any]:
    """``config.json`` of a training run starting (or resuming) in this process."""
    return {
        "kind": KIND,
        "config": dict(config),
        "started_at": started,
        "resumed_at": resumed,
        "process": {"pid": os.getpid(), "host": socket.gethostname()},
    }


def training_run(run_dir: Path) -> TrainingRun | None:
    """The training run in ``run_dir``, or ``None`` when the folder is not one (neither a
    ``summary.json`` of kind ``async_rl`` nor a training run's ``config.json``)."""
    summary = _json_object(run_dir / "summary.json")
    started = _json_object(run_dir / "config.json")
    if summary is not None and summary.get("kind") != KIND:
        summary = None
    if started is not None and not _is_started_record(started):
        started = None
    if summary is None and started is None:
        return None
    if summary is not None:
        _check_summary(run_dir / "summary.json", summary)
    updates = _updates(run_dir / "updates.jsonl")
    if summary is None or not _ended(summary, started):
        assert started is not None
        summary = _unfinished_summary(run_dir, started, updates)
    return TrainingRun(run_dir, summary, updates)


def training_process(run_dir: Path) -> dict[str, Any] | None:
    """The ``{"pid", "host"}`` record of another process still training in ``run_dir``
    (what ``show`` calls ``running``: its latest start has no ``summary.json`` and its
    process is alive on this host), else ``None``. This process is never it: a training
    run in it has ended once ``train_run`` returned or raised."""
    started = _json_object(run_dir / "config.json")
    if started is None or not _is_started_record(started):
        return None
    summary = _json_object(run_dir / "summary.json")
    if summary is not None and summary.get("kind") != KIND:
        summary = None
    process = started.get("process")
    if _ended(summary, started) or not process_alive(process):
        return None
    assert isinstance(process, dict)  # process_alive said so
    return None if process.get("pid") == os.getpid() else process


def _ended(summary: Mapping[str, Any] | None, started: Mapping[str, Any] | None) -> bool:
    """Whether ``summary.json`` is that of the latest start ``config.json`` records."""
    return summary is not None and (
        started is None or summary.get("resumed_at") == started.get("resumed_at")
    )


def reward_per_version(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The learning curve: mean reward of the samples each policy version generated
    (from each record's ``reward_by_version``; an entry that is not a version's
    ``[total, count]``, as in a hand-edited ``updates.jsonl``, is left out)."""
    totals: dict[int, list[float]] = {}
    for record in records:
        by_version = record.get("reward_by_version")
        for version, pair in (by_version if isinstance(by_version, dict) else {}).items():
            try:
                key, total, count = int(version), float(pair[0]), int(pair[1])
            except (TypeError, ValueError, IndexError, KeyError):
                continue
            entry = totals.setdefault(key, [0.0, 0])
            entry[0] += total
            entry[1] += count
    return [
        {"version": v, "mean_reward": round(t / c, 6), "samples": int(c)}
        for v, (t, c) in sorted(totals.items())
        if c
    ]


def _json_object(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


SUMMARY_OBJECTS = ("config", "throughput")
"""The fields of a training run's ``summary.json`` that are JSON objects."""
SUMMARY_NUMBERS = ("untrained_reward", "final_reward", "last_updates_reward")
"""The fields of a training run's ``summary.json`` that are numbers (or null)."""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_summary(path: Path, summary: Mapping[str, Any]) -> None:
    """A :class:`UsageError` naming ``path`` and the field when a field ``show`` and
    ``report`` read holds a value no run writes (a hand-edited or damaged file)."""
    for name in SUMMARY_OBJECTS:
        if name in summary and not isinstance(summary[name], dict):
            raise UsageError(f"{path}: {name!r} must be a JSON object, got {_shown(summary[name])}")
    for name in SUMMARY_NUMBERS:
        value = summary.get(name)
        if value is not None and not _is_number(value):
            raise UsageError(f"{path}: {name!r} must be a number or null, got {_shown(value)}")
    curve = summary.get("reward_per_version", [])
    if not isinstance(curve, list):
        raise UsageError(f"{path}: 'reward_per_version' must be a JSON list, got {_shown(curve)}")
    for i, point in enumerate(curve):
        if not (
            isinstance(point, dict)
            and _is_number(point.get("version"))
            and _is_number(point.get("mean_reward"))
        ):
            raise UsageError(
                f"{path}: 'reward_per_version' entry {i} must be an object with a number "
                f"'version' and 'mean_reward', got {_shown(point)}"
            )


def _is_started_record(data: Mapping[str, Any]) -> bool:
    """A training run's ``config.json`` (before ``kind`` was written to it: its config
    has ``max_staleness``)."""
    config = data.get("config")
    if data.get("kind") == KIND:
        return isinstance(config, dict)
    return isinstance(config, dict) and "max_staleness" in config and "started_at" in data


def _unfinished_summary(
    run_dir: Path, started: Mapping[str, Any], updates: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """What the updates so far say of a run that has not written its summary (see the
    module docs); the fields only the end knows (final reward, throughput) are empty."""
    rewards = [u["reward"] for u in updates[-10:] if isinstance(u.get("reward"), int | float)]
    running = process_alive(started.get("process"))
    read = "read from config.json and updates.jsonl"
    message = (
        f"still training (no summary.json until it ends): {read}"
        if running
        else f"ended without a summary.json (killed?): {read}; continue it with "
        f"python examples/async-rl/train.py --resume {run_dir}"
    )
    return {
        "kind": KIND,
        "scenario": "async-rl",
        "status": "running" if running else "crashed",
        "message": message,
        "run_dir": str(run_dir),
        "started_at": started.get("started_at"),
        "finished_at": None,
        "resumed_at": started.get("resumed_at", []),
        "config": started["config"],
        "updates_done": updates[-1].get("version", len(updates)) if updates else 0,
        "untrained_reward": None,
        "final_reward": None,
        "last_updates_reward": round(sum(rewards) / len(rewards), 6) if rewards else None,
        "stale_dropped": sum(_count(u, "stale_dropped") for u in updates),
        "samples_claimed": sum(_count(u, "claimed") for u in updates),
        "throughput": {},
        "reward_per_version": reward_per_version(updates),
    }


def _count(update: Mapping[str, Any], key: str) -> int:
    value = update.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


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
        for name in UPDATE_COLUMNS:  # all numbers; a missing one (or null) is None
            value = update.get(name)
            if value is not None and not _is_number(value):
                raise UsageError(
                    f"{path}: line {number}: {name!r} must be a number or null, got {_shown(value)}"
                )
        updates.append(update)
    return updates
