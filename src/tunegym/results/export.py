"""``tunegym export``: a run's trials as flat CSV, JSON lines or Parquet.

One row per trial, one column per param, env param and metric (see
:mod:`tunegym.results.runs`). CSV and JSON lines need nothing beyond the standard library;
Parquet needs the ``results`` extra (pyarrow), imported lazily.
"""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any, Literal

from tunegym.errors import TunegymError, UsageError
from tunegym.results.runs import RunTrials
from tunegym.user_paths import output_file

Format = Literal["csv", "jsonl", "parquet"]
FORMATS: tuple[Format, ...] = ("csv", "jsonl", "parquet")


def selected(run: RunTrials, job: str | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The records and columns of ``run``, or of its job ``job`` (every iteration)."""
    jobs = run.iterations(job)
    columns: dict[str, None] = {}
    for j in jobs:
        columns.update(dict.fromkeys(j.columns()))
    return [r for j in jobs for r in j.records()], list(columns)


def write(
    records: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format, target: Path | None
) -> None:
    """Write ``records`` in ``fmt`` to ``target`` (``None``: standard output; not for
    Parquet)."""
    if fmt == "parquet":
        if target is None:
            raise UsageError("--format parquet writes a file: give --output PATH")
        _write_parquet(records, columns, output_file(target, "--output"))
        return
    if target is None:
        _write_text(records, columns, fmt, sys.stdout)
        return
    output_file(target, "--output")
    with target.open("w", newline="", encoding="utf-8") as fh:
        _write_text(records, columns, fmt, fh)


def _write_text(
    records: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format, fh: IO[str]
) -> None:
    if fmt == "jsonl":
        for record in records:
            fh.write(json.dumps(_json_ready(record), default=str) + "\n")
        return
    writer = csv.DictWriter(fh, fieldnames=list(columns))
    writer.writeheader()
    for record in records:
        writer.writerow({k: _csv_cell(v) for k, v in record.items()})


def _json_ready(record: dict[str, Any]) -> dict[str, Any]:
    """NaN and infinities as ``null`` (JSON has neither)."""
    return {
        k: None if isinstance(v, float) and not math.isfinite(v) else v for k, v in record.items()
    }


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _write_parquet(records: Sequence[dict[str, Any]], columns: Sequence[str], target: Path) -> None:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise TunegymError(
            f"--format parquet needs pyarrow (pip install 'tunegym[results]'): {exc}"
        ) from exc
    # A column mixing types (a categorical of ints and strings) is written as strings.
    data: dict[str, list[Any]] = {c: [r.get(c) for r in records] for c in columns}
    arrays = {}
    for name, values in data.items():
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[name] = pa.array([None if v is None else str(v) for v in values])
    pq.write_table(pa.table(arrays), target)
