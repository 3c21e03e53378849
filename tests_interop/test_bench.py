"""``benchmarks/bench_nemo_mcqa.py --quick`` runs (so the benchmark cannot rot)."""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import REPO


def test_bench_nemo_mcqa_quick_prints_both_servers_and_the_ratios():
    script = REPO / "benchmarks" / "bench_nemo_mcqa.py"
    done = subprocess.run(
        [sys.executable, str(script), "--quick"], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert re.search(r"nemo-gym +\d+ req/s", out) and re.search(r"tunegym +\d+ req/s", out), out
    assert re.search(r"throughput ratio tunegym/nemo-gym: \d+\.\d\d best rounds", out), out
    assert re.search(r"p99 ratio tunegym/nemo-gym: \d+\.\d\d", out), out
