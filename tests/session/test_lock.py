"""One writer per run folder: a second writer is refused at once, naming the holder's PID;
a lock left by a dead process is taken over; two resumes at once end like one run."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tunegym.outputs.toml import dumps
from tunegym.session import RunLock, RunLockedError, run_folder_locked
from tunegym.session.lock import LOCK_NAME

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]

TRIAL = """
import os, sys, time
time.sleep(float(os.environ.get("TRIAL_SLEEP", "0")))
print(f"score: {-(int(sys.argv[1]) - 4) ** 2}")
"""


def test_a_held_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    first = RunLock(tmp_path)
    first.acquire()
    try:
        assert run_folder_locked(tmp_path)
        with pytest.raises(RunLockedError, match=rf"in use by tunegym process PID {os.getpid()}"):
            RunLock(tmp_path).acquire()
    finally:
        first.release()
    assert not run_folder_locked(tmp_path)
    again = RunLock(tmp_path)
    again.acquire()  # free again once released
    again.release()


def test_a_lock_left_by_a_killed_process_is_taken_over(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from tunegym.session import RunLock; "
        "RunLock(Path(sys.argv[1])).acquire(); print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"PID {holder.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    lock = RunLock(tmp_path)
    lock.acquire()  # the kernel dropped the dead holder's flock
    lock.release()
    assert json.loads((tmp_path / ".lock").read_text() or "{}") == {}


def _workload(tmp_path: Path) -> Path:
    script = tmp_path / "trial.py"
    script.write_text(TRIAL)
    path = tmp_path / "w.toml"
    data = {
        "name": "locked",
        "command": [sys.executable, str(script), "{x}"],
        "params": {"x": list(range(8))},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "grid", "max_steps": 8},
    }
    path.write_text(dumps(data))
    return path


def _rows(run_dir: Path) -> list[tuple[object, ...]]:
    db = sqlite3.connect(run_dir / "trials.sqlite")
    try:
        return db.execute(
            "SELECT step, action, status, reward FROM trials ORDER BY step"
        ).fetchall()
    finally:
        db.close()


def _wait_for_rows(run_dir: Path, n: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if len(_rows(run_dir)) >= n:
                return
        except sqlite3.OperationalError:  # the file exists, its tables not yet
            pass
        time.sleep(0.05)
    raise AssertionError(f"{run_dir}: fewer than {n} rows after {timeout_s} s")


def test_two_resumes_at_once_one_runs_one_is_refused_and_the_folder_ends_whole(
    tmp_path: Path,
) -> None:
    path = _workload(tmp_path)
    slow = {**os.environ, "TRIAL_SLEEP": "0.4"}
    first = subprocess.Popen(
        [*TUNEGYM, "run", str(path), "--output", str(tmp_path / "runs"), "-q"], env=slow
    )
    while not list((tmp_path / "runs").glob("*/trials.sqlite")):
        time.sleep(0.02)
    (run_dir,) = (tmp_path / "runs").iterdir()
    _wait_for_rows(run_dir, 2)
    # A resume while the original is alive is refused at once.
    refused = subprocess.run(
        [*TUNEGYM, "run", "--resume", str(run_dir)], capture_output=True, text=True, timeout=60
    )
    assert refused.returncode == 2
    assert f"in use by tunegym process PID {first.pid}" in refused.stderr
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    # Two resumes at once: the one that takes the lock runs, the other is refused.
    resumes = [
        subprocess.Popen(
            [*TUNEGYM, "run", "--resume", str(run_dir), "-q"],
            env=slow,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in resumes]  # type: ignore[union-attr]
    codes = sorted(code for code, _ in outcomes)
    assert codes == [0, 2], outcomes
    (refusal,) = [err for code, err in outcomes if code == 2]
    assert "in use by tunegym process PID" in refusal and "Traceback" not in refusal
    whole = subprocess.run(
        [*TUNEGYM, "run", str(path), "--output", str(tmp_path / "whole"), "-q"], timeout=120
    )
    assert whole.returncode == 0
    (whole_dir,) = (tmp_path / "whole").iterdir()
    assert [r[:3] for r in _rows(run_dir)] == [r[:3] for r in _rows(whole_dir)]
    trajectory = (run_dir / "locked" / "0" / "trajectory.csv").read_text().splitlines()
    assert len(trajectory) == 1 + 8  # header and every row, once
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["jobs"][0]["trials"] == 8
    assert not (run_dir / "failure.txt").exists()


def test_a_refusal_in_the_instant_before_the_holder_wrote_its_pid_still_names_it(
    tmp_path: Path,
) -> None:
    """The holder writes its PID just after taking the flock: a writer refused in that
    instant waits for it rather than saying "PID unknown" (seen under load)."""
    fd = os.open(tmp_path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held, nothing written yet
        late = threading.Timer(
            0.2, os.pwrite, (fd, json.dumps({"pid": 424242, "host": "h"}).encode(), 0)
        )
        late.start()
        with pytest.raises(RunLockedError, match="in use by tunegym process PID 424242 on h"):
            RunLock(tmp_path).acquire()
        late.join()
    finally:
        os.close(fd)


@pytest.mark.parametrize("damage", ["directory", "dangling link", "read-only mount"])
def test_a_lock_file_that_cannot_be_opened_is_a_clear_error_naming_it(
    tmp_path: Path, damage: str
) -> None:
    path = _workload(tmp_path)
    done = subprocess.run([*TUNEGYM, "run", str(path), "--output", str(tmp_path / "runs"), "-q"])
    assert done.returncode == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    lock = run_dir / LOCK_NAME
    lock.unlink(missing_ok=True)
    mounted = False
    if damage == "directory":
        lock.mkdir()
        expected = f"{lock}: cannot take the run folder's lock: is a directory; remove .lock"
    elif damage == "dangling link":
        lock.symlink_to(tmp_path / "gone" / "lock")
        expected = f"{lock}: cannot take the run folder's lock: no such file or directory"
    else:
        if os.geteuid() != 0:
            pytest.skip("a read-only bind mount needs root (the suite runs as root in CI)")
        subprocess.run(["mount", "--bind", "-o", "ro", str(run_dir), str(run_dir)], check=True)
        mounted = True
        expected = "read-only"  # the database's open says it first (or the lock's)
    try:
        done = subprocess.run(
            [*TUNEGYM, "run", "--resume", str(run_dir)], capture_output=True, text=True, timeout=60
        )
    finally:
        if mounted:
            subprocess.run(["umount", str(run_dir)], check=True)
    assert done.returncode == 1, done.stderr
    assert expected in done.stderr
    assert "internal error" not in done.stderr
