"""Constraints that no action satisfies are refused before anything runs (they gave a
job of no trial that said ``ok``, exit 0)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.env.feasible import ENUMERATE_LIMIT, no_feasible_action
from tunegym.spec.models import WorkloadSpec

TUNEGYM = [sys.executable, "-m", "tunegym.cli.main"]


def _workload(constraints: list[str], **params: Any) -> WorkloadSpec:
    return WorkloadSpec.model_validate(
        {
            "name": "w",
            "command": ["echo", "score: {x}"],
            "params": params or {"x": [1, 2, 3], "y": 10},
            "constraints": constraints,
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        }
    )


def test_constraints_that_rule_out_every_action_say_so_with_the_reason() -> None:
    why = no_feasible_action(_workload(["x > y"]))
    assert why == (
        "no action of the search space satisfies them: all 3 action(s) break one "
        "(constraint 'x > y' is false); the job would run no trial"
    )
    why = no_feasible_action(_workload(["x / (y - 10) > 1"]))
    assert why is not None and "cannot be evaluated" in why and "division by zero" in why
    why = no_feasible_action(_workload(["x > 1", "load > 5"], x=[1, 2, 3], load=1))
    assert why is not None and "all 3 action(s) break one" in why  # the fixed value's too
    assert "(2 of them: constraint 'load > 5' is false)" in why  # the most common reason


@pytest.mark.parametrize(
    ("constraints", "params"),
    [
        (["x > 2"], {}),  # one action passes
        ([], {}),
        (["x > 100"], {"x": {"low": 0.0, "high": 1.0}}),  # infinite: left to the run
        (["x < 0"], {"x": {"low": 0, "high": ENUMERATE_LIMIT}}),  # too many to go through
    ],
)
def test_a_space_with_a_feasible_action_or_too_large_to_tell_passes(
    constraints: list[str], params: dict[str, Any]
) -> None:
    assert no_feasible_action(_workload(constraints, **params)) is None


def test_verify_and_run_refuse_it_with_exit_2_and_make_no_run_folder(
    tmp_path: Path, write_toml: Callable
) -> None:
    path = write_toml(
        "w.toml",
        {
            "name": "w",
            "command": ["echo", "score: {x}"],
            "params": {"x": [1, 2]},
            "constraints": ["x > 100"],
            "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
            "agent": {"type": "grid"},
        },
    )
    said = f"tunegym: error: {path}: constraints: no action of the search space satisfies them"
    for argv in (["verify", str(path)], ["run", str(path), "--output", str(tmp_path / "runs")]):
        proc = subprocess.run([*TUNEGYM, *argv], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines()[-1].startswith(said), proc.stderr
    assert not (tmp_path / "runs").exists()


def test_a_condition_that_cannot_be_evaluated_is_refused_by_verify_and_run(
    tmp_path: Path, write_toml: Callable
) -> None:
    # It read as false for every action: x was silently never chosen ("--y=a" only).
    data = {
        "name": "w",
        "command": ["echo", "score: 1", "{x}", "{y}"],
        "params": {"y": ["a", "b"], "x": [1, 2, 3]},
        "when": {"x": "y + 1 > 0"},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "grid"},
    }
    path = write_toml("w.toml", data)
    said = (
        f"tunegym: error: {path}: when.x: cannot be evaluated for any action (expression "
        "'y + 1 > 0': can only concatenate str (not \"int\") to str); 'x' would never be chosen"
    )
    for argv in (["verify", str(path)], ["run", str(path), "--output", str(tmp_path / "runs")]):
        proc = subprocess.run([*TUNEGYM, *argv], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.strip().splitlines()[-1] == said, proc.stderr
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "condition",
    ["y == 'a'", "z > 1"],  # true for some actions; reads a conditional param
)
def test_a_condition_that_can_be_evaluated_passes(condition: str) -> None:
    from tunegym.env.feasible import broken_condition

    workload = WorkloadSpec.model_validate(
        {
            "name": "w",
            "command": ["echo", "{x}", "{y}", "{z}"],
            "params": {"y": ["a", "b"], "z": [1, 2], "x": [1, 2, 3]},
            "when": {"z": "y == 'b'", "x": condition},
        }
    )
    assert broken_condition(workload) is None


def test_verify_notes_actions_skipped_because_a_constraint_cannot_be_evaluated(
    write_toml: Callable, capsys: pytest.CaptureFixture[str]
) -> None:
    # "x > 1 or y > 1" with y a string fails for x = 1 only: the grid dropped those two
    # actions without a word.
    from tunegym.cli.main import main

    data = {
        "name": "w",
        "command": ["echo", "score: {x}", "{y}"],
        "params": {"x": [1, 2, 3], "y": ["a", "b"]},
        "constraints": ["x > 1 or y > 1"],
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "grid"},
    }
    assert main(["verify", str(write_toml("w.toml", data))]) == 0
    assert (
        "    note: 2 of the 6 actions are skipped because a constraint cannot be evaluated "
        "for them (2 of them: constraint 'x > 1 or y > 1' cannot be evaluated: "
    ) in capsys.readouterr().out
    data["constraints"] = ["x > 1"]
    assert main(["verify", str(write_toml("w.toml", data))]) == 0
    assert "note:" not in capsys.readouterr().out
