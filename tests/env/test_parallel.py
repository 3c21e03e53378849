"""Parallel trials: steps at dispatch, rows as trials finish, keys never run twice at once."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path

from tunegym.cli.main import main
from tunegym.env.workload import WorkloadEnv

SLEEPY = """
import json, os, sys, time
x = float(sys.argv[1])
start = time.time()
time.sleep(float(sys.argv[2]))
with open(os.path.join(sys.argv[3], "log.jsonl"), "a") as fh:
    fh.write(json.dumps({"x": x, "pid": os.getpid(), "start": start, "end": time.time()}) + "\\n")
print(f"score: {-abs(x - 2)}")
"""


def _workload(tmp_path: Path, values: list, sleep: str = "{sleep}") -> dict:
    script = tmp_path / "sleepy.py"
    script.write_text(SLEEPY)
    return {
        "name": "sleepy",
        "command": [sys.executable, str(script), "{x}", sleep, str(tmp_path)],
        "params": {"x": values, "sleep": 0.3},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "grid"},
    }


def test_parallel_run_keeps_every_row_and_aligns_files(
    tmp_path: Path, write_toml: Callable[..., Path]
) -> None:
    data = _workload(tmp_path, [0, 1, 2, 3, 4, 5, 6, 7])
    data["params"]["noise"] = ["a", "b"]
    data["env_params"] = {"noise": {}}
    data["agent"]["min_draws"] = 1  # a plain grid pass: no re-measuring for the robust best
    path = write_toml("w.toml", data)
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--parallel", "4"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    folder = run_dir / "sleepy" / "0"
    traj = list(csv.DictReader((folder / "trajectory.csv").open()))
    env = list(csv.DictReader((folder / "env.csv").open()))
    assert sorted(int(r["step"]) for r in traj) == list(range(1, 9))
    assert [r["step"] for r in traj] == [r["step"] for r in env]  # aligned row for row
    assert sorted(json.loads(r["action"])["x"] for r in traj) == list(range(8))
    for row in traj:  # each row's env params are its own step's draw
        trial = json.loads((folder / row["step"] / "trial.json").read_text())
        assert trial["env_params"]["noise"] == env[traj.index(row)]["noise"]
    # Trials really overlapped: at most 4 at once, more than 1 at some point.
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert len(log) == 8 and len({e["pid"] for e in log}) == 8
    events = sorted([(e["start"], 1) for e in log] + [(e["end"], -1) for e in log])
    running, peak = 0, 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    assert 2 <= peak <= 4
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["best"]["action"] == {"x": 2}


def test_in_flight_key_waits_and_becomes_a_cache_hit(
    make_env: Callable[..., WorkloadEnv], tmp_path: Path
) -> None:
    env = make_env(_workload(tmp_path, [1, 2], sleep="0.2"), parallel=4)
    first = env.submit({"x": 1})
    second = env.submit({"x": 1})
    other = env.submit({"x": 2})
    assert second.waits_for is first and first.future is not None
    done: list[int] = []
    pending = [first, second, other]
    while pending:
        for p in env.wait_ready(pending):
            pending.remove(p)
            done.append(env.complete(p)[3]["step"])
    assert done.index(1) < done.index(2)  # the waiter completes after its target
    rows = {r.step: r for r in env.store.rows()}
    assert rows[1].status == "ok" and rows[2].status == "cached" and rows[3].status == "ok"
    log = (tmp_path / "log.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["x"] for line in log) == [1.0, 2.0]  # x=1 ran once
