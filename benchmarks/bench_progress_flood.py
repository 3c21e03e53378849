"""A trial that logs a point per batch: tunegym against judging and storing every point.

Three trials each print ``--points`` progress lines (``epoch <n> loss=<v>``) as fast as
they can, under a median pruner (two start-up trials, so the third is judged); each run
goes through ``tunegym run`` in process. Side by side:

* tunegym as it is: the pruner judges every step up to ``DENSE_STEPS`` and about half as
  many per doubling after it, each read's points are one SQLite transaction, and the
  report draws each curve through at most ``2 * CURVE_BUCKETS + 2`` points;
* the baseline, tunegym before that change: every point judged by Optuna (which goes
  over all of a trial's points on each report, so the cost grows with the square of
  the curve's length), one SQLite transaction per point, every point drawn.

Printed: the wall seconds of each run, the ratio baseline/tunegym, and the size of each
report.html.

    .venv/bin/python benchmarks/bench_progress_flood.py              # 50,000 points per trial
    .venv/bin/python benchmarks/bench_progress_flood.py --quick      # 5,000 (a test runs it)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tunegym.cli.main import main
from tunegym.outputs.toml import dumps

TRIAL = """
import sys
n, x = int(sys.argv[1]), float(sys.argv[2])
sys.stdout.write("".join(f"epoch {e} loss={x + 1 / e:.9f}\\n" for e in range(1, n + 1)))
"""


@contextlib.contextmanager
def baseline() -> Iterator[None]:
    """tunegym before the change: every point judged and drawn, a transaction each."""
    from tunegym.pruning import study
    from tunegym.report import plots
    from tunegym.trial.store import TrialDatabase

    def add_points_one_by_one(
        self: TrialDatabase, job: str, iteration: int, step: int, points: list[tuple[int, float]]
    ) -> None:
        now = time.time()
        with self._lock:
            self.conn.executemany(
                "INSERT OR REPLACE INTO curves VALUES (?, ?, ?, ?, ?, ?)",
                [(job, iteration, step, s, v, now) for s, v in points],
            )

    saved = (study.DENSE_STEPS, plots.CURVE_BUCKETS, TrialDatabase.add_points)
    study.DENSE_STEPS, plots.CURVE_BUCKETS = 2**62, 2**62
    TrialDatabase.add_points = add_points_one_by_one  # type: ignore[method-assign]
    try:
        yield
    finally:
        study.DENSE_STEPS, plots.CURVE_BUCKETS, TrialDatabase.add_points = saved  # type: ignore[method-assign]


def timed_run(workload: Path, output: Path, *extra: str) -> tuple[float, int]:
    """Wall seconds of ``tunegym run`` and the size of its report.html."""
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(["run", str(workload), "--output", str(output), "--no-progress", *extra])
    took = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"tunegym run failed with exit code {code}")
    (report,) = output.glob("*/report.html")
    return took, report.stat().st_size


def run(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=50_000, help="per trial")
    parser.add_argument("--quick", action="store_true", help="5,000 points per trial")
    args = parser.parse_args(argv)
    if args.quick:
        args.points = 5_000
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "trial.py"
        script.write_text(TRIAL)
        workload = Path(tmp) / "flood.toml"
        workload.write_text(
            dumps(
                {
                    "name": "flood",
                    "command": [sys.executable, str(script), str(args.points), "{x}"],
                    "params": {"x": [0.1, 0.2, 0.3]},
                    "metrics": [{"name": "loss", "progress": r"epoch (\d+) loss=(\S+)"}],
                    "agent": {
                        "type": "grid",
                        "reward": "negative",
                        "pruner": {"type": "median", "n_startup_trials": 2},
                    },
                }
            )
        )
        timed_run(workload, Path(tmp) / "warm-up", "--max-steps", "1")  # imports, caches
        ours, ours_bytes = timed_run(workload, Path(tmp) / "tunegym")
        with baseline():
            base, base_bytes = timed_run(workload, Path(tmp) / "baseline")
    print(f"3 trials of {args.points:,} progress points each, median pruner")
    print(f"  tunegym:  {ours:7.2f} s, report.html {ours_bytes / 1e3:8.1f} kB")
    print(f"  baseline: {base:7.2f} s, report.html {base_bytes / 1e3:8.1f} kB")
    sizes = base_bytes / ours_bytes
    print(f"ratio baseline/tunegym: {base / ours:.1f}x the time, {sizes:.1f}x the report")


if __name__ == "__main__":
    run()
