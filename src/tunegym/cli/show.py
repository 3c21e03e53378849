"""``tunegym show RUN_DIR``: the top trials of each job as a table in the terminal.

``--status pruned`` (or ``failed,timeout``...) lists the trials with those statuses instead:
where each stopped (its last intermediate value) and why. Reads ``trials.sqlite`` only
(never writes), so it is safe on a run still in progress.
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
    parser.add_argument(
        "--status",
        type=status_list,
        default=None,
        metavar="STATUS[,STATUS...]",
        help=(
            "list the trials with these statuses (e.g. pruned, failed,timeout) instead of the "
            "best ones: measured ones best first, the others in step order, with where each "
            "stopped and why"
        ),
    )
    parser.set_defaults(handler=handle)


def status_list(text: str) -> frozenset[str]:
    """An argparse type: comma-separated trial statuses (``pruned``, ``failed,timeout``)."""
    from tunegym.trial.status import TrialStatus

    known = [s.value for s in TrialStatus if s.terminal]
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(
            f"{'is empty' if not text.strip() else f'names no status: {text[:40]!r}'}; give "
            f"one or more of {', '.join(known)} (comma-separated)"
        )
    unknown = [name for name in names if name not in known]
    if unknown:
        shown = ", ".join(repr(name[:40]) for name in unknown)
        raise argparse.ArgumentTypeError(f"unknown trial status {shown}; known: {', '.join(known)}")
    return frozenset(names)


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
        title, table = _table(job.record, list(job.rows), args.top, args.status, job.record.folder)
        console.print(title, highlight=False)
        console.print(table)
        robust = _robust_line(job)
        if robust is not None:
            console.print(robust, highlight=False)
        importances = param_importances(job) if job.record.agent is not None else None
        if importances is not None:
            for objective, shares in importances.by_objective.items():
                ranked = ", ".join(f"{k} {v:.2f}" for k, v in shares.items())
                console.print(
                    f"  importance ({importances.evaluator}, {objective}): {ranked}",
                    highlight=False,
                )
    return 0


def _robust_line(job: Any) -> str | None:
    """Under env params or repeats, the best mean over an action's measurements (the
    table ranks single trials, the luckiest first): the summary's robust best."""
    import json

    from tunegym.analysis.results import measured_repeatedly, measurements_word

    workload = job.record.job.workload
    if not measured_repeatedly(workload):
        return None
    best = job.results.robust_best
    if best is None:
        return None
    over = measurements_word(workload)
    sem = "" if best.sem is None else f" ± {best.sem:.3g} (s.e.)"
    return (
        f"  robust best (mean over {over}) {best.mean_reward:.6g}{sem} over {best.count} "
        f"measurement(s): {json.dumps(dict(best.action))}"
    )


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
    if s.get("message"):  # still training, or killed before its summary
        console.print(
            f"  reward over the last updates {_fmt(s.get('last_updates_reward'))}; {s['message']}",
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


def _selected(rows: list[Any], top: int, statuses: frozenset[str] | None) -> list[Any]:
    """The rows to show: the ``top`` best scored ones, or with ``statuses`` the rows of
    those statuses (the scored ones best first, then the others in step order)."""
    from tunegym.analysis.best import is_scored
    from tunegym.analysis.rows import top_rows

    if statuses is None:
        return top_rows(rows, top)
    chosen = sorted((row for row in rows if row.status in statuses), key=lambda r: r.step)
    unscored = [row for row in chosen if not is_scored(row)]  # rows finish out of step order
    return (top_rows(chosen, len(chosen)) + unscored)[:top]


def _table(
    record: Any,
    rows: list[Any],
    top: int,
    statuses: frozenset[str] | None = None,
    folder: Path | None = None,
) -> tuple[str, Any]:
    """The job's heading line (a line of its own: a table's title wraps at its width) and
    its table of trials; ``folder`` (the job's trial folders) adds the last line of a
    failed trial's stderr to why it failed."""
    from rich.table import Table

    from tunegym.analysis.best import is_scored
    from tunegym.analysis.rows import metric_columns

    shown = _selected(rows, top, statuses)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    counted = ", ".join(f"{k} {v}" for k, v in counts.items()) or "no trials yet"
    title = f"{record.label}: {record.status}, {len(rows)} trial(s) ({counted})"
    if statuses is None:
        empty = "no trial produced a reward"
    else:
        matching = sum(counts.get(status, 0) for status in statuses)
        wanted = ", ".join(sorted(statuses))
        title += f"; showing {len(shown)} of {matching} ({wanted})"
        empty = f"no {wanted} trial"
    table = Table(caption=None if shown else empty)
    actions = _keys(r.action for r in rows)
    envs = _keys(r.env_params for r in rows)
    metrics = metric_columns(record.job.workload, shown)
    reached = any(row.curve and not is_scored(row) for row in shown)
    why = any(row.error for row in shown)
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
    if reached:
        table.add_column("reached", justify="right")
    table.add_column("time", justify="right")
    if why:
        table.add_column("why", overflow="fold", max_width=60)
    for rank, row in enumerate(shown, 1):
        table.add_row(
            str(rank),
            str(row.step),
            _fmt(row.reward) if is_scored(row) else "-",
            row.status,
            *(_fmt(row.action.get(k)) for k in actions),
            *(_fmt(row.env_params.get(k)) for k in envs),
            *(_fmt(row.observation.get(k)) for k in metrics),
            *([_last_point(row.curve)] if reached else []),
            f"{row.duration_s:.2f}s",
            *([_why(row, folder)] if why else []),
        )
    return title, table


_RAN = frozenset({"failed", "timeout", "metric_missing"})
"""Statuses of trials whose command ran and failed: their output says why."""


def _why(row: Any, folder: Path | None) -> str:
    """A row's error, with the last line its command wrote when it failed or timed out."""
    from tunegym.report.html import last_output_line

    if not row.error:
        return ""
    said = last_output_line(folder, row) if folder is not None and row.status in _RAN else ""
    if said.removeprefix("tunegym: ") in row.error:  # tunegym's own line: the error again
        return row.error
    return f"{row.error}: {said}"


def _last_point(curve: tuple[tuple[int, float], ...]) -> str:
    """Where a trial's curve ended: ``step 8: 0.4394`` (``-`` for a trial without one)."""
    if not curve:
        return "-"
    step, value = curve[-1]
    return f"step {step}: {_fmt(value)}"


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
