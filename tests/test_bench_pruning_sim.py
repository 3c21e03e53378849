"""``benchmarks/bench_pruning_sim.py --quick`` runs and prints its figures (so it cannot rot).

No ratio is asserted (the figures are the benchmark's): only that every seed printed both
arms, each arm's median line is there, and that an unknown pruner is refused before any
work, naming the known ones.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_pruning_sim.py"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300
    )


def test_the_pruning_simulation_runs_quick() -> None:
    done = run("--quick", "--pruner", "median,sh-m5")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    seeds = [line for line in lines if line.startswith("seed ")]
    assert len(seeds) == 2
    assert all("median " in line and "sh-m5 " in line and " trials" in line for line in seeds)
    for name in ("median", "sh-m5"):
        assert any(
            line.startswith(f"median ratio pruned/plain trial-seconds to 1% of best, {name}: ")
            and "of 2" in line
            for line in lines
        ), done.stdout


def test_an_unknown_pruner_is_refused_by_name() -> None:
    done = run("--quick", "--pruner", "median,asha")
    assert done.returncode != 0
    assert "unknown pruner 'asha'" in done.stderr and "sh-m5" in done.stderr
    assert "seed " not in done.stdout


def test_the_simulation_runs_the_default_agent_too() -> None:
    done = run("--quick", "--agent", "auto", "--pruner", "sh-m5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "start-up, auto, budget 4 trial-s per arm" in done.stdout
    assert sum(line.startswith("seed ") for line in done.stdout.splitlines()) == 2


def test_an_unknown_agent_is_refused_by_name() -> None:
    done = run("--quick", "--agent", "tpx")
    assert done.returncode != 0
    assert "--agent: " in done.stderr and "unknown sampler 'tpx'" in done.stderr
    assert "or auto" in done.stderr and "seed " not in done.stdout


def test_the_simulation_runs_on_real_mlp_curves() -> None:
    done = run("--quick", "--workload", "mlp", "--pruner", "median")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "20 epochs of a NumPy MLP" in done.stdout and "budget 8 trial-s" in done.stdout
    assert sum(line.startswith("seed ") for line in done.stdout.splitlines()) == 2


def test_auto_on_the_mlp_space_is_refused_with_what_to_give_instead() -> None:
    done = run("--quick", "--workload", "mlp", "--agent", "auto")
    assert done.returncode != 0
    assert "--agent gp or --agent tpe" in done.stderr and "seed " not in done.stdout


def test_mlp_curves_come_from_training_and_small_batches_cost_more() -> None:
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import mlp_curves
    finally:
        sys.path.remove(str(SCRIPT.parent))
    first = mlp_curves.curve(0.1, 32, 1e-4, 0)
    assert len(first) == mlp_curves.EPOCHS and first[-1] < first[0] < 0.7  # it learns
    assert mlp_curves.curve(0.1, 32, 1e-4, 1) != first  # the seed sets init and order
    assert mlp_curves.curve(0.1, 32, 1e-4, 0) == first  # and only the seed
    assert mlp_curves.epoch_cost(16, 0.001, 0.0) > mlp_curves.epoch_cost(256, 0.001, 0.0)


def test_the_simulation_runs_on_the_wide_space() -> None:
    done = run("--quick", "--workload", "curves-wide", "--pruner", "median")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sum(line.startswith("seed ") for line in done.stdout.splitlines()) == 2
    assert "median ratio pruned/plain trial-seconds to 1% of best, median: " in done.stdout
