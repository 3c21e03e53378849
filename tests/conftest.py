"""Shared fixtures: write workloads and scenarios into a temporary folder."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.outputs.toml import dumps

# A tiny workload program: prints `score: <value>` computed from its --x/--y arguments,
# writes result.json, and can fail or sleep on request.
OBJECTIVE = textwrap.dedent(
    """
    import argparse, json, os, sys, time
    p = argparse.ArgumentParser()
    p.add_argument("--x", type=float, default=0.0)
    p.add_argument("--y", default="a")
    p.add_argument("--fail", default="no")
    p.add_argument("--sleep", type=float, default=0.0)
    a = p.parse_args()
    time.sleep(a.sleep)
    if a.fail == "yes":
        print("boom", file=sys.stderr)
        sys.exit(3)
    score = -(a.x - 3) ** 2 + {"a": 0.0, "b": 1.0, "c": 0.5}.get(a.y, 0.0)
    json.dump({"score": score, "env": os.environ.get("TUNEGYM_PARAM_X")}, open("result.json", "w"))
    print(f"score: {score}")
    """
)


@pytest.fixture
def objective_script(tmp_path: Path) -> Path:
    path = tmp_path / "objective.py"
    path.write_text(OBJECTIVE)
    return path


@pytest.fixture
def write_toml(tmp_path: Path) -> Callable[[str, dict[str, Any]], Path]:
    def write(name: str, data: dict[str, Any]) -> Path:
        path = tmp_path / name
        path.write_text(dumps(data))
        return path

    return write


@pytest.fixture
def objective_workload(objective_script: Path) -> Callable[..., dict[str, Any]]:
    """A workload dict over the objective script; keyword arguments update it."""

    def make(**overrides: Any) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": "objective",
            "command": [sys.executable, str(objective_script), "--x={x}", "--y={y}"],
            "params": {"x": [1, 2, 3, 4], "y": ["a", "b"]},
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid", "metrics": ["score"]},
        }
        for key, value in overrides.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return data

    return make
