"""Helpers for tests that run ``tunegym`` (against the real clusters too): rows, processes
and the tables ``tunegym show`` prints."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

TUNEGYM = [sys.executable, "-c", "import sys; from tunegym.cli.main import main; sys.exit(main())"]


def trial_rows(run_dir: Path) -> list[dict[str, Any]]:
    """Every recorded trial of a run folder, in step order, as dicts."""
    db = sqlite3.connect(run_dir / "trials.sqlite")
    db.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in db.execute("SELECT * FROM trials ORDER BY step")]
    finally:
        db.close()
    for row in rows:
        row["action"] = json.loads(row["action"])
    return rows


def table_cells(out: str) -> list[list[str]]:
    """The body rows of the rich tables in ``out`` (what ``tunegym show`` printed), as
    stripped cells."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in out.splitlines()
        if line.startswith("│")
    ]


def table_header(out: str) -> list[str]:
    """The column names of the one rich table in ``out``."""
    (line,) = [line for line in out.splitlines() if line.startswith("┃")]
    return [cell.strip() for cell in line.split("┃")[1:-1]]


def only_run_dir(output: Path) -> Path:
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return run_dir


class Tunegym:
    """``tunegym`` in a process of its own, leading its own process group.

    So that a test can send it SIGINT as a terminal's Ctrl-C would (to the whole
    foreground group: tunegym and the Slurm or Ray clients it runs), and so that a
    background start from a non-interactive shell (which ignores SIGINT) is never the
    reason a test passes or fails.
    """

    def __init__(
        self,
        args: list[str],
        env: dict[str, str],
        cwd: Path,
        log: Path,
        unset: tuple[str, ...] = (),
    ) -> None:
        """``env`` overlays this process's environment, less the variables in ``unset``."""
        self.log = log
        self._out = open(log, "wb")  # noqa: SIM115 (closed in wait())
        self.proc = subprocess.Popen(
            [*TUNEGYM, *args],
            cwd=cwd,
            env={k: v for k, v in {**os.environ, **env}.items() if k not in unset},
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def interrupt(self) -> None:
        os.killpg(self.proc.pid, signal.SIGINT)

    def wait(self, timeout: float) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise
        finally:
            self._out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")
