"""``tunegym report RUN_DIR``: rebuild a run's reports from its ``trials.sqlite``."""

from __future__ import annotations

import argparse
from pathlib import Path


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
    parser.add_argument("run_dir", type=Path, metavar="RUN_DIR", help="a run folder")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from tunegym.report.writing import regenerate

    summary = regenerate(args.run_dir)
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
