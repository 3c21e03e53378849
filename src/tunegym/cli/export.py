"""``tunegym export [RUN_DIR]``: a run's trials as flat rows, or as Optuna studies."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a run's trials: CSV, JSON lines, Parquet, or an Optuna study",
        description=(
            "One row per trial with a column per param (params.<name>), env param "
            "(env_params.<name>) and metric (metrics.<name>), plus job, iteration, step, "
            "status, reward, duration_s and error. With --optuna, each agent-driven job "
            "becomes an Optuna study in that storage (optuna-dashboard opens it). An async-RL "
            "training run's folder gives one row per update instead."
        ),
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        nargs="?",
        metavar="RUN_DIR",
        help="a run folder (default: newest under runs/)",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="csv, jsonl or parquet (default: from the --output extension, else csv)",
    )
    parser.add_argument("--job", default=None, help="only this job (every iteration)")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        help="file to write (default, or '-': standard output)",
    )
    parser.add_argument(
        "--optuna",
        default=None,
        metavar="STORAGE",
        help="write each job as an Optuna study into STORAGE, e.g. sqlite:///study.db",
    )
    parser.add_argument(
        "--replace", action="store_true", help="with --optuna: overwrite studies of the same name"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import sys

    from tunegym.cli.common import run_dir_or_newest
    from tunegym.errors import UsageError
    from tunegym.results.export import write
    from tunegym.results.runs import load_run
    from tunegym.results.training import UPDATE_COLUMNS, training_run

    run_dir = run_dir_or_newest(args.run_dir)
    if args.output is not None and str(args.output) == "-":
        args.output = None
    args.format = export_format(args.format, args.output)
    if args.output is not None:
        _refuse_a_file_of_the_run(run_dir, args.output, "--output")
    training = training_run(run_dir)
    if training is not None:  # an async-RL run: one row per update
        for flag, given in (("--optuna", args.optuna), ("--job", args.job)):
            if given is not None:
                raise UsageError(f"{flag}: {run_dir} is an async-RL training run, not trials")
        records = training.records()
        write(records, UPDATE_COLUMNS, args.format, args.output)
        if args.output is not None:
            print(f"{len(records)} update(s) -> {args.output}", file=sys.stderr)
        return 0
    run = load_run(run_dir)
    if args.optuna is not None:
        if args.optuna.startswith("sqlite:///"):
            _refuse_a_file_of_the_run(run_dir, Path(args.optuna[10:]), "--optuna")
        from tunegym.results.studies import export_run

        for name in export_run(run, args.optuna, replace=args.replace, job=args.job):
            print(f"study {name!r} -> {args.optuna}", file=sys.stderr)
        return 0
    from tunegym.results.export import selected

    records, columns = selected(run, args.job)
    write(records, columns, args.format, args.output)
    if args.output is not None:
        print(f"{len(records)} trial(s) -> {args.output}", file=sys.stderr)
    return 0


def _refuse_a_file_of_the_run(run_dir: Path, path: Path, flag: str) -> None:
    """A :class:`UsageError` when exporting to ``path`` would overwrite what the run
    (or another run whose folder ``path`` is in) recorded."""
    from tunegym.session.recorded import refuse_a_file_of_a_run

    hint = " (write it beside the run, e.g. trials.csv)"
    refuse_a_file_of_a_run(path, flag, "exporting", run_dir, hint)


FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def export_format(given: str | None, output: Path | None) -> str:
    """The format to write: ``--format`` if given, else what the ``--output`` extension
    says, else csv. A format the extension contradicts is refused (``x.csv`` holding
    Parquet is no file anyone can open as its name says)."""
    from tunegym.errors import UsageError

    implied = _EXTENSIONS.get(output.suffix.lower()) if output is not None else None
    if given is not None and implied is not None and given != implied:
        raise UsageError(
            f"--format {given} into {output}: its extension says {implied}; change one of them"
        )
    fmt = given or implied or "csv"
    if fmt == "parquet" and output is not None and _a_stream(output):
        raise UsageError(f"--output {output}: Parquet is written to a regular file, not a pipe")
    return fmt


def _a_stream(path: Path) -> bool:
    """Whether ``path`` is there and is neither a file nor a folder (a pipe, a FIFO,
    ``/dev/stdout``): what Parquet, which seeks, cannot be written to."""
    return path.exists() and not path.is_file() and not path.is_dir()
