"""A trial's command owns its folder and can leave anything where tunegym reads or
writes: a FIFO (an open blocks for ever), a folder, a link to ``/dev/zero`` (a read never
ends), a read-only folder. Each is a recorded row with its reason, never a hang, an
internal error or a run that cannot be resumed. Real ``tunegym run`` subprocesses."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import tunegym
from tunegym.trial.sweep import fit_for_a_trial

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]
SABOTAGE = {
    "fifo-stdout": "echo score: 1; rm -f stdout.txt; mkfifo stdout.txt",
    "folder-stdout": "echo score: 2; rm -f stdout.txt; mkdir stdout.txt",
    "zero-stdout": "echo score: 3; ln -sf /dev/zero stdout.txt",
    "fifo-stderr": "echo score: 4; rm -f stderr.txt; mkfifo stderr.txt; exit 3",
    "plain": "echo score: 5",
}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*TUNEGYM, *args], capture_output=True, text=True, timeout=120)


def test_trials_that_replace_their_output_files_are_recorded_with_the_reason(
    tmp_path: Path, write_toml: Callable
) -> None:
    workload = write_toml(
        "workload.toml",
        {
            "name": "sabotage",
            "command": ["bash", "-c", "{how}"],
            "params": {"how": list(SABOTAGE.values())},
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid"},
        },
    )
    runs = tmp_path / "runs"
    proc = _run("run", str(workload), "--output", str(runs), "--no-progress")
    assert "internal error" not in proc.stderr, proc.stderr
    (run_dir,) = runs.iterdir()
    rows = {r["params.how"]: r for r in tunegym.load_run(run_dir).records()}
    replaced = "stdout.txt is not a regular file (the trial replaced it)"
    for name in ("fifo-stdout", "zero-stdout"):
        row = rows[SABOTAGE[name]]
        assert row["status"] == "metric_missing" and replaced in row["error"], (name, row)
    assert rows[SABOTAGE["folder-stdout"]]["status"] == "metric_missing"
    assert rows[SABOTAGE["fifo-stderr"]]["status"] == "failed"
    assert rows[SABOTAGE["plain"]]["status"] == "ok"
    assert (run_dir / "report.html").is_file()  # the FIFO stderr.txt did not block it
    shown = _run("show", str(run_dir), "--status", "failed")
    assert shown.returncode == 0 and "exit code 3" in shown.stdout, shown.stderr


def test_a_trial_folder_left_unusable_is_made_fit_for_the_trial_run_again(tmp_path: Path) -> None:
    """What a killed attempt's command may have left (``--resume`` runs the trial again in
    the same folder): the files tunegym writes made a FIFO, a folder and read-only, and
    the folder itself read-only."""
    folder = tmp_path / "7"
    folder.mkdir()
    os.mkfifo(folder / "stdout.txt")
    (folder / "stderr.txt").mkdir()
    (folder / "stderr.txt" / "inside").write_text("x")
    (folder / "trial.json").write_text("{}")
    (folder / "model.bin").write_text("kept")  # the command's own files stay
    for path in (folder / "trial.json", folder):
        path.chmod(stat.S_IRUSR | stat.S_IXUSR)
    fit_for_a_trial(folder)
    assert stat.S_IMODE(folder.stat().st_mode) & stat.S_IRWXU == stat.S_IRWXU
    assert sorted(p.name for p in folder.iterdir()) == ["model.bin"]
    (folder / "trial.json").write_text("{}")  # writable again


def test_a_trial_folder_replaced_by_a_link_is_a_folder_again(tmp_path: Path) -> None:
    """A resume must not write the trial's files where the link points."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("untouched")
    folder = tmp_path / "3"
    folder.symlink_to(elsewhere)
    fit_for_a_trial(folder)
    assert folder.is_dir() and not folder.is_symlink() and list(folder.iterdir()) == []
    assert (elsewhere / "precious").read_text() == "untouched"
