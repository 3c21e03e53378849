"""``benchmarks/bench_pruning.py --quick`` runs and prints its figures (so it cannot rot).

No timing is asserted: only that both arms ran for every seed, the ratio line is printed,
and no arm recommended a pruned configuration (the script exits 1 if one did).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pruning.py"


def test_the_pruning_benchmark_runs_quick() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert out.count("seed ") >= 2 and "plain" in out and "pruned" in out
    assert "median ratio pruned/plain trial-seconds to 1% of best" in out
    assert "an oracle pruner with its start-up and earliest step, on plain's trials:" in out
    assert "configurations recommended that were pruned: 0" in out
