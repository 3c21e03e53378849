"""Paths a user names for tunegym to write (``export --output``, ``run --log-file``)
that would overwrite what a run recorded: refused before anything is written."""

from __future__ import annotations

from pathlib import Path

from tunegym.errors import UsageError
from tunegym.layout import RUN_DB_NAME

__all__ = ["RUN_TOP_FILES", "refuse_a_file_of_a_run"]

RUN_TOP_FILES = (".lock", "summary.json", "report.html", "failure.txt")
"""Files tunegym keeps at the top of a run folder besides its database."""


def refuse_a_file_of_a_run(
    path: Path, what: str, doing: str, run_dir: Path, hint: str = ""
) -> None:
    """A :class:`UsageError` when writing ``path`` (named by ``what``, e.g. ``--output``)
    would overwrite what the run in ``run_dir`` recorded. Refused: any file already in the
    run folder, at any depth (the database and its journal, ``summary.json``, a trial's
    ``stdout.txt``, a ``trajectory.csv``, a ``best_config.toml``); a file tunegym writes
    at its top; anything in its job, iteration and trial folders. A new file directly
    in the run folder (``RUN/trials.csv``) is fine. ``doing`` says what would be done
    there (``exporting``); ``hint`` is added to the message."""
    target = path.expanduser().resolve()
    top = run_dir.resolve()
    if not target.is_relative_to(top) or target == top:
        return
    inside = target.relative_to(top)
    if target.parent == top and (
        target.name.startswith(RUN_DB_NAME) or target.name in RUN_TOP_FILES
    ):
        which = f"the run's own {target.name}"
    elif target.exists() and not target.is_dir():
        which = f"a file the run recorded ({inside})"
    elif target.parent != top:
        which = f"inside {inside.parent}/ of the run folder, which tunegym writes"
    else:
        return
    raise UsageError(
        f"{what} {path}: is {which}; {doing} there would overwrite what the run recorded{hint}"
    )
