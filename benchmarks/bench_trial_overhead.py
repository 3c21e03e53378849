"""Per-trial overhead of the tunegym loop against a bare subprocess loop.

200 trials of ``/bin/true`` through ``tunegym run`` (one 200-value dimension, grid agent,
in process, with the trial store, CSV files, trial folders and progress lines all on)
against ``subprocess.run(["/bin/true"])`` 200 times in the same script. Rounds alternate
between the two so machine noise hits both alike; the median round is reported.

Target (issue 2): tunegym's per-trial wall time at most 3x the bare loop's.
Run: .venv/bin/python benchmarks/bench_trial_overhead.py [--trials 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from tunegym.cli.main import main
from tunegym.outputs.toml import dumps


def bare_loop(trials: int) -> float:
    start = time.perf_counter()
    for i in range(trials):
        subprocess.run(["/bin/true", str(i)], check=True)
    return time.perf_counter() - start


def tunegym_loop(workload: Path, output: Path) -> float:
    sink = io.StringIO()
    start = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        code = main(["run", str(workload), "--output", str(output), "--no-progress"])
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"tunegym run failed with exit code {code}")
    return elapsed


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        workload = Path(tmp) / "true.toml"
        workload.write_text(
            dumps(
                {
                    "name": "true",
                    "command": ["/bin/true", "{i}"],
                    "params": {"i": list(range(args.trials))},
                    "agent": {"type": "grid", "metrics": ["duration_s"], "reward": "negative"},
                }
            )
        )
        tunegym_loop(workload, Path(tmp) / "warmup")  # imports, page cache
        bare, ours = [], []
        for r in range(args.rounds):
            bare.append(bare_loop(args.trials))
            ours.append(tunegym_loop(workload, Path(tmp) / f"round{r}"))

    bare_ms = statistics.median(bare) / args.trials * 1e3
    ours_ms = statistics.median(ours) / args.trials * 1e3
    print(f"trials per round: {args.trials}, rounds: {args.rounds} (median round)")
    print(f"bare subprocess.run loop : {bare_ms:7.3f} ms/trial")
    print(f"tunegym run (grid)       : {ours_ms:7.3f} ms/trial")
    print(f"ratio tunegym/bare       : {ours_ms / bare_ms:7.2f}x  (target <= 3x)")
    print(f"tunegym overhead         : {ours_ms - bare_ms:7.3f} ms/trial")


if __name__ == "__main__":
    main_()
