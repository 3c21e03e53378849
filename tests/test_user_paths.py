"""Paths a user names for tunegym to write are checked before any work is done."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tunegym.errors import UsageError
from tunegym.user_paths import output_file, output_folder

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]


def test_an_output_file_gets_its_folder_and_is_not_created(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "rows.csv"
    assert output_file(target, "--output") == target
    assert target.parent.is_dir() and not target.exists()


def test_an_output_file_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=rf"^--output {tmp_path}: is a folder; give a file path$"):
        output_file(tmp_path, "--output")


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    where = f"{tmp_path}/a-file is a file, not a folder"
    target = tmp_path / "a-file" / "b" / "c.txt"
    with pytest.raises(UsageError, match=rf"^-o {target}: cannot write it: {where}$"):
        output_file(target, "-o")
    with pytest.raises(UsageError, match=rf"^DIR {tmp_path}/a-file: cannot write there: {where}$"):
        output_folder(tmp_path / "a-file", "DIR")
    assert (tmp_path / "a-file").read_text() == "x"  # left alone


def test_paths_this_user_may_not_write_are_refused_before_any_work(
    tmp_path: Path,
    finished_run: Path,
    binding_modes: Callable,
    read_only: Callable,
) -> None:
    # Real subprocesses with file modes binding (root's override dropped: see conftest).
    run_dir = finished_run
    workload = tmp_path / "workload.toml"
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "old.csv").write_text("kept")
    read_only(locked)

    def refused(*args: str) -> str:
        proc = subprocess.run(
            binding_modes([*TUNEGYM, *args]), capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 2, proc.stderr
        return proc.stderr.strip().splitlines()[-1]

    run = ["run", str(workload), "--no-progress"]
    assert refused(*run, "--output", f"{locked}/runs") == (
        f"tunegym: error: {locked}/runs: cannot hold run folders: permission denied"
    )
    assert refused(*run, "--log-file", f"{locked}/log") == (
        f"tunegym: error: --log-file {locked}/log: cannot write it: permission denied"
    )
    assert refused("export", str(run_dir), "-o", f"{locked}/old.csv") == (
        f"tunegym: error: --output {locked}/old.csv: cannot write it: permission denied"
    )
    assert refused("export", str(run_dir), "-o", f"{locked}/sub/x.csv") == (
        f"tunegym: error: --output {locked}/sub/x.csv: cannot write it: permission denied"
    )
    assert sorted(p.name for p in locked.iterdir()) == ["old.csv"]
    assert (locked / "old.csv").read_text() == "kept"
    assert len(list((tmp_path / "runs").iterdir())) == 1  # no run folder was started


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "{loop}"],
        ["run", "{spec}", "--output", "{loop}/runs"],
        ["show", "{loop}"],
        ["export", "{loop}"],
        ["run", "{spec}", "--output", "{long}"],
    ],
    ids=["spec", "output", "show", "export", "name-too-long"],
)
def test_a_path_no_program_could_use_is_a_clear_error_not_an_internal_one(
    tmp_path: Path, write_toml: Callable, objective_workload: Callable, argv: list[str]
) -> None:
    """A symlink loop and a file name over 255 bytes, wherever a path is typed."""
    loop = tmp_path / "loop1"
    loop.symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(loop)
    spec = write_toml("workload.toml", objective_workload())
    long = tmp_path / ("b" * 300)
    args = [
        a.replace("{loop}", str(loop)).replace("{spec}", str(spec)).replace("{long}", str(long))
        for a in argv
    ]
    proc = subprocess.run([*TUNEGYM, *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert "internal error" not in proc.stderr
    if "{long}" in argv:
        assert last.startswith(f"tunegym: error: {str(long)[:200]}... ("), last
        assert last.endswith(" characters): file name too long"), last
    else:
        assert last.startswith(f"tunegym: error: {loop}"), last
        assert last.endswith(": too many levels of symbolic links"), last
