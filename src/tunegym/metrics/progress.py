"""Intermediate results of a running trial: ``(step, value)`` points read while it runs.

A ``[[metrics]]`` table with ``progress`` (a regex over stdout lines whose two groups are
the step and the value, or named groups ``step`` and ``value``) or ``progress_file`` (a
JSON-lines file in the trial folder, one object per point with ``step`` and the metric's
name or ``value``) declares how. :class:`ProgressReader` reads only what was appended
since its last call and keeps a partial last line for the next one, so it can be polled
cheaply from a watcher thread while the command writes. The file is read where the trial
writes it (the trial folder): a local trial, a Ray trial on a shared filesystem and a
Slurm job (its output file is ``stdout.txt`` in the trial folder) all work the same.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["STDOUT_NAME", "ProgressReader", "ProgressSource", "progress_regex_problem"]

STDOUT_NAME = "stdout.txt"
_MAX_READ = 4 * 1024 * 1024
"""Bytes read per poll at most (a command that floods stdout is read over several polls)."""


def progress_regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a progress regex, or ``None`` when it can."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return f"not a valid regular expression: {exc}"
    names = set(compiled.groupindex)
    if {"step", "value"} <= names:
        return None
    if compiled.groups != 2:
        return (
            f"needs two groups, the step then the value (e.g. 'epoch (\\d+) loss=(\\S+)'), "
            f"or named groups (?P<step>...) and (?P<value>...); it has {compiled.groups}"
        )
    return None


@dataclass(frozen=True)
class ProgressSource:
    """Where the progress of metric ``metric`` comes from: ``regex`` over stdout lines,
    or a JSON-lines ``file`` in the trial folder (exactly one is set)."""

    metric: str
    regex: str | None = None
    file: str | None = None

    def __post_init__(self) -> None:
        if (self.regex is None) == (self.file is None):
            raise ValueError("a progress source is a regex or a file, exactly one")

    @property
    def path_name(self) -> str:
        """The file in the trial folder that is read."""
        return self.file if self.file is not None else STDOUT_NAME


class ProgressReader:
    """Reads the new points of one trial's progress (see the module docs)."""

    def __init__(self, source: ProgressSource, trial_dir: Path) -> None:
        self.source = source
        self.path = Path(trial_dir) / source.path_name
        self._offset = 0
        self._partial = b""
        self._pattern = re.compile(source.regex) if source.regex is not None else None
        self._last_step: int | None = None

    def read_new(self, final: bool = False) -> list[tuple[int, float]]:
        """The points appended since the last call, in order. A line without its newline
        waits for the next call, unless ``final`` (the trial is over). A point whose step
        is not after the previous one's is dropped (steps only move forward)."""
        try:
            with self.path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read(_MAX_READ)
        except (FileNotFoundError, IsADirectoryError):
            return []
        self._offset += len(data)
        data = self._partial + data
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if final and self._partial:
            lines.append(self._partial)
            self._partial = b""
        points: list[tuple[int, float]] = []
        for raw in lines:
            point = self._parse(raw.decode("utf-8", errors="replace"))
            if point is None:
                continue
            if self._last_step is not None and point[0] <= self._last_step:
                continue
            self._last_step = point[0]
            points.append(point)
        return points

    def _parse(self, line: str) -> tuple[int, float] | None:
        if self._pattern is not None:
            match = self._pattern.search(line)
            if match is None:
                return None
            if "step" in self._pattern.groupindex and "value" in self._pattern.groupindex:
                step_text, value_text = match.group("step"), match.group("value")
            else:
                step_text, value_text = match.group(1), match.group(2)
            return _point(step_text, value_text)
        line = line.strip()
        if not line:
            return None
        try:
            record = json.loads(line)
        except ValueError:
            return None
        if not isinstance(record, dict):
            return None
        value = record.get(self.source.metric, record.get("value"))
        return _point(record.get("step"), value)


def _point(step: object, value: object) -> tuple[int, float] | None:
    """``(step, value)`` from text or JSON values; ``None`` when either is unusable."""
    try:
        step_f = float(step)  # type: ignore[arg-type]
        value_f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if isinstance(step, bool) or isinstance(value, bool):
        return None
    if not (math.isfinite(step_f) and step_f.is_integer() and math.isfinite(value_f)):
        return None
    return int(step_f), value_f
