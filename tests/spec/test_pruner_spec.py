"""Bad ``[agent.pruner]``, progress and budget fields: exit 2, naming file and field."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.cli.main import main

PROGRESS = {"name": "loss", "progress": r"epoch (\d+) loss=(\S+)"}


def _workload(metrics: list[dict[str, Any]], agent: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "w",
        "command": ["true", "{lr}"],
        "params": {"lr": [0.1, 0.2]},
        "metrics": metrics,
        "agent": {"type": "grid", "reward": "negative", **agent},
    }


CASES = [
    ("unknown-type", [PROGRESS], {"pruner": {"type": "asha"}}, "agent.pruner.type", "median"),
    (
        "option-of-another-type",
        [PROGRESS],
        {"pruner": {"type": "median", "reduction_factor": 3}},
        "agent.pruner.reduction_factor",
        "hyperband and successive_halving",
    ),
    (
        "percentile-without-percentile",
        [PROGRESS],
        {"pruner": {"type": "percentile"}},
        "agent.pruner.percentile",
        "needs percentile",
    ),
    (
        "percentile-out-of-range",
        [PROGRESS],
        {"pruner": {"type": "percentile", "percentile": 150.0}},
        "agent.pruner.percentile",
        "100",
    ),
    (
        "no-progress-metric",
        [{"name": "loss", "regex": r"loss=(\S+)"}],
        {"pruner": {"type": "median"}},
        "agent.pruner",
        "progress",
    ),
    (
        "unknown-pruned-metric",
        [PROGRESS],
        {"pruner": {"metric": "acc"}},
        "agent.pruner.metric",
        "not a metric with progress",
    ),
    (
        "direction-unknown",
        [PROGRESS, {"name": "acc", "regex": r"acc=(\S+)"}],
        {"reward": "expr: acc - loss", "pruner": {"metric": "loss"}},
        "agent.pruner.direction",
        "direction",
    ),
    (
        "progress-one-group",
        [{"name": "loss", "progress": r"loss=(\S+)"}],
        {},
        "metrics[0].progress",
        "two groups",
    ),
    (
        "progress-file-outside",
        [{"name": "loss", "progress_file": "../p.jsonl"}],
        {},
        "metrics[0].progress_file",
        "inside the trial folder",
    ),
    (
        "both-progress-forms",
        [{"name": "loss", "progress": r"(\d+) (\S+)", "progress_file": "p.jsonl"}],
        {},
        "metrics[0]",
        "not both",
    ),
    (
        "resources-crossed",
        [PROGRESS],
        {"pruner": {"type": "hyperband", "min_resource": 9, "max_resource": 3}},
        "agent.pruner.max_resource",
        "at least min_resource",
    ),
    (
        "bootstrap-without-max-resource",
        [PROGRESS],
        {"pruner": {"type": "hyperband", "bootstrap_count": 2}},
        "agent.pruner.max_resource",
        "needs max_resource",
    ),
    (
        "n-min-trials-misplaced",
        [PROGRESS],
        {"pruner": {"type": "successive_halving", "n_min_trials": 2}},
        "agent.pruner.n_min_trials",
        "median and percentile",
    ),
    (
        "progress-one-named-group",
        [{"name": "loss", "progress": r"loss=(?P<value>\S+) epoch (\d+)"}],
        {},
        "metrics[0].progress",
        "name both",
    ),
    (
        "progress-file-a-folder",
        [{"name": "loss", "progress_file": "logs/"}],
        {},
        "metrics[0].progress_file",
        "must name a file, not a folder",
    ),
    ("budget-negative", [PROGRESS], {"budget_s": -5.0}, "agent.budget_s", "greater than 0"),
    ("unknown-pruner-key", [PROGRESS], {"pruner": {"warmup": 3}}, "agent.pruner.warmup", ""),
]


@pytest.mark.parametrize(
    ("metrics", "agent", "field", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_pruning_spec_is_exit_2_with_file_and_field(
    metrics: list[dict[str, Any]],
    agent: dict[str, Any],
    field: str,
    says: str,
    write_toml: Callable[[str, dict[str, Any]], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("w.toml", _workload(metrics, agent))
    assert main(["verify", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    line = next((x for x in err.splitlines() if f"{path}: {field}:" in x), None)
    assert line is not None, err
    assert says in line, line


def test_run_refuses_a_bad_pruner_before_running_anything(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("w.toml", _workload([PROGRESS], {"pruner": {"type": "percentile"}}))
    out = tmp_path / "runs"
    assert main(["run", str(path), "--output", str(out), "--no-progress"]) == 2
    assert f"{path}: agent.pruner.percentile:" in capsys.readouterr().err
    assert not out.exists() or not any(out.iterdir())


def test_a_good_pruning_spec_verifies(
    write_toml: Callable[[str, dict[str, Any]], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    agent = {"pruner": {"type": "hyperband", "min_resource": 1, "max_resource": 9}}
    path = write_toml("w.toml", _workload([PROGRESS], {**agent, "budget_s": 60.0}))
    assert main(["verify", str(path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "says"),
    [
        ("--budget", "soon", "expected seconds"),
        ("--budget", "0", "a budget of 0 s leaves no time for any trial"),  # it was taken
        ("--budget", "-1", "expected 0 to"),
        ("--budget-grace", "nan", "expected 0 to"),
    ],
)
def test_a_bad_budget_flag_is_a_usage_error(
    tmp_path: Path,
    write_toml: Callable[[str, dict[str, Any]], Path],
    capsys: pytest.CaptureFixture[str],
    flag: str,
    value: str,
    says: str,
) -> None:
    path = write_toml("w.toml", _workload([PROGRESS], {}))
    out = tmp_path / "runs"
    with pytest.raises(SystemExit) as exc:
        main(["run", str(path), "--output", str(out), flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and says in err
    assert not out.exists()  # nothing written
