"""Per-trial overhead of the tunegym loop against a bare subprocess loop.

200 trials of ``/bin/true`` through ``tunegym run`` (one 200-value dimension, grid agent,
in process, with the trial store, CSV files, trial folders and progress lines all on)
against ``subprocess.run(["/bin/true"])`` 200 times in the same script. Rounds alternate
between the two so machine noise hits both alike; the median round is reported.

Target (issue 2): tunegym's per-trial wall time at most 3x the bare loop's.

A third loop, in the same alternation, runs tunegym with its orphan guard off (no watchdog,
no subreaper: issue 13), so the guard's own cost per trial is measured side by side.
Run: .venv/bin/python benchmarks/bench_trial_overhead.py [--trials 200] [--rounds 5] [--quick]
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
from tunegym.runners import local


def bare_loop(trials: int) -> float:
    start = time.perf_counter()
    for i in range(trials):
        subprocess.run(["/bin/true", str(i)], check=True)
    return time.perf_counter() - start


def tunegym_loop(workload: Path, output: Path, guard: bool = True) -> float:
    return tunegym_loop_cpu(workload, output, guard)[0]


def tunegym_loop_cpu(workload: Path, output: Path, guard: bool = True) -> tuple[float, float]:
    """``(wall seconds, CPU seconds of this process)`` of one ``tunegym run``; CPU time
    hardly depends on what else the machine runs, so it shows small costs under load."""
    sink = io.StringIO()
    local._trials.guard = guard
    start, cpu = time.perf_counter(), time.process_time()
    try:
        with contextlib.redirect_stdout(sink):
            code = main(["run", str(workload), "--output", str(output), "--no-progress"])
    finally:
        local._trials.guard = True
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    if code != 0:
        raise SystemExit(f"tunegym run failed with exit code {code}")
    return elapsed, cpu


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="20 trials, 1 round (for tests)")
    args = parser.parse_args()
    if args.quick:
        args.trials, args.rounds = 20, 1

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
        tunegym_loop(workload, Path(tmp) / "warmup")  # imports, page cache, the watchdog
        bare, ours, unguarded, cpu_on, cpu_off = [], [], [], [], []
        for r in range(args.rounds):
            bare.append(bare_loop(args.trials))
            wall, cpu = tunegym_loop_cpu(workload, Path(tmp) / f"round{r}")
            ours.append(wall)
            cpu_on.append(cpu)
            wall, cpu = tunegym_loop_cpu(workload, Path(tmp) / f"off{r}", guard=False)
            unguarded.append(wall)
            cpu_off.append(cpu)

    bare_ms = statistics.median(bare) / args.trials * 1e3
    ours_ms = statistics.median(ours) / args.trials * 1e3
    off_ms = statistics.median(unguarded) / args.trials * 1e3
    # The guard's cost: the median of per-round differences (each pair ran back to back).
    guard_ms = statistics.median(a - b for a, b in zip(ours, unguarded, strict=True))
    guard_ms = guard_ms / args.trials * 1e3
    print(f"trials per round: {args.trials}, rounds: {args.rounds} (median round)")
    print(f"bare subprocess.run loop : {bare_ms:7.3f} ms/trial")
    print(f"tunegym run, guard off   : {off_ms:7.3f} ms/trial")
    print(f"tunegym run (grid)       : {ours_ms:7.3f} ms/trial")
    print(f"ratio tunegym/bare       : {ours_ms / bare_ms:7.2f}x  (target <= 3x)")
    print(f"tunegym overhead         : {ours_ms - bare_ms:7.3f} ms/trial")
    print(f"orphan guard (issue 13)  : {guard_ms:7.3f} ms/trial (paired rounds, median)")
    on_cpu = statistics.median(cpu_on) / args.trials * 1e3
    off_cpu = statistics.median(cpu_off) / args.trials * 1e3
    print(
        f"tunegym CPU, guard on/off: {on_cpu:7.3f} / {off_cpu:.3f} ms/trial "
        f"(guard {on_cpu - off_cpu:+.3f} ms, {on_cpu / off_cpu:.2f}x)"
    )


if __name__ == "__main__":
    main_()
