"""``TrialWatcher``: reads a running trial's progress and stops it when the pruner says so.

One watcher thread per running trial polls its :class:`~tunegym.metrics.progress.
ProgressReader`; each new point is recorded at once (the store's ``curves`` table, so a
crash keeps it) and judged (``decide``); the first point judged bad sets the trial's
:class:`~tunegym.runners.base.StopSignal`, and the runner running the trial ends it.
:meth:`finish`, called when the runner returned, reads what is left and gives the whole
curve.

The poll adapts to how fast the trial reports: it starts :data:`FAST_POLL_S` after the
trial starts, doubles its wait while nothing new is read, up to ``interval`` (the
workload's ``poll_interval_s``), and is back to :data:`FAST_POLL_S` as soon as a read
finds new points. A trial printing a point every 20 ms is judged within about 20 ms of
each point (a fixed 0.2 s poll let it run up to ten more epochs before its decision), and
one printing a point a minute costs about one read per ``interval`` seconds, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator

from tunegym.metrics.progress import ProgressReader
from tunegym.runners.base import StopSignal
from tunegym.trial.status import TrialStatus

__all__ = ["FAST_POLL_S", "TrialWatcher"]

FAST_POLL_S = 0.01
"""The shortest wait between two reads of a trial's progress (see the module docs)."""

Points = list[tuple[int, float]]


class TrialWatcher:
    """Watches one trial (see the module docs)."""

    def __init__(
        self,
        reader: ProgressReader,
        stop: StopSignal,
        record: Callable[[Points], None],
        decide: Callable[[int, float], bool] | None,
        interval: float,
        describe: Callable[[int, float], str],
    ) -> None:
        self.reader = reader
        self.stop = stop
        self.record = record
        self.decide = decide
        self.interval = interval
        self.describe = describe
        self.points: Points = []
        self.polls = 0
        """How many reads the watcher thread made (not counting :meth:`finish`'s)."""
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tunegym-watch", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> TrialWatcher:
        self._thread.start()
        return self

    def waits(self) -> Generator[float, bool, None]:
        """The waits between reads: :data:`FAST_POLL_S` (or ``interval`` if shorter),
        doubled after each read that found nothing, at most ``interval``; back to the
        shortest after a read that found points (send whether it did)."""
        fast = min(FAST_POLL_S, self.interval)
        wait = fast
        while True:
            found = yield wait
            wait = fast if found else min(wait * 2, self.interval)

    def _watch(self) -> None:
        waits = self.waits()
        wait = next(waits)
        while not self._done.wait(wait):
            self.polls += 1
            wait = waits.send(self._poll(final=False))

    def _poll(self, final: bool) -> bool:
        """Read, record and judge what is new; whether anything was."""
        with self._lock:
            points = self.reader.read_new(final=final)
            if not points:
                return False
            self.record(points)
            self.points.extend(points)
            if self.decide is None:
                return True
            for step, value in points:
                if self.stop.is_set:
                    return True
                if self.decide(step, value):
                    self.stop.stop(TrialStatus.PRUNED, self.describe(step, value))
                    return True
            return True

    def finish(self, read_rest: bool = True) -> tuple[tuple[int, float], ...]:
        """Stop watching, read what is left (no more decisions) unless not ``read_rest``
        (the run is being interrupted: the trial is not recorded); the whole curve."""
        self._done.set()
        self._thread.join()
        self.decide = None
        if read_rest:
            self._poll(final=True)
        return tuple(self.points)
