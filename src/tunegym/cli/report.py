"""``tunegym report RUN_DIR``: rebuild a run's reports from its ``trials.sqlite``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "report",
        help="regenerate summary.json, best configs and report.html of a run folder",
        description=(
            "Rebuild summary.json, each job's best_config.toml and report.html from the run's "
            "trials.sqlite. Works for finished runs, runs still in progress (status 'running') "
            "and runs that were killed (status 'crashed'). Never changes trials.sqlite."
        ),
    )
    parser.add_argument(
        "run_dir",
        type=Path,
        nargs="?",
        metavar="RUN_DIR",
        help="a run folder (default: the newest under runs/)",
    )
    parser.add_argument(
        "--watch",
        action="store_true",
        help="serve the report on 127.0.0.1 and refresh it as trials land (Ctrl-C stops)",
    )
    parser.add_argument("--port", type=int, default=0, help="with --watch: port (default: free)")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="with --watch: seconds between checks"
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tunegym.cli.common import run_dir_or_newest
    from tunegym.errors import UsageError
    from tunegym.report.writing import regenerate
    from tunegym.results.training import training_run

    run_dir = run_dir_or_newest(args.run_dir)
    training = training_run(run_dir)
    if training is not None:
        if args.watch:
            raise UsageError(
                f"--watch follows a run's trials.sqlite; {run_dir} is an async-RL training "
                "run (its report.html is written when it ends)"
            )
        return _training_report(training)
    if args.watch:
        return _watch(run_dir, args.port, args.interval)
    summary = regenerate(run_dir)
    run_dir = Path(summary["run_dir"])
    trials = sum(job["trials"] for job in summary["jobs"])
    print(
        f"{summary.get('scenario')}: {summary['status']}, {len(summary['jobs'])} job(s), "
        f"{trials} trial(s)"
    )
    for job in summary["jobs"]:
        best = job.get("best")
        best_text = "no best" if best is None else f"best reward {best['reward']:.6g}"
        head = job["name"] + (f" #{job['iteration']}" if job["iteration"] else "")
        print(f"  {head}: {job['status']}, {job['trials']} trial(s), {best_text}")
    print(f"summary: {run_dir / 'summary.json'}")
    print(f"report: {run_dir / 'report.html'}")
    return 0


def _watch(run_dir: Path, port: int, interval: float) -> int:
    from tunegym.cli.common import say
    from tunegym.errors import UsageError, os_reason
    from tunegym.report.watch import ReportWatcher, make_server

    if not 0 <= port <= 65535:
        raise UsageError(f"--port: {port} is not a TCP port (0-65535)")
    if not 0.1 <= interval <= 3600:
        raise UsageError(f"--interval: {interval} s is outside 0.1-3600")
    watcher = ReportWatcher(run_dir, interval)
    watcher.page()  # a bad run folder fails here, before anything listens
    try:
        server = make_server(watcher, port)
    except OSError as exc:
        raise UsageError(f"--port {port}: cannot listen on 127.0.0.1 ({os_reason(exc)})") from None
    host, bound = str(server.server_address[0]), int(server.server_address[1])
    say(f"watching {watcher.run_dir}: http://{host}:{bound}/ (Ctrl-C stops)")
    if watcher.in_memory:
        say("the run folder is read-only to this user: the report is served, not written")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    return 0


def _training_report(training: Any) -> int:
    """Rebuild an async-RL run's report.html from its summary.json and updates.jsonl."""
    from tunegym.report.training import write_training_report

    path = training.run_dir / "report.html"
    write_training_report(path, training.summary, training.updates)
    s = training.summary
    print(
        f"{s.get('scenario')}: {s.get('status')}, async RL, {len(training.updates)} update(s), "
        f"final reward {s.get('final_reward')}"
    )
    if s.get("message"):  # still training, or killed before its summary
        print(s["message"])
    print(f"report: {path}")
    return 0
