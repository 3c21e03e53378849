"""The instruction-count benchmark's quick mode runs (so it cannot rot)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_instructions.py"


def test_bench_instructions_quick_mode_counts_both_workloads() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    for name in ("trial", "live step"):
        line = next(line for line in done.stdout.splitlines() if line.strip().startswith(name))
        assert int(line.split()[-3].replace(",", "")) > 10**8  # a Python run's worth
