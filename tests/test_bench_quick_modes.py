"""Every benchmark's ``--quick`` mode runs and prints its figures (so none can rot).

No timing is asserted: only that each script completes and prints the lines that carry
its figures and its side-by-side ratio. One test per script here, except those tested
beside the code they measure (``bench_instructions``, ``bench_trial_overhead``,
``bench_harness_server``; ``bench_nemo_mcqa`` needs the interop virtualenv and is run by
``tests_interop``). The last test checks that no benchmark is left without one.
"""

from __future__ import annotations

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"


def quick(script: str, *args: str, timeout: float = 300) -> str:
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_bench_search_quick_prints_the_default_against_optuna_direct() -> None:
    out = quick("bench_search.py")
    assert "median trials to within 1% of the optimum over 1 seeds" in out
    for landscape in ("categorical", "interacting", "mixed", "noisy", "env_params", "multi"):
        assert re.search(rf"^{landscape} \(", out, re.M), out
    assert "default agent: categorical=auto" in out
    assert "default - direct =" in out


def test_bench_bbob_quick_ranks_every_method_and_times_auto_against_tpe(tmp_path: Path) -> None:
    record = tmp_path / "runs.jsonl"
    out = quick("bench_bbob.py", "--record", str(record))
    header = next(line for line in out.splitlines() if line.startswith("suite "))
    for method in ("auto", "tpe", "gp", "cmaes", "qmc", "random", "nsga2", "ngopt"):
        assert method in header.split()
    for suite in ("bbob", "bbob-mixint", "overall"):
        assert re.search(rf"^{suite} +\d+\.\d\d", out, re.M), out
    assert "fraction of runs reaching f - f_opt <= 0.1, by budget" in out
    for suite, method in (("bbob", "ngopt"), ("bbob-mixint", "gp")):
        assert re.search(
            rf"{suite} +auto \({method}\) +\d+\.\d\d +tpe +\d+\.\d\d +ratio auto/tpe", out
        )
    assert "auto's choice per (suite, d, budget): bbob d=5 B=10: ngopt; bbob-mixint" in out
    assert "mean rank per (suite, d, budget)" in out
    # auto's Optuna arm is read from one run at the largest budget: its prefix must be exact
    assert "bbob-mixint f1 d=5: 20 trials = first 20 of 64: exact" in out
    assert "bbob-mixint f1 d=5: 62 trials = first 62 of 64: exact" in out
    # the record, gzipped as the repository keeps it, reports the same ranks
    gzipped = tmp_path / "runs.jsonl.gz"
    gzipped.write_bytes(gzip.compress(record.read_bytes()))
    again = quick("bench_bbob.py", "--report", str(gzipped), "--no-overhead")
    ranks = [line for line in out.splitlines() if re.match(r"(bbob|bbob-mixint|overall) +\d", line)]
    assert ranks and ranks == [
        line for line in again.splitlines() if re.match(r"(bbob|bbob-mixint|overall) +\d", line)
    ]


def test_bench_dataplane_quick_prints_memory_and_ray_side_by_side() -> None:
    out = quick("bench_dataplane.py")
    assert re.search(r"^memory +\d+\.\d\d", out, re.M) and re.search(r"^ray +\d+\.\d\d", out, re.M)
    assert re.search(r"ray / memory: round \d+\.\dx", out), out


def test_bench_live_step_quick_prints_each_path_against_the_direct_call() -> None:
    out = quick("bench_live_step.py")
    assert "bench_live_step: 500 steps x best of 1" in out
    assert len(re.findall(r"steps/s +ratio to direct \d+\.\d{4}", out)) >= 3, out
    assert "target 20,000 steps/s through the adapter" in out


def test_bench_parallel_quick_prints_both_speed_ups() -> None:
    out = quick("bench_parallel.py")
    assert "8 trials of a 0.2 s sleep" in out
    assert re.search(r"--parallel 4 \(local\).*speed-up +\d+\.\d\dx", out)
    assert re.search(r"--parallel 4 \(ray\).*speed-up +\d+\.\d\dx", out)


def test_bench_ngopt_budget_quick_prints_both_plans_and_their_ratio() -> None:
    out = quick("bench_ngopt_budget.py")
    for arm in ("ngopt planned 10000", "ngopt planned 40", "tpe"):
        assert re.search(rf"^ *{arm} \| median regret after 10: \d\.\d{{4}}", out, re.M), out
    for k in (10, 20, 40):
        assert re.search(rf"^after {k:2d} trials: regret planned 10000 / planned 40: ", out, re.M)
    for plan in (10000, 40):
        assert re.search(rf"^ngopt planned {plan}: \d+\.\d ms per trial", out, re.M), out


def test_bench_progress_flood_quick_prints_tunegym_against_judging_every_point() -> None:
    out = quick("bench_progress_flood.py")
    assert "3 trials of 5,000 progress points each, median pruner" in out
    for arm in ("tunegym", "baseline"):
        assert re.search(rf"^  {arm}: +\d+\.\d\d s, report.html +\d+\.\d kB", out, re.M), out
    assert re.search(r"ratio baseline/tunegym: \d+\.\dx the time, \d+\.\dx the report", out)


@pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("bench_*.py")))
def test_every_benchmark_has_a_quick_mode_that_a_test_runs(script: str) -> None:
    assert "--quick" in (BENCH / script).read_text(), f"{script} has no --quick mode"
    tests = [*REPO.glob("tests/**/test_*.py"), *REPO.glob("tests_interop/**/test_*.py")]
    assert any(script in t.read_text() for t in tests), f"no test runs {script} --quick"


def test_bench_gp_ask_quick_prints_greenlet_against_its_fallback() -> None:
    out = quick("bench_gp_ask.py")
    assert re.search(r"^  greenlet +best round +\d+\.\d ms", out, re.M), out
    assert re.search(r"^  no greenlet +best round +\d+\.\d ms", out, re.M), out
    assert re.search(r"ratio no greenlet / greenlet: \d+\.\d\d", out), out


def test_bench_aggregate_fields_quick_prints_the_growth_against_linear() -> None:
    out = quick("bench_aggregate_fields.py")
    for fields in (500, 4000):
        assert re.search(rf"^2 responses x {fields} fields: \d+\.\d{{3}} s$", out, re.M), out
    assert re.search(
        r"^time grew \d+\.\dx for 8x the fields \(linear: 8x, quadratic: 64x\)", out, re.M
    )
