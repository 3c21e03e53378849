"""``TrialWatcher``: reads a running trial's progress and stops it when the pruner says so.

One watcher thread per running trial polls its :class:`~tunegym.metrics.progress.
ProgressReader` every ``interval`` seconds; each new point is recorded at once (the
store's ``curves`` table, so a crash keeps it) and judged (``decide``); the first point
judged bad sets the trial's :class:`~tunegym.runners.base.StopSignal`, and the runner
running the trial ends it. :meth:`finish`, called when the runner returned, reads what
is left and gives the whole curve.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from tunegym.metrics.progress import ProgressReader
from tunegym.runners.base import StopSignal
from tunegym.trial.status import TrialStatus

__all__ = ["TrialWatcher"]

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
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tunegym-watch", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> TrialWatcher:
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._done.wait(self.interval):
            self._poll(final=False)

    def _poll(self, final: bool) -> None:
        with self._lock:
            points = self.reader.read_new(final=final)
            if not points:
                return
            self.record(points)
            self.points.extend(points)
            if self.decide is None:
                return
            for step, value in points:
                if self.stop.is_set:
                    return
                if self.decide(step, value):
                    self.stop.stop(TrialStatus.PRUNED, self.describe(step, value))
                    return

    def finish(self) -> tuple[tuple[int, float], ...]:
        """Stop watching, read what is left (no more decisions); the whole curve."""
        self._done.set()
        self._thread.join()
        self.decide = None
        self._poll(final=True)
        return tuple(self.points)
