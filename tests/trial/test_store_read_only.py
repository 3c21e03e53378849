"""A run's database read without writing: in a folder this user may not write to (an
archived run, a colleague's, a read-only share), while it is still being written, and
under a folder whose name holds a character that means something in a URI.

File modes bind only without root's permission override, and the suite runs as root in
CI: the readers here are real subprocesses, run through the ``binding_modes`` fixture
(``setpriv`` with ``CAP_DAC_OVERRIDE`` dropped)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tunegym.trial import TrialDatabase, TrialRow

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]

READ_ROWS = """
import sys
from pathlib import Path
from tunegym.trial import TrialDatabase
from tunegym.trial.store import TrialStoreError
try:
    db = TrialDatabase(Path(sys.argv[1]), read_only=True)
    print(len(db.rows("job", 0)))
except TrialStoreError as exc:
    print(exc)
    sys.exit(1)
"""


@pytest.fixture
def run_bound(binding_modes: Callable) -> Callable[[list[str]], subprocess.CompletedProcess[str]]:
    def run(command: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            binding_modes(command), capture_output=True, text=True, timeout=120, check=False
        )

    return run


def _contents(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _row(step: int) -> TrialRow:
    return TrialRow(step, {"x": step}, {}, {"m": 1.0}, 1.0, "ok")


def test_the_write_override_is_really_dropped(
    tmp_path: Path, read_only: Callable, run_bound: Callable
) -> None:
    read_only(tmp_path)
    proc = run_bound(["touch", str(tmp_path / "new")])
    assert proc.returncode != 0 and "Permission denied" in proc.stderr


def test_a_closed_run_in_a_read_only_folder_is_read(
    tmp_path: Path, read_only: Callable, run_bound: Callable
) -> None:
    db = TrialDatabase(tmp_path / "trials.sqlite")
    for step in (1, 2, 3):
        db.insert("job", 0, _row(step))
    db.close()  # the WAL is checkpointed into the file and removed
    assert not (tmp_path / "trials.sqlite-wal").exists()
    read_only(tmp_path)
    proc = run_bound([sys.executable, "-c", READ_ROWS, str(tmp_path / "trials.sqlite")])
    assert (proc.returncode, proc.stdout.strip()) == (0, "3"), proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trials.sqlite"]  # nothing added


def test_a_live_run_in_a_read_only_folder_is_read_with_its_write_ahead_log(
    tmp_path: Path, read_only: Callable, run_bound: Callable
) -> None:
    db = TrialDatabase(tmp_path / "trials.sqlite")
    try:
        for step in (1, 2):
            db.insert("job", 0, _row(step))
        assert (tmp_path / "trials.sqlite-wal").exists()  # the rows are in the WAL only
        read_only(tmp_path)
        proc = run_bound([sys.executable, "-c", READ_ROWS, str(tmp_path / "trials.sqlite")])
        assert (proc.returncode, proc.stdout.strip()) == (0, "2"), proc.stderr
    finally:
        db.close()


def test_a_write_ahead_log_left_without_its_shared_memory_is_a_clear_error(
    tmp_path: Path, read_only: Callable, run_bound: Callable
) -> None:
    # A run killed with SIGKILL leaves its -wal (rows the file lacks) and -shm behind.
    writer = (
        "import os, sys\nfrom pathlib import Path\nfrom tunegym.trial import TrialDatabase, "
        "TrialRow\ndb = TrialDatabase(Path(sys.argv[1]))\n"
        "db.insert('job', 0, TrialRow(1, {'x': 1}, {}, {'m': 1.0}, 1.0, 'ok'))\n"
        "os.kill(os.getpid(), 9)\n"
    )
    killed = subprocess.run([sys.executable, "-c", writer, str(tmp_path / "trials.sqlite")])
    assert killed.returncode == -signal.SIGKILL
    (tmp_path / "trials.sqlite-shm").unlink()
    read_only(tmp_path)
    proc = run_bound([sys.executable, "-c", READ_ROWS, str(tmp_path / "trials.sqlite")])
    assert proc.returncode == 1
    assert "its write-ahead log trials.sqlite-wal holds rows the file does not" in proc.stdout
    assert f"{tmp_path} is read-only to this user; copy the folder somewhere writable" in (
        proc.stdout
    )


def test_the_readers_read_a_read_only_run_folder_and_change_nothing(
    finished_run: Path, tmp_path: Path, read_only: Callable, run_bound: Callable
) -> None:
    read_only(finished_run)
    before = _contents(finished_run)
    show = run_bound([*TUNEGYM, "show", str(finished_run)])
    assert show.returncode == 0, show.stderr
    assert "objective: ok, 8 trial(s) (ok 8)" in show.stdout
    export = run_bound([*TUNEGYM, "export", str(finished_run), "-o", str(tmp_path / "t.csv")])
    assert export.returncode == 0, export.stderr
    assert len((tmp_path / "t.csv").read_text().splitlines()) == 1 + 8  # header + 8 trials
    compare = run_bound([*TUNEGYM, "compare", str(finished_run)])
    assert compare.returncode == 0, compare.stderr

    report = run_bound([*TUNEGYM, "report", str(finished_run)])
    assert report.returncode == 2
    assert f"{finished_run}: cannot rewrite its reports: permission denied in " in report.stderr
    assert "internal error" not in report.stderr

    resume = run_bound([*TUNEGYM, "run", "--resume", str(finished_run), "--no-progress"])
    assert resume.returncode == 1
    assert "cannot resume: cannot open " in resume.stderr
    assert "(permission denied: it or its folder is read-only to this user)" in resume.stderr
    assert _contents(finished_run) == before  # nothing recorded was touched


def test_a_run_under_a_folder_whose_name_holds_a_hash_is_read(
    tmp_path: Path, write_toml: Callable, objective_workload: Callable
) -> None:
    # A file: URI ends its path at '#': "runs#2/..." was read as the empty file "runs".
    path = write_toml("workload.toml", objective_workload())
    output = tmp_path / "runs#2 50%?"
    run = subprocess.run(
        [*TUNEGYM, "run", str(path), "--output", str(output), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    (run_dir,) = output.iterdir()
    show = subprocess.run(
        [*TUNEGYM, "show", str(run_dir)], capture_output=True, text=True, timeout=120
    )
    assert show.returncode == 0, show.stderr
    assert "objective: ok, 8 trial(s) (ok 8)" in show.stdout
    assert not (tmp_path / "runs").exists()


def test_report_on_a_read_only_mount_says_it_cannot_rewrite_the_reports(
    finished_run: Path,
) -> None:
    if os.geteuid() != 0:
        pytest.skip("a read-only bind mount needs root (the suite runs as root in CI)")
    before = _contents(finished_run)
    subprocess.run(
        ["mount", "--bind", "-o", "ro", str(finished_run), str(finished_run)], check=True
    )
    try:
        report = subprocess.run(
            [*TUNEGYM, "report", str(finished_run)], capture_output=True, text=True, timeout=120
        )
    finally:
        subprocess.run(["umount", str(finished_run)], check=True)
    assert report.returncode == 2, report.stderr
    assert "cannot rewrite its reports: read-only file system in " in report.stderr
    assert "internal error" not in report.stderr
    assert _contents(finished_run) == before
