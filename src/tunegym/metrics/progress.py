"""Intermediate results of a running trial: ``(step, value)`` points read while it runs.

A ``[[metrics]]`` table with ``progress`` (a regex over stdout lines whose two groups are
the step and the value, or named groups ``step`` and ``value``) or ``progress_file`` (a
JSON-lines file in the trial folder, one object per point with ``step`` and the metric's
name or ``value``) declares how. :class:`ProgressReader` reads only what was appended
since its last call and keeps a partial last line for the next one, so it can be polled
cheaply from a watcher thread while the command writes. The file is read where the trial
writes it (the trial folder): a local trial, a Ray trial on a shared filesystem and a
Slurm job (its output file is ``stdout.txt`` in the trial folder) all work the same.

A step is an integer from 0 to :data:`MAX_STEP` (what SQLite stores); a line whose step or
value is not usable is ignored. The regex is matched by the ``regex`` engine (as a metric's
``regex`` is), each line for at most :data:`LINE_TIMEOUT_S`: a pattern that backtracks
catastrophically makes the reader give up (:attr:`ProgressReader.problem` says why) instead
of hanging the run.

Output a trial floods cannot hold the run up: a poll parses at most :data:`_MAX_READ`
bytes, the final read (after the trial ended) only the last :data:`FINAL_TAIL` bytes not
read yet (:attr:`ProgressReader.skipped` counts what it passed over), and a line longer
than :data:`MAX_LINE` is passed over as it arrives (no progress line is that long). Only
a regular file is read (a trial's FIFO or a link to ``/dev/zero`` is not).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunegym.metrics.trial_files import TrialFileError, open_regular

__all__ = [
    "LINE_TIMEOUT_S",
    "MAX_STEP",
    "STDOUT_NAME",
    "ProgressReader",
    "ProgressSource",
    "progress_regex_problem",
    "usable_step",
]

STDOUT_NAME = "stdout.txt"
MAX_STEP = 2**63 - 1
"""The largest step (SQLite's largest INTEGER)."""
LINE_TIMEOUT_S = 1.0
"""The longest the progress regex may take on one line before the reader gives up."""
_MAX_READ = 4 * 1024 * 1024
"""Bytes read per poll at most (a command that floods stdout is read over several polls)."""
FINAL_TAIL = 4 * 1024 * 1024
"""What the final read parses at most: the newest bytes not read yet (a trial that wrote
gigabytes in its last seconds is recorded in about a second, not minutes)."""
MAX_LINE = 1024 * 1024
"""The longest line parsed; a longer one is passed over."""


_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() takes '²', which int() refuses


def _compile(pattern: str) -> Any:
    import regex

    return regex.compile(pattern, regex.VERSION0)


def progress_regex_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be a progress regex, or ``None`` when it can."""
    import regex

    try:
        compiled = _compile(pattern)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        return f"not a valid regular expression: {exc}"
    names = set(compiled.groupindex)
    if {"step", "value"} <= names:
        return None
    if names & {"step", "value"}:
        missing = ({"step", "value"} - names).pop()
        return (
            f"has a named group {(names & {'step', 'value'}).pop()!r} but not {missing!r}: "
            "name both (?P<step>...) and (?P<value>...), or neither"
        )
    if compiled.groups != 2:
        return (
            f"needs two groups, the step then the value (e.g. 'epoch (\\d+) loss=(\\S+)'), "
            f"or named groups (?P<step>...) and (?P<value>...); it has {compiled.groups}"
        )
    return None


def usable_step(step: object) -> int | None:
    """``step`` (an int, or text or a float that is a whole number) as an int from 0 to
    :data:`MAX_STEP`; ``None`` when it is not one (booleans included)."""
    if isinstance(step, bool) or not isinstance(step, int | str | float):
        return None
    if isinstance(step, str) and _DIGITS.fullmatch(step.strip()):
        number = int(step)  # exact, where a float would round past 2^53
    elif isinstance(step, int):
        number = step
    else:
        try:
            as_float = float(step)
        except ValueError:
            return None
        if not (math.isfinite(as_float) and as_float.is_integer()):
            return None
        number = int(as_float)
    return number if 0 <= number <= MAX_STEP else None


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
        self.problem: str | None = None
        """Why the reader gave up (its regex ran out of time on a line); it then reads
        nothing more."""
        self.unusable = 0
        """How many lines matched (or were JSON objects) without a usable step and value."""
        self._unusable_example: str | None = None
        self.skipped = 0
        """Bytes the final read passed over (see :data:`FINAL_TAIL`)."""
        self._offset = 0
        self._partial = b""
        self._in_long_line = False
        self._pattern = _compile(source.regex) if source.regex is not None else None
        self._named = self._pattern is not None and "step" in self._pattern.groupindex
        self._last_step: int | None = None

    def read_new(self, final: bool = False) -> list[tuple[int, float]]:
        """The points appended since the last call, in order. A line without its newline
        waits for the next call, unless ``final`` (the trial is over: what is left is
        read, to the end, or its last :data:`FINAL_TAIL` bytes). A point whose step is not
        after the previous one's is dropped (steps only move forward)."""
        if self.problem is not None:
            return []
        points: list[tuple[int, float]] = []
        try:
            fh, size = open_regular(self.path)
        except OSError:  # not there (yet), or not for us to read: nothing new
            return points
        except TrialFileError:
            self.problem = (
                f"the progress of {self.source.metric!r} is read from {self.path.name}, "
                "which is not a regular file"
            )
            return points
        with fh:
            if final and size - self._offset > FINAL_TAIL:
                start = size - FINAL_TAIL
                self.skipped += start - self._offset
                self._offset, self._partial, self._in_long_line = start, b"", True
            fh.seek(self._offset)
            while True:
                data = fh.read(_MAX_READ)
                self._offset += len(data)
                at_end = len(data) < _MAX_READ
                self._take(data, final and at_end, points)
                if at_end or not final or self.problem is not None:
                    return points

    def _take(self, data: bytes, last: bool, points: list[tuple[int, float]]) -> None:
        if self._in_long_line:  # pass over the rest of a line too long to be progress
            end = data.find(b"\n")
            if end < 0:
                return
            data, self._in_long_line = data[end + 1 :], False
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()
        if last and self._partial:
            lines.append(self._partial)
            self._partial = b""
        elif len(self._partial) > MAX_LINE:
            self._partial, self._in_long_line = b"", True
        for raw in lines:
            if len(raw) > MAX_LINE:
                continue
            point = self._parse(raw.decode("utf-8", errors="replace"))
            if self.problem is not None:
                return
            if point is None:
                continue
            if self._last_step is not None and point[0] <= self._last_step:
                continue
            self._last_step = point[0]
            points.append(point)

    def _parse(self, line: str) -> tuple[int, float] | None:
        if self._pattern is not None:
            try:
                match = self._pattern.search(line, timeout=LINE_TIMEOUT_S, concurrent=True)
            except TimeoutError:
                self.problem = (
                    f"the progress regex of {self.source.metric!r} took longer than "
                    f"{LINE_TIMEOUT_S:g} s on one line (catastrophic backtracking?); its "
                    "progress was not read further: simplify the pattern"
                )
                return None
            if match is None:
                return None
            if self._named:
                return self._usable(_point(match.group("step"), match.group("value")), line)
            return self._usable(_point(match.group(1), match.group(2)), line)
        line = line.strip()
        if not line:
            return None
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            return None
        if not isinstance(record, dict):
            return None
        value = record.get(self.source.metric, record.get("value"))
        return self._usable(_point(record.get("step"), value), line)

    def _usable(self, point: tuple[int, float] | None, line: str) -> tuple[int, float] | None:
        if point is None:
            self.unusable += 1
            if self._unusable_example is None:
                self._unusable_example = line[:80]
        return point

    def why_missing(self, curve_empty: bool) -> str | None:
        """Why the metric has no value from its progress, beyond "not in the output": the
        reader gave up, or (``curve_empty``) lines matched but none gave a point."""
        if self.problem is not None:
            return self.problem
        if curve_empty and self.unusable:
            return (
                f"{self.unusable} progress line(s) of {self.source.metric!r} matched but none "
                f"had a whole-number step from 0 to 2^63-1 and a finite value (first: "
                f"{self._unusable_example!r})"
            )
        return None


def _point(step: object, value: object) -> tuple[int, float] | None:
    """``(step, value)`` from text or JSON values; ``None`` when either is unusable."""
    number = usable_step(step)
    if number is None or isinstance(value, bool):
        return None
    try:
        value_f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return (number, value_f) if math.isfinite(value_f) else None
