"""Progress of a job: a rich live view on a terminal, plain lines otherwise, and a log file.

What is shown per trial: trial i/N, elapsed time, ETA, best reward so far, and the last
trial's status, reward and duration.

* **Terminal** (``live``): a ``rich`` progress bar per job that updates in place.
* **Not a terminal** (pipes, CI logs): one plain line per trial, plus a line when the job
  starts and ends; never any escape code. Jobs of more than ``PLAIN_EVERY_TRIAL_UP_TO``
  trials (RL training runs take thousands) print about a hundred lines instead: every
  1 % of the budget, every new best, and at least every ``PLAIN_MAX_SILENCE_S`` seconds.
* ``verbosity``: 0 (``--quiet``) prints nothing; 1 the above; 2 (``--verbose``) adds the
  action and env params of each trial (on a terminal, as lines above the bar).
* ``log_path`` (``--log-file``): the verbose plain lines, timestamped, appended to a file
  whatever the verbosity and terminal.

``rich`` is imported only for the live view.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from tunegym.analysis.best import is_scored
from tunegym.console import drop_stdout
from tunegym.errors import interrupt_cause
from tunegym.pruning.decisions import pruned_outcome

if TYPE_CHECKING:
    from tunegym.env.base import BaseGym
    from tunegym.trial.store import TrialRow

QUIET, NORMAL, VERBOSE = 0, 1, 2
PLAIN_EVERY_TRIAL_UP_TO = 200
PLAIN_MAX_SILENCE_S = 10.0
LABEL_WIDTH = 24
"""The live view cuts a job's label to this many characters (with an ellipsis)."""


def format_duration(seconds: float | None) -> str:
    """``0.04s``, ``4.2s``, ``3m05s``, ``1h02m``; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 1:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _number(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.6g}"


class ProgressObserver:
    """A :class:`~tunegym.env.observers.StepObserver` that reports a job's progress.

    Use it as a context manager around the job: entering starts the live view (or prints
    the start line), leaving stops it (or prints the end line). ``live=None`` means "live
    when ``stream`` is a terminal". ``clock`` (monotonic seconds) is for tests.
    """

    def __init__(
        self,
        label: str,
        total: int,
        stream: TextIO | None = None,
        live: bool | None = None,
        verbosity: int = NORMAL,
        log_path: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.label = label
        self.total = total
        self.stream: TextIO | None = stream or sys.stdout
        self.verbosity = verbosity
        self.live = verbosity > QUIET and (_isatty(self.stream) if live is None else live)
        self.log_path = log_path
        self.clock = clock
        self.done = 0
        self.replayed: Counter[str] = Counter()
        """A resumed job's trials recorded before this session, by status."""
        self.best: float | None = None
        self.last: TrialRow | None = None
        self.started: float | None = None
        self._log: TextIO | None = None
        self._progress: Any = None
        self._task: Any = None
        self._last_line = clock()

    # -- derived values ------------------------------------------------------------------
    @property
    def elapsed(self) -> float:
        return 0.0 if self.started is None else self.clock() - self.started

    @property
    def eta(self) -> float | None:
        """Seconds left at this session's mean pace; ``None`` before its first trial (a
        resumed job's replayed trials took no time here)."""
        ran = self.done - self.replayed.total()
        if ran <= 0:
            return None
        return self.elapsed / ran * max(0, self.total - self.done)

    def status_text(self) -> str:
        """``best <b> | last <status> <reward> (<duration>)`` for the live view."""
        if self.last is None:
            return "waiting for the first trial"
        return (
            f"best {_number(self.best)} | last {self.last.status} {_number(self.last.reward)} "
            f"({format_duration(self.last.duration_s)})"
        )

    def trial_line(self, row: TrialRow, verbose: bool) -> str:
        """The plain line of one finished trial."""
        outcome = f"reward={_number(row.reward)}"
        if row.status == "pruned" and row.curve:
            outcome = pruned_outcome(row)
        line = (
            f"[{self.label}] trial {self.done}/{self.total} step {row.step}: {row.status} "
            f"{outcome} best={_number(self.best)} "
            f"({format_duration(row.duration_s)}) elapsed {format_duration(self.elapsed)} "
            f"eta {format_duration(self.eta)}"
        )
        if verbose:
            line += f" action={json.dumps(dict(row.action), sort_keys=True, default=str)}"
            if row.env_params:
                line += f" env={json.dumps(dict(row.env_params), sort_keys=True, default=str)}"
        return line

    # -- context -------------------------------------------------------------------------
    def __enter__(self) -> ProgressObserver:
        self.started = self.clock()
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("a", encoding="utf-8")
        start = self.start_line()
        self._write_log(start)
        if self.live:
            self._start_live()
        elif self.verbosity > QUIET:
            self._print(start)
        return self

    def __exit__(self, *exc: object) -> None:
        end = (
            f"[{self.label}] finished: {self.done} trial(s) in {format_duration(self.elapsed)}, "
            f"best reward {_number(self.best)}"
        )
        if exc and exc[0] is not None:
            end = f"[{self.label}] stopped after {self.done} trial(s): {_stop_reason(exc[1])}"
        try:
            if self._progress is not None:
                self._progress.stop()
                self._progress = None
            elif self.verbosity > QUIET:
                self._print(end)
            self._write_log(end)
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    def _start_live(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Column

        # At 80 columns the count, the ETA and the best reward stay whole: the label is cut
        # to LABEL_WIDTH, the bar and the end of the status text give way first.
        count = len(str(self.total))
        self._progress = Progress(
            TextColumn(
                "[bold]{task.description}",
                table_column=Column(max_width=LABEL_WIDTH, no_wrap=True, overflow="ellipsis"),
            ),
            MofNCompleteColumn(table_column=Column(no_wrap=True, min_width=2 * count + 1)),
            TextColumn("eta", table_column=Column(no_wrap=True, min_width=3)),
            TimeRemainingColumn(compact=True, table_column=Column(no_wrap=True, min_width=5)),
            TextColumn("elapsed", table_column=Column(no_wrap=True, min_width=7)),
            TimeElapsedColumn(table_column=Column(no_wrap=True, min_width=7)),
            BarColumn(bar_width=None, table_column=Column(ratio=1)),
            TextColumn(
                "{task.fields[status]}",
                table_column=Column(ratio=3, min_width=17, no_wrap=True, overflow="ellipsis"),
            ),
            console=Console(file=self.stream),
            transient=False,
        )
        self._progress.start()
        self._task = self._progress.add_task(  # a resumed job's bar starts at its count
            self.label, total=self.total, completed=self.done, status=self.status_text()
        )

    def start_line(self) -> str:
        """``[job] started: up to N trial(s)``, or for a resumed job how many trials it
        had recorded (by status) and its best reward so far."""
        if not self.replayed:
            return f"[{self.label}] started: up to {self.total} trial(s)"
        counts = ", ".join(f"{status} {n}" for status, n in self.replayed.items())
        return (
            f"[{self.label}] resumed: {self.done} of {self.total} trial(s) already "
            f"recorded ({counts}), best reward {_number(self.best)}; up to "
            f"{max(0, self.total - self.done)} more"
        )

    def resume_from(self, rows: Sequence[TrialRow]) -> None:
        """Count the finished trials of a resumed job, so its lines go on from them."""
        self.done = len(rows)
        self.replayed = Counter(str(row.status) for row in rows)
        for row in rows:
            if is_scored(row):
                reward = float(row.reward)  # type: ignore[arg-type]
                self.best = reward if self.best is None else max(self.best, reward)

    # -- observer ------------------------------------------------------------------------
    def before_step(
        self, env: BaseGym, step: int, action: Mapping[str, Any], env_params: Mapping[str, Any]
    ) -> None:
        pass

    def after_step(self, env: BaseGym, row: TrialRow) -> None:
        self.done += 1
        self.last = row
        new_best = False
        if is_scored(row):
            reward = float(row.reward)  # type: ignore[arg-type]
            new_best = self.best is None or reward > self.best
            self.best = reward if self.best is None else max(self.best, reward)
        if self._log is not None:  # the verbose line costs two json.dumps: only when logged
            self._write_log(self.trial_line(row, verbose=True))
        if self._progress is not None:
            self._progress.update(self._task, completed=self.done, status=self.status_text())
            if self.verbosity >= VERBOSE:
                self._progress.console.print(self.trial_line(row, verbose=True), markup=False)
        elif self.verbosity >= VERBOSE or (self.verbosity > QUIET and self._worth_a_line(new_best)):
            self._print(self.trial_line(row, verbose=self.verbosity >= VERBOSE))

    def _worth_a_line(self, new_best: bool) -> bool:
        """In plain mode, whether this trial gets a line (all of them in small jobs)."""
        now = self.clock()
        if (
            self.total <= PLAIN_EVERY_TRIAL_UP_TO
            or new_best
            or self.done >= self.total
            or self.done % max(1, self.total // 100) == 0
            or now - self._last_line >= PLAIN_MAX_SILENCE_S
        ):
            self._last_line = now
            return True
        return False

    # -- output --------------------------------------------------------------------------
    def _print(self, line: str) -> None:
        """Print a line; output that went away (``| head``) never stops the job."""
        if self.stream is None:
            return
        try:
            print(line, file=self.stream, flush=True)
        except (BrokenPipeError, ValueError):  # a closed pipe, or a closed stream
            if self.stream is sys.stdout:
                drop_stdout()
            self.stream = None

    def _write_log(self, line: str) -> None:
        if self._log is not None:
            stamp = dt.datetime.now().astimezone().isoformat(timespec="seconds")
            self._log.write(f"{stamp} {line}\n")
            self._log.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _stop_reason(exc: object) -> str:
    """Why a job stopped, for its end line: ``interrupted by Ctrl-C`` (or the signal's
    name), else the exception's type and message."""
    if isinstance(exc, KeyboardInterrupt):  # SignalInterrupt is one too
        return f"interrupted by {interrupt_cause(exc)}"
    if isinstance(exc, BaseException):
        lines = str(exc).splitlines()
        return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return str(exc)
