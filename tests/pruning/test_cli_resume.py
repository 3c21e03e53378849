"""``tunegym run`` with a pruner, killed with SIGKILL after some trials were pruned, then
``tunegym run --resume``: the pruned rows and their curves are kept as they were, no
pruning decision is taken again, and the run completes to ``max_steps``."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]

TRAINER = textwrap.dedent(
    """
    import json, os, sys, time
    lr, log = float(sys.argv[1]), sys.argv[2]
    step = os.environ["TUNEGYM_STEP"]
    with open(log, "a") as fh:
        fh.write(json.dumps({"step": int(step), "pid": os.getpid()}) + "\\n")
    for epoch in range(1, 7):
        loss = abs(lr - 0.3) + 1.0 / epoch
        print(f"epoch {epoch} loss={loss:.5f}", flush=True)
        if os.environ.get("HANG_AT_STEP") == step and epoch == 2:
            time.sleep(120)  # the run is killed while this trial runs
        time.sleep(0.03)
    """
)

LRS = [0.3, 0.35, 2.5, 2.0, 0.31, 3.0, 0.305]
"""Grid order: two good trials (the pruner's start-up), two pruned at their first epoch,
a good one running when the run is killed (step 5), then one pruned and one good."""

HANG_AT = 5


def _workload(tmp_path: Path, log: Path) -> dict[str, Any]:
    script = tmp_path / "trainer.py"
    script.write_text(TRAINER)
    return {
        "name": "trainer",
        "command": [sys.executable, str(script), "{lr}", str(log)],
        "params": {"lr": LRS},
        "metrics": [{"name": "loss", "progress": r"epoch (\d+) loss=(\S+)"}],
        "agent": {
            "type": "grid",
            "max_steps": len(LRS),
            "reward": "negative",
            "pruner": {"type": "median", "n_startup_trials": 2, "poll_interval_s": 0.02},
        },
    }


def _rows(run_dir: Path) -> dict[int, tuple[Any, ...]]:
    db = sqlite3.connect(run_dir / "trials.sqlite")
    try:
        rows = db.execute(
            "SELECT step, action, status, reward, error, duration_s, started_at FROM trials"
        ).fetchall()
    finally:
        db.close()
    return {row[0]: row for row in rows}


def _curves(run_dir: Path) -> dict[int, list[tuple[int, float]]]:
    from tunegym.trial.store import open_run_db

    db = open_run_db(run_dir)
    try:
        return {row.step: list(row.curve) for row in db.rows("trainer", 0)}
    finally:
        db.close()


def _started(log: Path) -> list[dict[str, int]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.endswith("}")]


def test_resume_after_sigkill_keeps_pruned_rows_and_curves_and_completes(
    tmp_path: Path, write_toml: Callable[[str, dict[str, Any]], Path]
) -> None:
    log = tmp_path / "started.log"
    path = write_toml("trainer.toml", _workload(tmp_path, log))
    out = tmp_path / "runs"
    proc = subprocess.Popen(
        [*TUNEGYM, "run", str(path), "--output", str(out), "--no-progress"],
        env={**os.environ, "HANG_AT_STEP": str(HANG_AT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:  # step 5 runs and has printed its second epoch
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline, "step 5 never reached its second epoch"
            hanging = out.glob(f"*/trainer/0/{HANG_AT}/stdout.txt")
            if any("epoch 2 " in p.read_text() for p in hanging):
                break
            time.sleep(0.02)
    finally:
        proc.kill()  # SIGKILL: tunegym cleans up nothing
        proc.wait()
        for entry in _started(log):  # the hanging trial's group is its own
            with contextlib.suppress(ProcessLookupError):
                os.killpg(entry["pid"], signal.SIGKILL)
    (run_dir,) = out.iterdir()

    before, curves_before = _rows(run_dir), _curves(run_dir)
    assert sorted(before) == [1, 2, 3, 4]  # step 5 was running: no row yet
    assert [before[s][2] for s in (1, 2, 3, 4)] == ["ok", "ok", "pruned", "pruned"]
    assert before[3][4] == "pruned at step 1: loss = 3.2"
    assert curves_before[3][0] == (1, 3.2) and len(curves_before[3]) < 6

    resumed = subprocess.run(
        [*TUNEGYM, "run", "--resume", str(run_dir), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    after, curves_after = _rows(run_dir), _curves(run_dir)
    assert sorted(after) == list(range(1, len(LRS) + 1))  # completed to max_steps
    for step in (1, 2, 3, 4):  # the rows and curves recorded before the kill, unchanged
        assert after[step] == before[step]
        assert curves_after[step] == curves_before[step]
    # No decision was redone: each finished trial ran once; only the killed one again.
    runs = Counter(entry["step"] for entry in _started(log))
    assert runs[HANG_AT] == 2
    assert all(n == 1 for step, n in runs.items() if step != HANG_AT)
    assert set(runs) == set(after)
    # The killed trial started over (a fresh curve, its six epochs once each) and the
    # pruner, with the restored trials as its start-up, judged the new ones.
    assert after[HANG_AT][2] == "ok"
    assert curves_after[HANG_AT] == [(e, round(0.01 + 1.0 / e, 5)) for e in range(1, 7)]
    assert [after[s][2] for s in (6, 7)] == ["pruned", "ok"]
    assert after[6][4] == "pruned at step 1: loss = 3.7"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "ok" and len(summary["resumed_at"]) == 1
    assert summary["jobs"][0]["pruning"]["pruned"] == 3
