"""Parallel speed-up: 32 trials of a 0.5 s sleep, sequential vs --parallel 4 vs Ray (4 workers).

All three run through ``tunegym run`` (in process) in one script. Target (issue 7): both
parallel forms at least 3.5x faster than sequential.
Run: .venv/bin/python benchmarks/bench_parallel.py [--trials 32] [--sleep 0.5] [--quick]
``--quick`` (what the test runs): 8 trials of a 0.2 s sleep.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import tempfile
import time
from pathlib import Path

from tunegym.cli.main import main
from tunegym.outputs.toml import dumps


def timed_run(workload: Path, output: Path, *extra: str) -> float:
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(workload), "--output", str(output), "--no-progress", *extra])
    if code != 0:
        raise SystemExit(f"tunegym run {' '.join(extra)} failed with exit code {code}")
    return time.perf_counter() - start


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--sleep", type=float, default=0.5)
    parser.add_argument("--quick", action="store_true", help="8 trials of a 0.2 s sleep")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.sleep = 8, 0.2

    import ray

    ray.init(address="local", num_cpus=4, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        workload = Path(tmp) / "sleep.toml"
        workload.write_text(
            dumps(
                {
                    "name": "sleep",
                    "command": ["/bin/sleep", str(args.sleep)],
                    "params": {"i": list(range(args.trials))},
                    "agent": {"type": "grid", "metrics": ["duration_s"], "reward": "negative"},
                }
            )
        )
        # Warm Ray up: start its 4 workers and import tunegym in each.
        timed_run(
            workload, Path(tmp) / "warmup", "--max-steps", "8", "--parallel", "4", "--runner", "ray"
        )
        sequential = timed_run(workload, Path(tmp) / "seq")
        local4 = timed_run(workload, Path(tmp) / "local4", "--parallel", "4")
        ray4 = timed_run(workload, Path(tmp) / "ray4", "--parallel", "4", "--runner", "ray")
    ray.shutdown()

    print(f"{args.trials} trials of a {args.sleep} s sleep")
    print(f"sequential          : {sequential:6.2f} s")
    print(f"--parallel 4 (local): {local4:6.2f} s  speed-up {sequential / local4:4.2f}x")
    print(f"--parallel 4 (ray)  : {ray4:6.2f} s  speed-up {sequential / ray4:4.2f}x")
    print("target: speed-up >= 3.5x for both parallel forms")


if __name__ == "__main__":
    run()
