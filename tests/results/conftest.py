"""Runs to read back: a tuned job with env params (and a plain run-once job of the same
workload), built once per module through the real ``tunegym run``."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from tunegym.cli.main import main
from tunegym.outputs.toml import dumps

BENCH = textwrap.dedent(
    """
    import sys
    x, mode, load = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    if mode == "broken":
        sys.exit(4)
    # x matters most, mode a little, load is the context.
    print(f"score: {100 - (x - 7) ** 2 + {'a': 0, 'b': 1}[mode] + 0.1 * load}")
    """
)


def write_scenario(folder: Path, seed: int = 1, steps: int = 24) -> Path:
    (folder / "bench.py").write_text(BENCH)
    workload = {
        "name": "bench",
        "command": [sys.executable, str(folder / "bench.py"), "{x}", "{mode}", "{load}"],
        "params": {"x": list(range(1, 11)), "mode": ["a", "b", "broken"], "load": [1, 2]},
        "env_params": {"load": {}},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "random", "max_steps": steps, "seed": seed},
    }
    (folder / "workload.toml").write_text(dumps(workload))
    scenario = {
        "name": "compare-me",
        "jobs": [
            {"workload": "workload.toml", "name": "plain", "params": {"x": 2, "mode": "a"}},
            {"workload": "workload.toml", "name": "tuned"},
        ],
    }
    path = folder / "scenario.toml"
    path.write_text(dumps(scenario))
    return path


def run(folder: Path, output: Path, seed: int = 1) -> Path:
    path = write_scenario(folder, seed)
    assert main(["run", str(path), "--output", str(output), "--quiet"]) == 0
    (run_dir,) = output.iterdir()
    return run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("results")
    return run(folder, folder / "runs")


@pytest.fixture(scope="module")
def second_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("results2")
    return run(folder, folder / "runs", seed=9)
