"""Metric extractors: read one number from a trial's stdout or output files.

Each ``[[metrics]]`` table becomes a :class:`MetricSource`; :func:`build_extractor`
checks its ``source`` once (bad syntax is a ``ValueError`` naming the metric and the
expected form) and returns an :class:`Extractor`. Extraction never raises on bad trial
output: a file that is absent or unreadable, a path that is not there, or a value that
is not a finite number (booleans included) all give ``None``, meaning "missing".

Source forms:

- ``regex``: a Python regex searched over stdout. The *last* match wins (benchmarks print
  progress first); its group 1 is parsed as a float, so the pattern must have a capture
  group (a pattern without one is refused when the spec is loaded). Use inline flags
  such as ``(?m)`` for line anchors. The search is bounded in time
  (``regex_timeout_s``, default :data:`REGEX_TIMEOUT_S`): a pattern that backtracks
  catastrophically makes the metric missing, with that reason, instead of hanging the
  run. Patterns are matched by the ``regex`` engine in its ``re``-compatible mode (the
  standard ``re`` cannot be stopped from another thread).
- ``json``: ``"file.json:dotted.path"`` read from the trial folder (relative paths are
  resolved against it), or ``"stdout:dotted.path"`` parsing stdout as JSON; when stdout
  is not one JSON document, the last line that parses as a JSON object is used. The path
  splits at the first ``:``; path segments index lists by integer (``results.0.tput``,
  ``results.-1.tput``).
- ``csv``: ``"file.csv:column"`` gives the column's value in the last row;
  ``"file.csv:column:mean|min|max|last|first|sum"`` aggregates over all rows, and every
  row's value must then be a number.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal, Protocol

from tunegym.metrics.trial_files import TrialFileError, read_trial_file

__all__ = [
    "AGGREGATES",
    "REGEX_TIMEOUT_S",
    "CsvExtractor",
    "Extractor",
    "JsonFileExtractor",
    "JsonStdoutExtractor",
    "MetricReadout",
    "MetricSource",
    "RegexExtractor",
    "build_extractor",
    "extract_all",
    "extract_metrics",
    "to_finite_float",
]

AGGREGATES = ("mean", "min", "max", "last", "first", "sum")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
REGEX_TIMEOUT_S = 10.0
"""Default bound on one regex metric's search of a trial's stdout."""


@dataclass(frozen=True)
class MetricSource:
    """One ``[[metrics]]`` table: a metric ``name`` and where its value comes from."""

    name: str
    kind: Literal["regex", "json", "csv"]
    source: str
    timeout_s: float = REGEX_TIMEOUT_S
    """``regex`` only: the longest the search may take before the metric is missing."""

    @classmethod
    def of(cls, spec: Any) -> MetricSource:
        """The source of a ``[[metrics]]`` table (a :class:`~tunegym.spec.MetricSpec`)."""
        timeout = spec.regex_timeout_s
        return cls(
            spec.name, spec.kind, spec.source, REGEX_TIMEOUT_S if timeout is None else timeout
        )


class Extractor(Protocol):
    """Reads one metric; ``extract`` returns ``None`` when the metric is missing."""

    @property
    def name(self) -> str: ...

    def extract(self, trial_dir: Path, stdout: str) -> float | None: ...


def to_finite_float(value: object) -> float | None:
    """``value`` as a finite float (numbers and numeric strings), else ``None``.

    Booleans are not numbers here: ``true`` in a JSON file is not a metric value. Text
    must be a decimal number in ASCII (``-1.5e3``), as benchmarks print them.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        value = value.strip()
        if not _DECIMAL.fullmatch(value):  # float() also takes '1_000' and '١٢'
            return None
    elif not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class RegexExtractor:
    """Group 1 of the last match of ``pattern`` in stdout, searched for at most
    ``timeout_s`` seconds (the GIL is released meanwhile, so parallel trials go on)."""

    name: str
    pattern: Any
    """A compiled pattern of the ``regex`` module (``re``-compatible syntax)."""
    timeout_s: float = REGEX_TIMEOUT_S

    def extract(self, trial_dir: Path, stdout: str) -> float | None:
        return self.read(trial_dir, stdout)[0]

    def read(self, trial_dir: Path, stdout: str) -> tuple[float | None, str | None]:
        """``(value, None)``, or ``(None, why)`` when the search ran out of time."""
        last = None
        try:
            for last in self.pattern.finditer(  # noqa: B007 - keep the last match
                stdout, timeout=self.timeout_s, concurrent=True
            ):
                pass
        except TimeoutError:
            return None, (
                f"metric {self.name!r}: the regex search of stdout took longer than "
                f"{self.timeout_s:g} s (catastrophic backtracking?); simplify the pattern "
                "or raise regex_timeout_s"
            )
        if last is None:
            return None, None
        text = last.group(1) if self.pattern.groups else last.group(0)
        value = to_finite_float(text)
        if value is None:
            return (
                None,
                f"metric {self.name!r}: its last match {_shorten(str(text), 40)} is not a "
                "finite number",
            )
        return value, None


def _trial_text(
    name: str, trial_dir: Path, file: str, encoding: str
) -> tuple[str | None, str | None]:
    """The text of the trial's ``file``, or ``(None, why)`` naming the metric and file."""
    try:
        return read_trial_file(Path(trial_dir) / file).decode(encoding), None
    except FileNotFoundError:
        return None, f"metric {name!r}: the trial wrote no {file} (no such file in its folder)"
    except TrialFileError as exc:
        return None, f"metric {name!r}: {exc}"
    except UnicodeDecodeError as exc:
        return None, f"metric {name!r}: {file} is not {encoding} text ({exc.reason})"
    except OSError as exc:
        return None, f"metric {name!r}: cannot read {file}: {exc.strerror or exc}"


def _number_at(
    name: str, document: Any, path: tuple[str, ...], where: str
) -> tuple[float | None, str | None]:
    """The finite number at ``path`` in ``document``, or ``(None, why)``."""
    for depth in range(1, len(path) + 1):
        if _walk(document, path[:depth]) is None:
            return None, f"metric {name!r}: {where} has no {'.'.join(path[:depth])!r}"
    value = _walk(document, path)
    number = to_finite_float(value)
    if number is None:
        shown = _clip(json.dumps(value, default=str), 40)
        return (
            None,
            f"metric {name!r}: {where} holds {shown} at {'.'.join(path)!r}, not a finite number",
        )
    return number, None


def _walk(document: Any, path: tuple[str, ...]) -> Any:
    current = document
    for key in path:
        if isinstance(current, dict):
            if key not in current:
                return None
            current = current[key]
        elif isinstance(current, list):
            try:
                current = current[int(key)]
            except (ValueError, IndexError):
                return None
        else:
            return None
    return current


def _parse_stdout_json(stdout: str) -> Any:
    try:
        return json.loads(stdout)
    except ValueError:
        pass
    for line in reversed(stdout.splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict):
            return document
    return None


@dataclass(frozen=True)
class JsonFileExtractor:
    """A dotted path inside a JSON file of the trial folder."""

    name: str
    file: str
    path: tuple[str, ...]

    def extract(self, trial_dir: Path, stdout: str) -> float | None:
        return self.read(trial_dir, stdout)[0]

    def read(self, trial_dir: Path, stdout: str) -> tuple[float | None, str | None]:
        """``(value, None)``, or ``(None, why)``: the file is missing, unreadable or not
        JSON, or holds no finite number at the path."""
        text, why = _trial_text(self.name, trial_dir, self.file, "utf-8")
        if text is None:
            return None, why
        try:
            document = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return None, f"metric {self.name!r}: {self.file} is not JSON ({exc})"
        return _number_at(self.name, document, self.path, self.file)


@dataclass(frozen=True)
class JsonStdoutExtractor:
    """A dotted path inside stdout parsed as JSON (or its last JSON-object line)."""

    name: str
    path: tuple[str, ...]

    def extract(self, trial_dir: Path, stdout: str) -> float | None:
        return self.read(trial_dir, stdout)[0]

    def read(self, trial_dir: Path, stdout: str) -> tuple[float | None, str | None]:
        """``(value, None)``, or ``(None, why)``: no JSON in stdout, or no finite number
        at the path."""
        try:
            document = _parse_stdout_json(stdout)
        except RecursionError:
            document = None
        if document is None:
            return None, (
                f"metric {self.name!r}: stdout is not JSON and has no line holding a JSON object"
            )
        return _number_at(self.name, document, self.path, "stdout's JSON")


def _aggregate(values: list[float], how: str) -> float | None:
    if not values:
        return None
    if how == "first":
        return values[0]
    if how == "last":
        return values[-1]
    if how == "min":
        return min(values)
    if how == "max":
        return max(values)
    total = math.fsum(values)
    result = total / len(values) if how == "mean" else total
    return result if math.isfinite(result) else None


@dataclass(frozen=True)
class CsvExtractor:
    """A column of a CSV file (with a header row) in the trial folder.

    Without ``aggregate`` the last row's value is taken; otherwise all rows are
    aggregated and any row whose value is not a number makes the metric missing.
    """

    name: str
    file: str
    column: str
    aggregate: str | None = None

    def extract(self, trial_dir: Path, stdout: str) -> float | None:
        return self.read(trial_dir, stdout)[0]

    def read(self, trial_dir: Path, stdout: str) -> tuple[float | None, str | None]:
        """``(value, None)``, or ``(None, why)``: the file is missing or unreadable, has no
        such column or no row, or a value is not a finite number."""
        text, why = _trial_text(self.name, trial_dir, self.file, "utf-8-sig")
        if text is None:
            return None, why
        try:
            value, why = self._read(csv.reader(io.StringIO(text, newline="")))
        except (csv.Error, ValueError) as exc:
            return None, f"metric {self.name!r}: {self.file} is not CSV ({exc})"
        return value, None if why is None else f"metric {self.name!r}: {self.file} {why}"

    def _read(self, rows: Any) -> tuple[float | None, str | None]:
        header = next(rows, None)
        if header is None:
            return None, "is empty (no header row)"
        names = [h.strip() for h in header]
        if self.column not in names:
            return (
                None,
                f"has no column {self.column!r} (its columns: {_clip(', '.join(names), 80)})",
            )
        index = names.index(self.column)
        cells = [
            (n, row[index] if index < len(row) else None) for n, row in enumerate(rows, 2) if row
        ]
        if not cells:
            return None, "has a header but no row"
        if self.aggregate is None:
            cells = cells[-1:]
        values: list[float] = []
        for line, cell in cells:
            number = to_finite_float(cell)
            if number is None:
                return None, (
                    f"line {line}: {self.column!r} is {_shorten(str(cell), 40)}, not a "
                    "finite number"
                )
            values.append(number)
        value = values[0] if self.aggregate is None else _aggregate(values, self.aggregate)
        return (
            value,
            None if value is not None else f"the {self.aggregate} of {self.column!r} is not finite",
        )


def _split_path(metric: MetricSource, dotted: str, form: str) -> tuple[str, ...]:
    parts = tuple(dotted.split("."))
    if not dotted or any(not p for p in parts):
        raise ValueError(
            f"metric {metric.name!r}: json source {metric.source!r} has an empty path "
            f"segment; expected {form}"
        )
    return parts


def build_extractor(metric: MetricSource) -> Extractor:
    """Validate ``metric.source`` for its kind and build the extractor.

    Raises ``ValueError`` naming the metric and the expected form.
    """
    source = metric.source
    if metric.kind == "regex":
        return RegexExtractor(metric.name, _compile_regex(metric), metric.timeout_s)
    if metric.kind == "json":
        form = "'file.json:dotted.path' or 'stdout:dotted.path'"
        file, sep, dotted = source.partition(":")
        if not sep or not file.strip():
            raise ValueError(f"metric {metric.name!r}: json source {source!r}; expected {form}")
        path = _split_path(metric, dotted, form)
        if file == "stdout":
            return JsonStdoutExtractor(metric.name, path)
        return JsonFileExtractor(metric.name, _trial_file(metric, file), path)
    if metric.kind == "csv":
        form = f"'file.csv:column' or 'file.csv:column:{'|'.join(AGGREGATES)}'"
        parts = source.split(":")
        if len(parts) not in (2, 3) or not parts[0].strip() or not parts[1].strip():
            raise ValueError(f"metric {metric.name!r}: csv source {source!r}; expected {form}")
        aggregate = parts[2] if len(parts) == 3 else None
        if aggregate is not None and aggregate not in AGGREGATES:
            raise ValueError(
                f"metric {metric.name!r}: unknown csv aggregate {aggregate!r}; "
                f"expected one of {', '.join(AGGREGATES)}"
            )
        return CsvExtractor(metric.name, _trial_file(metric, parts[0]), parts[1].strip(), aggregate)
    raise ValueError(
        f"metric {metric.name!r}: unknown extractor kind {metric.kind!r}; "
        "expected regex, json or csv"
    )


def _trial_file(metric: MetricSource, name: str) -> str:
    """``name``, a file the trial writes in its folder; a ``ValueError`` for a path that
    leaves it (each trial reads its own file: ``/dev/zero`` or another run's is none)."""
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        raise ValueError(
            f"metric {metric.name!r}: {metric.kind} file {name!r} must be inside the trial "
            "folder (a relative path without '..')"
        )
    return name


def _compile_regex(metric: MetricSource) -> Any:
    import regex

    source = metric.source
    shown = _shorten(source)
    if not source:
        raise ValueError(f"metric {metric.name!r}: empty regex")
    if len(source) > 10_000:
        raise ValueError(f"metric {metric.name!r}: the regex {shown} is longer than 10000 chars")
    try:
        pattern = regex.compile(source, regex.VERSION0)
    except (regex.error, ValueError, OverflowError, RecursionError) as exc:
        raise ValueError(f"metric {metric.name!r}: invalid regex {shown}: {exc}") from None
    if pattern.groups == 0:
        raise ValueError(
            f"metric {metric.name!r}: the regex {shown} has no capture group; put the number "
            r"in parentheses, e.g. 'loss: ([0-9.eE+-]+)' (group 1 is the value)"
        )
    return pattern


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def _shorten(text: str, limit: int = 80) -> str:
    shown = repr(text)
    return shown if len(shown) <= limit else f"{shown[: limit - 1]}… ({len(shown)} characters)"


@dataclass(frozen=True)
class MetricReadout:
    """What the extractors read from one trial: values, missing names, and why some are
    missing when the reason is more than "not in the output" (a regex out of time)."""

    found: dict[str, float]
    missing: list[str]
    reasons: dict[str, str]

    def why_missing(self) -> str:
        """The reasons, joined (empty when every missing metric was simply not found)."""
        return "; ".join(self.reasons.values())


def extract_metrics(extractors: Sequence[Extractor], trial_dir: Path, stdout: str) -> MetricReadout:
    """Run every extractor, in order, into a :class:`MetricReadout`."""
    found: dict[str, float] = {}
    missing: list[str] = []
    reasons: dict[str, str] = {}
    for extractor in extractors:
        read = getattr(extractor, "read", None)
        value, why = (
            read(trial_dir, stdout) if read else (extractor.extract(trial_dir, stdout), None)
        )
        if value is None:
            missing.append(extractor.name)
            if why:
                reasons[extractor.name] = why
        else:
            found[extractor.name] = value
    return MetricReadout(found, missing, reasons)


def extract_all(
    extractors: Sequence[Extractor], trial_dir: Path, stdout: str
) -> tuple[dict[str, float], list[str]]:
    """Run every extractor: ``(found {name: value}, names of missing metrics)``, in order."""
    readout = extract_metrics(extractors, trial_dir, stdout)
    return readout.found, readout.missing
