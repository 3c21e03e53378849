"""``tunegym compare RUN_A RUN_B ...``: each job's best across runs, and the difference."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "compare",
        help="compare the jobs of several run folders",
        description=(
            "Per job: the best reward in each run, the robust best under env params or "
            "repeats (the best mean over an action's measurements), how many trials it took "
            "to reach the best, and the difference in percent from the first run that has "
            "the job: of the robust best when both runs have one, else of the best."
        ),
    )
    parser.add_argument("run_dirs", type=Path, nargs="+", metavar="RUN_DIR")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tunegym.errors import UsageError
    from tunegym.results.compare import compare_runs
    from tunegym.results.runs import load_run

    runs = [load_run(path) for path in args.run_dirs]
    seen: dict[Path, str] = {}  # a run compared with itself: a slip of the command line
    for path, run in zip(args.run_dirs, runs, strict=True):
        key = Path(run.run_dir).resolve()
        if key in seen:
            raise UsageError(f"{path}: the same run folder as {seen[key]}; compare different runs")
        seen[key] = str(path)
    lines = compare_runs(runs)
    if args.json:
        print(json.dumps([line.to_json() for line in lines], indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table("job", "run", "agent", "trials", "best", "robust best", "to best", "vs first")
    for line in lines:
        robust = "-" if line.robust is None else f"{_num(line.robust)} ({line.robust_count})"
        table.add_row(
            line.job,
            line.run,
            line.agent or "run once",
            str(line.trials),
            _num(line.best),
            robust,
            "-" if line.trials_to_best is None else str(line.trials_to_best),
            "" if line.change_pct is None else f"{line.change_pct:+.1f}%",
        )
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(width=160, soft_wrap=False)
    console.print(table)
    if any(line.change_of == "robust" for line in lines):
        console.print(ROBUST_NOTE, highlight=False)
    return 0


ROBUST_NOTE = (
    "vs first: the change of the robust best (mean over repeats or env-param draws) from "
    "the first run's; of the best trial where a run has no robust best"
)
"""Printed under the table when a "vs first" compares robust bests."""


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.6g}"
