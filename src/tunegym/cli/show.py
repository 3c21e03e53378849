"""``tunegym show RUN_DIR``: the top trials of each job as a table in the terminal.

Reads ``trials.sqlite`` only (never writes), so it is safe on a run still in progress.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

from tunegym.cli.common import positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "show",
        help="print the top trials of a run folder as a table",
        description="Print each job's best trials (by reward) from the run's trials.sqlite.",
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        nargs="?",
        metavar="RUN_DIR",
        help="a run folder (default: the newest under runs/)",
    )
    parser.add_argument(
        "-n", "--top", type=positive_int, default=10, help="trials per job (default: 10)"
    )
    parser.add_argument("--job", default=None, help="only this job (by name)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rich.console import Console

    from tunegym.cli.common import run_dir_or_newest
    from tunegym.errors import UsageError
    from tunegym.results.importance import param_importances
    from tunegym.results.runs import load_run
    from tunegym.results.training import training_run

    run_dir = run_dir_or_newest(args.run_dir)
    training = training_run(run_dir)
    if training is not None:
        if args.job is not None:
            raise UsageError(f"--job: {run_dir} is an async-RL training run; it has no jobs")
        return _show_training(training, args.top)
    run = load_run(run_dir)
    jobs = list(run.jobs)
    if args.job is not None:
        names = sorted({j.name for j in jobs})
        jobs = [j for j in jobs if j.name == args.job]
        if not jobs:
            raise UsageError(f"no job {args.job!r} in {run.run_dir}; jobs: {', '.join(names)}")
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(width=200, soft_wrap=False)
    console.print(
        f"[bold]{run.info.get('scenario', run.run_dir)}[/bold]: {run.info.get('status')}, "
        f"{len(jobs)} job(s)",
        highlight=False,
    )
    for job in jobs:
        console.print(_table(job.record, list(job.rows), args.top))
        importances = param_importances(job) if job.record.agent is not None else None
        if importances is not None:
            for objective, shares in importances.by_objective.items():
                ranked = ", ".join(f"{k} {v:.2f}" for k, v in shares.items())
                console.print(
                    f"  importance ({importances.evaluator}, {objective}): {ranked}",
                    highlight=False,
                )
    return 0


def _show_training(training: Any, last: int) -> int:
    """An async-RL run: what it trained, then its last ``last`` updates."""
    from rich.console import Console
    from rich.table import Table

    s, config = training.summary, training.summary.get("config", {})
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(width=200, soft_wrap=False)
    console.print(
        f"[bold]{s.get('scenario', training.run_dir)}[/bold]: {s.get('status')}, async RL "
        f"({config.get('mode')}, max_staleness {config.get('max_staleness')}), "
        f"{s.get('updates_done', len(training.updates))} update(s); reward "
        f"{_fmt(s.get('untrained_reward'))} untrained -> {_fmt(s.get('final_reward'))}; "
        f"{s.get('samples_claimed')} sample(s) claimed, {s.get('stale_dropped')} stale dropped",
        highlight=False,
    )
    shown = list(training.updates)[-last:]
    table = Table(title=f"last {len(shown)} of {len(training.updates)} update(s)")
    columns = ("update", "version", "reward", "trained", "stale_dropped", "step_s")
    for name in columns:
        table.add_column(name, justify="right")
    for update in shown:
        table.add_row(*(_fmt(update.get(name)) for name in columns))
    console.print(table)
    return 0


def _table(record: Any, rows: list[Any], top: int) -> Any:
    from rich.table import Table

    from tunegym.analysis.rows import metric_columns, top_rows

    best = top_rows(rows, top)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    head = record.job.name + (f" #{record.iteration}" if record.iteration else "")
    counted = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no trials yet"
    table = Table(
        title=f"{head}: {record.status}, {len(rows)} trial(s) ({counted})",
        title_justify="left",
        caption=None if best else "no trial produced a reward",
    )
    actions = _keys(r.action for r in rows)
    envs = _keys(r.env_params for r in rows)
    metrics = metric_columns(record.job.workload, best)
    table.add_column("#", justify="right")
    table.add_column("step", justify="right")
    table.add_column("reward", justify="right", style="bold")
    table.add_column("status")
    for key in actions:
        table.add_column(key)
    for key in envs:
        table.add_column(f"env:{key}")
    for key in metrics:
        table.add_column(key, justify="right")
    table.add_column("time", justify="right")
    for rank, row in enumerate(best, 1):
        table.add_row(
            str(rank),
            str(row.step),
            _fmt(row.reward),
            row.status,
            *(_fmt(row.action.get(k)) for k in actions),
            *(_fmt(row.env_params.get(k)) for k in envs),
            *(_fmt(row.observation.get(k)) for k in metrics),
            f"{row.duration_s:.2f}s",
        )
    return table


def _keys(tables: Any) -> list[str]:
    out: list[str] = []
    for table in tables:
        out.extend(key for key in table if key not in out)
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=str)
    return str(value)
