"""A disk that fills up under a run: a clear error, every recorded trial kept, and a
resume that finishes the run once there is space.

The disk is real: a 2 MiB tmpfs mounted for the test (mounting needs root, which the
suite has, as ``make test`` in CI does)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import tunegym

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"the full-disk tests mount a small tmpfs (as root): {proc.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def _rows(run_dir: Path) -> list[tuple]:
    """Each recorded trial's step, x, status and reward, as tunegym reads them back."""
    return [
        (r["step"], r["params.x"], r["status"], r["reward"])
        for r in tunegym.load_run(run_dir).records()
    ]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TUNEGYM, *args], capture_output=True, text=True, timeout=180)


def test_a_disk_that_fills_up_ends_the_run_clearly_and_a_resume_finishes_it(
    tmp_path: Path, small_disk: Path, write_toml: Callable
) -> None:
    filling = tmp_path / "filling"  # while it exists, each trial writes 300 kB
    filling.touch()
    trial = (
        "import os, sys; print('score:', sys.argv[1]); "
        f"os.path.exists({str(filling)!r}) and open('big.bin', 'wb').write(b'x' * 300_000)"
    )
    workload = write_toml(
        "workload.toml",
        {
            "name": "fill",
            "command": [sys.executable, "-c", trial, "{x}"],
            "params": {"x": list(range(1, 13))},
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid"},
        },
    )
    full = _run("run", str(workload), "--output", str(small_disk / "runs"), "--no-progress")
    (run_dir,) = (small_disk / "runs").iterdir()
    assert full.returncode == 1, full.stderr
    last = full.stderr.strip().splitlines()[-1]
    assert last.startswith("tunegym: error: no space left on device"), last
    assert f"the trials recorded before are kept in {run_dir}" in last
    assert last.endswith(f"free some space, then go on with: tunegym run --resume {run_dir}")
    assert "internal error" not in full.stderr
    assert not (run_dir / "failure.txt").exists()  # a full disk is not a bug
    recorded = _rows(run_dir)
    assert [status for _, _, status, _ in recorded[:6]] == ["ok"] * 6  # 6 x 300 kB fit

    filling.unlink()
    for big in run_dir.rglob("big.bin"):
        big.unlink()
    resumed = _run("run", "--resume", str(run_dir), "--no-progress")
    assert resumed.returncode == 0, resumed.stderr
    rows = _rows(run_dir)
    assert [step for step, *_ in rows] == list(range(1, 13))
    assert rows[: len(recorded)] == recorded  # nothing recorded was lost or redone


def test_a_run_started_on_a_full_disk_says_so_and_leaves_no_run_folder(
    small_disk: Path, write_toml: Callable, objective_workload: Callable
) -> None:
    with open(small_disk / "pad", "wb") as pad:
        try:
            while True:
                pad.write(b"\0" * 65536)
                pad.flush()
        except OSError:
            pass
    workload = write_toml("workload.toml", objective_workload())
    proc = _run("run", str(workload), "--output", str(small_disk / "runs"), "--no-progress")
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        f"tunegym: error: no space left on device: a run cannot start in {small_disk / 'runs'} "
        "(nothing was recorded; free some space and run it again)"
    )
    assert list((small_disk / "runs").iterdir()) == []  # no empty run folder to puzzle over
