"""``benchmarks/bench_harness_server.py --quick`` runs (so the benchmark cannot rot)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_harness_server.py"


def test_bench_harness_server_quick_prints_the_ratio_and_startup():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"throughput ratio harness/bare: \d+\.\d\d", done.stdout), done.stdout
    assert re.search(r"startup-to-ready of ResourceServerProcess over 1 starts", done.stdout)
