"""``TrialWatcher``'s poll adapts: fast while points arrive, backing off to
``poll_interval_s`` while none do, so a decision follows its point closely however long
the configured interval is."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tunegym.env import watch
from tunegym.env.watch import FAST_POLL_S, TrialWatcher
from tunegym.metrics.progress import ProgressReader, ProgressSource
from tunegym.runners import LocalRunner
from tunegym.runners.base import StopSignal, TrialSpec
from tunegym.trial.status import TrialStatus


def _watcher(
    trial_dir: Path, interval: float, decide: Callable[[int, float], bool] | None = None
) -> TrialWatcher:
    source = ProgressSource("loss", regex=r"epoch (\d+) loss=(\S+)")
    return TrialWatcher(
        ProgressReader(source, trial_dir),
        StopSignal(),
        lambda points: None,
        decide,
        interval,
        lambda step, value: f"pruned at step {step}",
    )


def test_waits_start_fast_double_while_nothing_is_new_and_reset_on_new_points(
    tmp_path: Path,
) -> None:
    waits = _watcher(tmp_path, interval=0.2).waits()
    seen = [next(waits)]
    seen += [waits.send(False) for _ in range(6)]  # nothing new: back off to the interval
    seen.append(waits.send(True))  # points arrived: read again soon
    seen.append(waits.send(False))
    assert seen == [
        FAST_POLL_S,
        FAST_POLL_S * 2,
        FAST_POLL_S * 4,
        FAST_POLL_S * 8,
        FAST_POLL_S * 16,
        0.2,
        0.2,
        FAST_POLL_S,
        FAST_POLL_S * 2,
    ]


def test_an_interval_shorter_than_the_fast_poll_is_used_as_is(tmp_path: Path) -> None:
    waits = _watcher(tmp_path, interval=0.004).waits()
    assert [next(waits), waits.send(False), waits.send(True)] == [0.004] * 3


def test_a_point_is_judged_long_before_the_interval_when_it_is_long(tmp_path: Path) -> None:
    """poll_interval_s = 60: a fixed poll would first read after 60 s, when the trial
    (one point, then 30 s of work) is over; the adaptive one stops it at its point."""
    script = "import time; print('epoch 1 loss=9.0', flush=True); time.sleep(30)"
    watcher = _watcher(tmp_path, interval=60.0, decide=lambda step, value: True).start()
    result = LocalRunner().run(
        TrialSpec([sys.executable, "-c", script], tmp_path, {}, None, stop=watcher.stop)
    )
    curve = watcher.finish()
    assert watcher.stop.status is TrialStatus.PRUNED
    assert watcher.stop.reason == "pruned at step 1"
    assert curve == ((1, 9.0),)
    assert result.returncode is not None and result.returncode < 0  # killed, not ended
    assert result.duration_s < 30


def test_an_interrupted_trial_is_not_waited_for_to_read_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``finish(read_rest=False)`` (the run is interrupted, the trial is not recorded)
    reads nothing more: Ctrl-C is not held up by a flood of output still unread."""
    monkeypatch.setattr(watch, "FAST_POLL_S", 3600.0)  # the thread makes no read of its own
    (tmp_path / "stdout.txt").write_text("epoch 1 loss=0.5\nepoch 2 loss=0.25\n")
    watcher = _watcher(tmp_path, interval=3600).start()
    assert watcher.finish(read_rest=False) == ()
    assert watcher.reader.read_new(final=True) == [(1, 0.5), (2, 0.25)]  # left unread
