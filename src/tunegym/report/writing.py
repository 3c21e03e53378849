"""Every report of a run, written at its end or regenerated later from ``trials.sqlite``.

:func:`write_reports` is called by whoever finishes a run (after its
:class:`~tunegym.session.RunSession` recorded the result); :func:`regenerate` rebuilds
``summary.json``, the ``best_config.toml`` files and ``report.html`` from the run
database alone (:func:`~tunegym.session.read_run`), so it works for a finished run, a run
in progress and a run that was killed (status ``crashed``). Neither writes run state.
"""

from __future__ import annotations

import errno
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tunegym.analysis.results import JobResults
from tunegym.errors import UsageError
from tunegym.outputs.summary import build_summary, write_summary
from tunegym.report.html import run_page, write_report
from tunegym.session.reading import read_run
from tunegym.session.records import JobRecord
from tunegym.trial.store import TrialDatabase


class ReportsNotWritable(UsageError):
    """This user may read a run folder but not rewrite its reports."""


def write_reports(
    run_dir: Path,
    info: dict[str, Any],
    records: Sequence[JobRecord],
    db: TrialDatabase,
) -> dict[str, Any]:
    """Write ``summary.json``, the best configs and ``report.html``; return the summary.

    ``summary.json`` is what scripts rely on, so a failure of the HTML writer does not
    fail the run: it is reported on stderr, and ``tunegym report`` can retry it.
    """
    results = [JobResults.load(db, record) for record in records]  # rows read once
    summary = write_summary(run_dir / "summary.json", info, records, db, results)
    try:
        write_report(run_dir / "report.html", summary, records, results)
    except Exception as exc:  # a report bug must not turn a finished run into a failure
        print(
            f"tunegym: warning: report.html not written ({type(exc).__name__}: {exc}); "
            f"retry with: tunegym report {run_dir}",
            file=sys.stderr,
        )
    return summary


def regenerate(run_dir: Path, now: float | None = None) -> dict[str, Any]:
    """Rewrite ``summary.json``, ``best_config.toml`` files and ``report.html`` of a run.

    Reads only ``trials.sqlite`` (the trial folders for stderr tails), never writes to it,
    so it is safe while the run is still going. Returns the new summary, which carries
    ``regenerated_at``. Raises :class:`UsageError` when ``run_dir`` is not a run folder,
    or when this user may not write the reports there (``tunegym show`` and ``export``
    still read it).
    """
    now = time.time() if now is None else now
    with read_run(run_dir, now) as run:
        info = {**run.info, "regenerated_at": now}
        results = [JobResults.load(run.db, record) for record in run.records]
        try:
            summary = write_summary(
                run.run_dir / "summary.json", info, run.records, run.db, results
            )
            write_report(run.run_dir / "report.html", summary, run.records, results)
        except OSError as exc:  # a file is written beside itself, then renamed
            if not isinstance(exc, PermissionError) and exc.errno != errno.EROFS:
                raise
            folder = Path(exc.filename).parent if exc.filename else run.run_dir
            why = (
                "permission denied" if isinstance(exc, PermissionError) else "read-only file system"
            )
            raise ReportsNotWritable(
                f"{run.run_dir}: cannot rewrite its reports: {why} in {folder} "
                "(tunegym show and tunegym export read the run as it is)"
            ) from None
        return summary


def current_page(run_dir: Path, now: float | None = None) -> str:
    """The report page of a run as of now, built in memory: nothing is written (for a
    run folder this user may only read; :func:`regenerate` writes the same page)."""
    now = time.time() if now is None else now
    with read_run(run_dir, now) as run:
        info = {**run.info, "regenerated_at": now}
        results = [JobResults.load(run.db, record) for record in run.records]
        summary = build_summary(run.run_dir, info, run.records, run.db, results, write_files=False)
        return run_page(summary, run.records, results)
