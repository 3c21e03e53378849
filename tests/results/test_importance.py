"""Parameter importance (PED-ANOVA) per objective, in summary.json, report.html and show."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import tunegym
from tunegym.cli.main import main
from tunegym.results.importance import MIN_TRIALS, param_importances

from .conftest import write_scenario


def test_the_parameter_that_drives_the_reward_matters_most(tmp_path: Path) -> None:
    path = write_scenario(tmp_path, seed=4, steps=60)
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    importance = param_importances(tunegym.load_run(run_dir).job("tuned"))
    assert importance is not None and importance.evaluator == "PED-ANOVA"
    shares = importance.by_objective["reward"]
    assert set(shares) == {"x", "mode"} and sum(shares.values()) == pytest.approx(1.0)
    assert shares["x"] > shares["mode"]
    summary = json.loads((run_dir / "summary.json").read_text())
    tuned = summary["jobs"][1]
    assert tuned["importance"]["objectives"]["reward"] == pytest.approx(shares)
    assert "importance" not in summary["jobs"][0]  # the run-once job
    html = (run_dir / "report.html").read_text()
    assert "<h3>Parameter importance</h3>" in html and "PED-ANOVA over" in html


def test_too_few_trials_give_no_importance(run_dir: Path, tmp_path: Path) -> None:
    job = tunegym.load_run(run_dir).job("tuned")
    few = type(job)(job.record, tuple(r for r in job.rows if r.status == "ok")[: MIN_TRIALS - 1])
    assert param_importances(few) is None


def test_a_single_search_dimension_gets_no_importance(tmp_path: Path) -> None:
    """One dimension would take the whole share: nothing learned, so nothing reported."""
    path = write_scenario(tmp_path, seed=2, steps=20)
    workload = (tmp_path / "workload.toml").read_text()
    (tmp_path / "workload.toml").write_text(
        workload.replace('mode = [\n    "a",\n    "b",\n    "broken",\n]', 'mode = "a"')
    )
    assert 'mode = "a"' in (tmp_path / "workload.toml").read_text()
    assert main(["run", str(path), "--output", str(tmp_path / "runs"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    job = tunegym.load_run(run_dir).job("tuned")
    assert sum(1 for r in job.rows if r.status == "ok") >= MIN_TRIALS
    assert param_importances(job) is None
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "importance" not in summary["jobs"][1]
