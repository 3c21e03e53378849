"""examples/async-rl: one command trains, writes a run folder, stops on Ctrl-C, resumes.

Every test runs the example script as a real subprocess, exactly as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "async-rl" / "train.py"
FAST = ["--token-latency", "0", "--train-latency", "0"]


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=timeout
    )


def _run_dir(output: Path) -> Path:
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return run_dir


def _updates(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "updates.jsonl").read_text().splitlines()]


def test_one_command_trains_and_writes_a_run_folder(tmp_path: Path) -> None:
    proc = _run("--updates", "30", "--checkpoint-every", "10", "--output", str(tmp_path), *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "update   30/30" in proc.stderr  # progress while it trains
    run_dir = _run_dir(tmp_path)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["kind"] == "async_rl" and summary["status"] == "ok"
    assert summary["updates_done"] == 30
    assert summary["last_updates_reward"] > summary["untrained_reward"]
    curve = summary["reward_per_version"]
    # async: a collector picks up the newest weights at its next batch, so it may skip one
    versions = [p["version"] for p in curve]
    assert versions[0] == 0 and versions == sorted(set(versions)) and versions[-1] <= 29
    assert sum(p["samples"] for p in curve) == summary["samples_claimed"] == 30 * 128
    tp = summary["throughput"]
    assert tp["samples_per_s"] > 0
    assert 0 <= tp["trainer_idle_fraction"] <= 1 and 0 <= tp["collector_idle_fraction"] <= 1
    records = _updates(run_dir)
    assert [r["version"] for r in records] == list(range(1, 31))
    assert all("stale_dropped" in r for r in records)
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == [
        "update-000010.pt",
        "update-000020.pt",
        "update-000030.pt",
    ]
    html = (run_dir / "report.html").read_text()
    for text in (
        'data-plot="reward-per-version"',
        'data-plot="stale-per-update"',
        "trainer idle fraction",
        "collector idle fraction",
        "samples/s",
    ):
        assert text in html


def test_ctrl_c_stops_cleanly_keeps_the_record_and_resume_continues(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(EXAMPLE),
            "--updates",
            "400",
            "--checkpoint-every",
            "5",
            "--token-latency",
            "0.01",
            "--train-latency",
            "0",
            "--output",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        run_dir = None
        while time.monotonic() < deadline:
            dirs = [p for p in tmp_path.iterdir() if p.is_dir()] if tmp_path.exists() else []
            if dirs and (dirs[0] / "updates.jsonl").is_file():
                run_dir = dirs[0]
                if len(_updates(run_dir)) >= 12:
                    break
            assert proc.poll() is None, proc.communicate()[1]
            time.sleep(0.1)
        assert run_dir is not None, "no update recorded within 120 s"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    done = summary["updates_done"]
    assert 12 <= done < 400
    assert [r["version"] for r in _updates(run_dir)] == list(range(1, done + 1))
    assert "interrupted" in (run_dir / "report.html").read_text()

    # --resume continues the same folder from its last checkpoint
    last = max(int(p.stem.split("-")[1]) for p in (run_dir / "checkpoints").glob("*.pt"))
    assert last == done - done % 5
    resumed = _run("--resume", str(run_dir), "--updates", str(last + 6))
    assert resumed.returncode == 0, resumed.stderr
    assert f"from update {last}" in resumed.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and summary["updates_done"] == last + 6
    assert len(summary["resumed_at"]) == 1
    assert summary["config"]["token_latency_s"] == 0.01  # the run's own settings
    assert [r["version"] for r in _updates(run_dir)] == list(range(1, last + 7))


def test_resume_of_a_folder_that_is_no_run_exits_2(tmp_path: Path) -> None:
    proc = _run("--resume", str(tmp_path))
    assert proc.returncode == 2
    assert "not an async-rl run" in proc.stderr


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--updates", "0", "updates must be a positive integer, got 0"),  # was taken as 300
        ("--train-latency", "inf", "train_latency_s must be from 0 to 1e+09 seconds, got inf"),
        ("--seed", "-1", "seed must be an integer >= 0, got -1"),  # was a numpy traceback
    ],
)
def test_a_setting_that_cannot_work_exits_2_with_one_line(
    tmp_path: Path, option: str, value: str, message: str
) -> None:
    proc = _run(option, value, "--output", str(tmp_path / "runs"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"async-rl: error: {message}"]
    assert not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 10 updates with checkpoints at 5 and 10."""
    output = tmp_path_factory.mktemp("trained")
    proc = _run("--updates", "10", "--checkpoint-every", "5", "--output", str(output), *FAST)
    assert proc.returncode == 0, proc.stderr
    return _run_dir(output)


def _copy(run_dir: Path, tmp_path: Path) -> Path:
    import shutil

    return Path(shutil.copytree(run_dir, tmp_path / run_dir.name))


@pytest.mark.parametrize("damage", ["garbage", "empty", "folder"])
def test_a_damaged_newest_checkpoint_is_passed_over_for_the_one_before(
    trained: Path, tmp_path: Path, damage: str
) -> None:
    """A run killed while writing, a damaged disk: the resume said so with a traceback
    (EOFError, IsADirectoryError) though update-000005.pt was there and sound."""
    run_dir = _copy(trained, tmp_path)
    newest = (
        run_dir / "checkpoints" / ("update-999999.pt" if damage == "folder" else "update-000010.pt")
    )
    if damage == "folder":
        newest.mkdir()
    else:
        newest.write_bytes(b"not a checkpoint" if damage == "garbage" else b"")
    proc = _run("--resume", str(run_dir), "--updates", "12", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert f"async-rl: warning: {newest}: cannot be loaded (" in proc.stderr
    start = 10 if damage == "folder" else 5
    assert f"from update {start}" in proc.stderr
    assert [r["version"] for r in _updates(run_dir)] == list(range(1, 13))


def test_a_resume_with_nothing_usable_exits_2_and_changes_nothing(
    trained: Path, tmp_path: Path
) -> None:
    run_dir = _copy(trained, tmp_path)
    for path in (run_dir / "checkpoints").iterdir():
        path.write_bytes(b"")
    config = (run_dir / "config.json").read_text()
    proc = _run("--resume", str(run_dir), "--updates", "12", *FAST)
    assert proc.returncode == 2, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"async-rl: error: cannot resume: no usable checkpoint in {run_dir}")
    assert "Traceback" not in proc.stderr
    assert (run_dir / "config.json").read_text() == config  # a failed resume changes nothing
    (run_dir / "config.json").write_text('{"config": 5}')
    proc = _run("--resume", str(run_dir), *FAST)
    assert proc.returncode == 2
    assert (
        proc.stderr.strip()
        .splitlines()[-1]
        .startswith(f"async-rl: error: cannot resume: {run_dir / 'config.json'} is damaged (")
    )
