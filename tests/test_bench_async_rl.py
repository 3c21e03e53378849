"""The async-RL benchmark's quick mode runs (so it cannot rot) and prints its ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_async_rl.py"


def test_bench_async_rl_quick_mode_prints_both_modes_and_the_ratio() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.count("\nsync ") == 1 and "async (max_staleness 1)" in out
    ratio = next(line for line in out.splitlines() if line.startswith("ratio async/sync samples/s"))
    assert float(ratio.split(":")[1].split("x")[0]) > 0
