"""Progress output: plain lines when not a terminal, a rich bar when live, and the flags."""

from __future__ import annotations

import io
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.cli.main import main
from tunegym.errors import SignalInterrupt
from tunegym.progress import ProgressObserver, format_duration
from tunegym.trial.store import TrialRow

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]
TRIAL_LINE = re.compile(
    r"^\[(?P<label>[^\]]+)\] trial (?P<i>\d+)/(?P<n>\d+) step (?P<step>\d+): (?P<status>\w+) "
    r"reward=(?P<reward>\S+) best=(?P<best>\S+) \((?P<dur>\S+)\) elapsed (?P<elapsed>\S+) "
    r"eta (?P<eta>\S+)"
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _rows() -> list[TrialRow]:
    return [
        TrialRow(1, {"x": 1}, {"load": 2}, {"s": 1.5}, 1.5, "ok", duration_s=2.0),
        TrialRow(2, {"x": 2}, {"load": 1}, {}, -1e9, "failed", returncode=3, duration_s=1.0),
        TrialRow(3, {"x": 3}, {"load": 2}, {"s": 0.5}, 0.5, "ok", duration_s=3.0),
        TrialRow(4, {"x": 1}, {"load": 2}, {"s": 1.5}, 1.5, "cached", cached=True),
    ]


def _drive(observer: ProgressObserver, clock: FakeClock) -> None:
    with observer:
        for row in _rows():
            clock.now += 5.0
            observer.after_step(None, row)  # type: ignore[arg-type]


def test_plain_lines_when_not_a_terminal() -> None:
    stream, clock = io.StringIO(), FakeClock()
    observer = ProgressObserver("job", 8, stream=stream, clock=clock)
    assert observer.live is False  # StringIO is not a terminal
    _drive(observer, clock)
    lines = stream.getvalue().splitlines()
    assert "\x1b" not in stream.getvalue()
    assert lines[0] == "[job] started: up to 8 trial(s)"
    assert lines[-1] == "[job] finished: 4 trial(s) in 20.0s, best reward 1.5"
    trials = [TRIAL_LINE.match(line) for line in lines[1:-1]]
    assert all(trials), lines
    got = [(m["i"], m["status"], m["reward"], m["best"], m["elapsed"], m["eta"]) for m in trials]  # type: ignore[index]
    assert got == [
        ("1", "ok", "1.5", "1.5", "5.0s", "35.0s"),
        # A failed trial's penalty is shown as its reward but never becomes the best.
        ("2", "failed", "-1e+09", "1.5", "10.0s", "30.0s"),
        ("3", "ok", "0.5", "1.5", "15.0s", "25.0s"),
        ("4", "cached", "1.5", "1.5", "20.0s", "20.0s"),
    ]
    assert [m["dur"] for m in trials] == ["2.0s", "1.0s", "3.0s", "0.00s"]  # type: ignore[index]
    assert "action=" not in stream.getvalue()


def test_verbose_adds_action_and_env_params() -> None:
    stream, clock = io.StringIO(), FakeClock()
    _drive(ProgressObserver("job", 4, stream=stream, verbosity=2, clock=clock), clock)
    line = stream.getvalue().splitlines()[1]
    assert line.endswith('action={"x": 1} env={"load": 2}')


def test_quiet_prints_nothing_but_still_logs(tmp_path: Path) -> None:
    stream, clock = io.StringIO(), FakeClock()
    log = tmp_path / "logs" / "run.log"
    _drive(ProgressObserver("job", 4, stream=stream, verbosity=0, log_path=log, clock=clock), clock)
    assert stream.getvalue() == ""
    lines = log.read_text().splitlines()
    assert len(lines) == 6  # start, 4 trials, end
    stamp = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d "
    assert all(re.match(stamp, line) for line in lines), lines
    assert "trial 2/4 step 2: failed" in lines[2] and 'action={"x": 2}' in lines[2]


def test_verbose_line_is_only_built_when_something_shows_or_logs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[bool] = []
    real = ProgressObserver.trial_line

    def counted(self: ProgressObserver, row: TrialRow, verbose: bool) -> str:
        built.append(verbose)
        return real(self, row, verbose)

    monkeypatch.setattr(ProgressObserver, "trial_line", counted)
    clock = FakeClock()
    _drive(ProgressObserver("job", 4, stream=io.StringIO(), verbosity=0, clock=clock), clock)
    assert built == []  # quiet, no log file: no line at all (no json.dumps per trial)
    _drive(ProgressObserver("job", 4, stream=io.StringIO(), clock=clock), clock)
    assert built == [False] * 4  # the plain lines only
    built.clear()
    log = tmp_path / "run.log"
    _drive(
        ProgressObserver("job", 4, stream=io.StringIO(), verbosity=0, log_path=log, clock=clock),
        clock,
    )
    assert built == [True] * 4


def test_live_view_shows_count_best_and_last_trial() -> None:
    stream, clock = io.StringIO(), FakeClock()
    _drive(ProgressObserver("job", 4, stream=stream, live=True, clock=clock), clock)
    text = stream.getvalue()
    assert "4/4" in text and "best 1.5 | last cached 1.5 (0.00s)" in text
    assert "eta" in text and "elapsed" in text
    assert "[job] trial" not in text  # no plain lines in live mode


def test_stopped_job_says_so() -> None:
    stream, clock = io.StringIO(), FakeClock()
    observer = ProgressObserver("job", 4, stream=stream, clock=clock)
    with pytest.raises(KeyboardInterrupt), observer:
        observer.after_step(None, _rows()[0])  # type: ignore[arg-type]
        raise KeyboardInterrupt
    last = stream.getvalue().splitlines()[-1]
    assert last == "[job] stopped after 1 trial(s): interrupted by Ctrl-C"


def test_a_job_stopped_by_a_signal_or_an_error_says_which() -> None:
    for exc, reason in [
        (SignalInterrupt(signal.SIGTERM), "interrupted by SIGTERM"),
        (ValueError("bad value\nsecond line"), "ValueError: bad value"),
        (RuntimeError(), "RuntimeError"),
    ]:
        stream = io.StringIO()
        with pytest.raises(type(exc)), ProgressObserver("job", 4, stream=stream):
            raise exc
        assert stream.getvalue().splitlines()[-1] == f"[job] stopped after 0 trial(s): {reason}"


def test_a_resumed_job_says_what_it_had_and_paces_its_eta_on_new_trials() -> None:
    stream, clock = io.StringIO(), FakeClock()
    observer = ProgressObserver("job", 8, stream=stream, clock=clock)
    recorded = _rows()[:3]  # ok, failed, ok: recorded before the resume
    observer.resume_from(recorded)
    with observer:
        clock.now += 5.0
        observer.after_step(None, _rows()[3])  # type: ignore[arg-type]
    lines = stream.getvalue().splitlines()
    assert lines[0] == (
        "[job] resumed: 3 of 8 trial(s) already recorded (ok 2, failed 1), best reward 1.5; "
        "up to 5 more"
    )
    trial = TRIAL_LINE.match(lines[1])
    assert trial is not None, lines
    # one trial in 5 s this session, 4 of 8 left: 20 s (not 5 s / 4 trials x 4 = 5 s)
    assert (trial["i"], trial["elapsed"], trial["eta"]) == ("4", "5.0s", "20.0s")


def test_a_resumed_jobs_live_bar_starts_at_its_recorded_count() -> None:
    stream, clock = io.StringIO(), FakeClock()
    observer = ProgressObserver("job", 8, stream=stream, live=True, clock=clock)
    observer.resume_from(_rows()[:3])
    with observer:
        assert observer._progress.tasks[0].completed == 3


def test_format_duration() -> None:
    assert [format_duration(s) for s in (None, 0.036, 59.94, 65, 3725)] == [
        "-",
        "0.04s",
        "59.9s",
        "1m05s",
        "1h02m",
    ]


def test_run_prints_plain_progress_through_a_pipe(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
) -> None:
    path = write_toml("w.toml", objective_workload(params={"x": [1, 2, 3], "y": ["a"]}))
    log = tmp_path / "run.log"
    proc = subprocess.run(
        [*TUNEGYM, "run", str(path), "--output", str(tmp_path / "out"), "--log-file", str(log)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout
    lines = proc.stdout.splitlines()
    trials = [m for m in map(TRIAL_LINE.match, lines) if m]
    assert [(m["label"], m["i"], m["n"], m["status"]) for m in trials] == [
        ("objective", "1", "3", "ok"),
        ("objective", "2", "3", "ok"),
        ("objective", "3", "3", "ok"),
    ]
    assert trials[-1]["best"] == "0"  # -(x-3)^2 at x=3
    assert "[objective] finished: 3 trial(s)" in proc.stdout
    logged = log.read_text()
    assert logged.count("[objective] trial") == 3 and "action=" in logged
    assert "summary: " in logged and "best reward" in logged


def test_quiet_and_verbose_flags(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("w.toml", objective_workload(params={"x": [1, 2], "y": ["a"]}))
    assert main(["run", str(path), "--output", str(tmp_path / "q"), "--quiet"]) == 0
    quiet = capsys.readouterr().out.splitlines()
    assert len(quiet) == 1 and quiet[0].startswith("summary: ")
    assert main(["run", str(path), "--output", str(tmp_path / "v"), "--verbose"]) == 0
    verbose = capsys.readouterr().out
    assert verbose.count("action=") == 2 and '"x": 2' in verbose
    with pytest.raises(SystemExit):
        main(["run", str(path), "--quiet", "--verbose"])


def test_long_plain_jobs_print_about_a_hundred_lines() -> None:
    stream, clock = io.StringIO(), FakeClock()
    total = 5000
    with ProgressObserver("rl", total, stream=stream, clock=clock) as observer:
        for step in range(1, total + 1):
            clock.now += 0.001
            reward = 10.0 if step == 1234 else 1.0  # one new best in the middle
            row = TrialRow(step, {"x": 1}, {}, {"s": reward}, reward, "ok")
            observer.after_step(None, row)  # type: ignore[arg-type]
    trials = [TRIAL_LINE.match(line) for line in stream.getvalue().splitlines()]
    shown = [int(m["i"]) for m in trials if m]
    assert 100 <= len(shown) <= 110
    assert 1 in shown and 1234 in shown and total in shown  # first, new bests, the last
    assert all(i % 50 == 0 for i in shown if i not in (1, 1234))


def test_long_plain_jobs_never_stay_silent_long() -> None:
    stream, clock = io.StringIO(), FakeClock()
    with ProgressObserver("slow", 1000, stream=stream, clock=clock) as observer:
        for step in range(1, 8):
            clock.now += 11.0  # each trial takes longer than the silence limit
            row = TrialRow(step, {"x": 1}, {}, {"s": 0.0}, 0.0, "ok")
            observer.after_step(None, row)  # type: ignore[arg-type]
    assert len([line for line in stream.getvalue().splitlines() if TRIAL_LINE.match(line)]) == 7


def test_live_view_at_80_columns_keeps_count_eta_and_best(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    stream, clock = io.StringIO(), FakeClock()
    observer = ProgressObserver(
        "a-job-name-much-longer-than-the-view-can-hold", 400, stream=stream, live=True, clock=clock
    )
    with observer:
        for step in range(1, 13):
            clock.now += 1.0
            observer.after_step(
                None,  # type: ignore[arg-type]
                TrialRow(step, {"x": step}, {}, {"m": 1.0}, -123456.789 * step, "ok", duration_s=1),
            )
    last = stream.getvalue().rstrip("\n").splitlines()[-1]
    assert len(last) <= 80
    assert "12/400" in last and "eta " in last and "best -123457" in last
    assert "a-job-name-much-long" in last and "…" in last  # the label gives way
