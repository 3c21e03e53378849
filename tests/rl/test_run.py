"""``--resume`` of examples/async-rl (``tunegym.rl.run``) with a run folder that cannot
be continued: exit 2, one clear line, and the folder exactly as it was.

Every run is the example script as a real subprocess; checkpoints are real torch files.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "async-rl" / "train.py"
FAST = ["--token-latency", "0", "--train-latency", "0"]


def _run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args], capture_output=True, text=True, timeout=timeout
    )


def _files(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run of 10 updates with checkpoints at 5 and 10."""
    output = tmp_path_factory.mktemp("trained")
    proc = _run("--updates", "10", "--checkpoint-every", "5", "--output", str(output), *FAST)
    assert proc.returncode == 0, proc.stderr
    (run_dir,) = [p for p in output.iterdir() if p.is_dir()]
    return run_dir


def _edit_config(**changes: object) -> Callable[[Path], None]:
    def edit(run_dir: Path) -> None:
        path = run_dir / "config.json"
        meta = json.loads(path.read_text())
        meta["config"].update(changes)
        path.write_text(json.dumps(meta))

    return edit


def _junk_checkpoints(run_dir: Path) -> None:
    for path in (run_dir / "checkpoints").glob("*.pt"):
        path.write_text("junk\n")  # torch's weights-only unpickler raised KeyError


def _bad_version(run_dir: Path) -> None:
    import torch

    for path in (run_dir / "checkpoints").glob("*.pt"):
        state = torch.load(path, weights_only=True)
        torch.save({**state, "version": "x"}, path)


@pytest.mark.parametrize(
    ("damage", "says"),
    [
        (_junk_checkpoints, "no usable checkpoint in {ckpts} ({ckpts}/update-000010.pt: "),
        (_bad_version, "no usable checkpoint in {ckpts} ({ckpts}/update-000010.pt: not a usable"),
        (
            _edit_config(hidden=32),
            "{ckpts}/update-000010.pt: its model does not match the config (size mismatch",
        ),
        (_edit_config(hidden="x"), "{run}/config.json is damaged (hidden must be a whole"),
        (_edit_config(max_tokens=0), "{run}/config.json is damaged (max_tokens must be a whole"),
        (
            _edit_config(plane={"backend": "bogus"}),
            "{run}/config.json is damaged (plane: invalid data-plane config",
        ),
    ],
    ids=["junk-checkpoints", "bad-version", "other-hidden", "hidden-x", "max-tokens-0", "plane"],
)
def test_a_resume_that_cannot_work_exits_2_with_one_line_and_changes_nothing(
    trained: Path, tmp_path: Path, damage: Callable[[Path], None], says: str
) -> None:
    run_dir = Path(shutil.copytree(trained, tmp_path / trained.name))
    damage(run_dir)
    before = _files(run_dir)
    proc = _run("--resume", str(run_dir), *FAST)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    expected = says.format(run=run_dir, ckpts=run_dir / "checkpoints")
    assert line.startswith(f"async-rl: error: cannot resume: {expected}"), line
    assert _files(run_dir) == before


@pytest.mark.parametrize(
    ("updates", "says"),
    [
        (["--updates", "5"], "already at update 10; --updates must be larger (got 5)"),
        (["--updates", "10"], "already at update 10; --updates must be larger (got 10)"),
        ([], "already at update 10, the run's target of 10 updates; give --updates larger"),
    ],
)
def test_a_resume_with_nothing_left_to_train_is_refused_and_keeps_the_target(
    trained: Path, tmp_path: Path, updates: list[str], says: str
) -> None:
    """It trained nothing, exited 0 and wrote updates=5 into config.json (the run's own
    target lost)."""
    run_dir = Path(shutil.copytree(trained, tmp_path / trained.name))
    before = _files(run_dir)
    proc = _run("--resume", str(run_dir), *updates, *FAST)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("async-rl: error: cannot resume: the checkpoint is "), line
    assert says in line
    assert _files(run_dir) == before
    assert json.loads((run_dir / "config.json").read_text())["config"]["updates"] == 10


_FAILING_RANK = """
import sys, threading
from tunegym.rl.ranks import GradientRank
from tunegym.rl.run import main

gradients, calls, lock = GradientRank.gradients, [0], threading.Lock()

def gradients_until_update_3(self, meta, weights):
    with lock:
        calls[0] += 1
        n = calls[0]
    if n > 4:  # sync mode, 2 ranks: calls 5 and 6 are update 3's
        raise MemoryError("rank out of memory")
    return gradients(self, meta, weights)

GradientRank.gradients = gradients_until_update_3
sys.exit(main(sys.argv[1:]))
"""


def test_a_gradient_rank_that_raises_in_thread_mode_ends_the_run_with_status_error(
    tmp_path: Path,
) -> None:
    """The memory plane's ranks are threads: the MemoryError escaped run() as a
    traceback, with no summary.json (``show`` then called the run "crashed"); now it ends
    the run as a Ray actor's error does, naming the rank and the call, exit 1."""
    args = ["--mode", "sync", "--updates", "6", "--checkpoint-every", "1", "--quiet"]
    proc = subprocess.run(
        [sys.executable, "-c", _FAILING_RANK, *args, "--output", str(tmp_path), *FAST],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    message = "gradient rank 0 failed in gradients(): MemoryError: rank out of memory"
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"async-rl: error: {message}; the run folder keeps 2 update(s)")
    summary = json.loads((run_dir / "summary.json").read_text())
    assert (summary["status"], summary["message"]) == ("error", message)
    assert summary["updates_done"] == 2
    lines = (run_dir / "updates.jsonl").read_text().splitlines()
    assert [json.loads(line)["version"] for line in lines] == [1, 2]
    assert (run_dir / "report.html").is_file()
    assert sorted(p.name for p in (run_dir / "checkpoints").glob("*.pt"))[-1] == (
        "update-000002.pt"
    )


def test_a_resume_of_a_run_still_training_is_refused_naming_its_process(tmp_path: Path) -> None:
    """It was accepted: two trainers wrote one folder, and the first one's later updates
    went to the updates.jsonl the resume replaced."""
    args = ["--updates", "2000", "--checkpoint-every", "1", "--token-latency", "0.01"]
    training = subprocess.Popen(
        [sys.executable, str(EXAMPLE), *args, "--quiet", "--output", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("*/checkpoints/update-*.pt")):
            assert training.poll() is None, training.communicate()[1]
            assert time.monotonic() < deadline, "no checkpoint within 120 s"
            time.sleep(0.1)
        (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
        config = (run_dir / "config.json").read_bytes()
        newest = max(p.stem for p in (run_dir / "checkpoints").glob("update-*.pt"))
        target = str(int(newest.removeprefix("update-")) + 2)  # quick if it were accepted
        proc = _run("--resume", str(run_dir), "--updates", target, *FAST)
        assert training.poll() is None  # still training: the refusal is not a race
    finally:
        training.send_signal(signal.SIGINT)  # only the process this test started
        try:
            _, err = training.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            training.kill()
            _, err = training.communicate()
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line == (
        f"async-rl: error: cannot resume: {run_dir} is still training (process "
        f"{training.pid} on {socket.gethostname()} is alive); let it end or stop it "
        "(Ctrl-C) first"
    )
    assert (run_dir / "config.json").read_bytes() == config  # the resume wrote nothing
    assert training.returncode == 130, err  # the first run ended as its own Ctrl-C says
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "interrupted" and summary["resumed_at"] == []
    versions = [json.loads(x)["version"] for x in (run_dir / "updates.jsonl").open()]
    assert versions == list(range(1, summary["updates_done"] + 1))  # none lost
