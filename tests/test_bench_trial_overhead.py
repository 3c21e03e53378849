"""``benchmarks/bench_trial_overhead.py --quick`` runs and prints its figures (so it cannot rot).

No timing is asserted: only that the script completes and reports every line, the orphan
guard's side-by-side cost included.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_trial_overhead.py"


def test_the_trial_overhead_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    for line in ("bare subprocess.run loop", "tunegym run, guard off", "ratio tunegym/bare"):
        assert line in done.stdout
    assert "orphan guard (issue 13)" in done.stdout and "guard on/off" in done.stdout
