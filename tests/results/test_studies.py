"""tunegym export --optuna: each job becomes an Optuna study that Optuna reads back with the
same trials, params, values, states and user attributes as the trial store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import optuna
import pytest

import tunegym
from tunegym.cli.main import main
from tunegym.results.studies import job_study


def test_exported_studies_round_trip_through_optuna(run_dir: Path, tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["export", str(run_dir), "--optuna", storage]) == 0
    names = [s.study_name for s in optuna.get_all_study_summaries(storage)]
    assert names == ["compare-me/tuned"]  # the run-once job has nothing to search
    study = optuna.load_study(study_name="compare-me/tuned", storage=storage)
    job = tunegym.load_run(run_dir).job("tuned")
    rows = sorted(job.rows, key=lambda r: r.step)
    assert len(study.trials) == len(rows) == 24
    for trial, row in zip(study.trials, rows, strict=True):
        assert trial.params == dict(row.action)
        assert trial.user_attrs["step"] == row.step
        assert trial.user_attrs["status"] == row.status
        assert trial.user_attrs["env_params.load"] == row.env_params["load"]
        if row.status == "ok":
            assert trial.state == optuna.trial.TrialState.COMPLETE
            assert math.isclose(trial.value, row.reward)
        else:
            assert trial.state == optuna.trial.TrialState.FAIL and trial.values is None
    assert study.best_trial.value == max(r.reward for r in rows if r.status == "ok")
    assert set(study.best_trial.distributions) == {"x", "mode"}
    # Optuna's own tools open it.
    assert len(study.trials_dataframe()) == 24
    optuna.importance.get_param_importances(
        study, evaluator=optuna.importance.PedAnovaImportanceEvaluator()
    )


def test_job_picks_the_study_written_and_a_job_that_is_not_there_is_refused(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--job`` was ignored with ``--optuna``: ``--job nope`` exported everything, exit 0."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["export", str(run_dir), "--optuna", storage, "--job", "nope"]) == 2
    assert "no job 'nope' (jobs: plain, tuned)" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--optuna", storage, "--job", "plain"]) == 0
    assert optuna.get_all_study_summaries(storage) == []  # a run-once job has no study
    assert main(["export", str(run_dir), "--optuna", storage, "--job", "tuned"]) == 0
    assert [s.study_name for s in optuna.get_all_study_summaries(storage)] == ["compare-me/tuned"]


def test_an_existing_study_is_refused_unless_replaced(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    assert main(["export", str(run_dir), "--optuna", storage]) == 0
    assert main(["export", str(run_dir), "--optuna", storage]) == 2
    assert "a study named 'compare-me/tuned' exists already" in capsys.readouterr().err
    assert main(["export", str(run_dir), "--optuna", storage, "--replace"]) == 0
    assert len(optuna.load_study(study_name="compare-me/tuned", storage=storage).trials) == 24


def test_a_bad_storage_url_is_a_clear_error(
    run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(run_dir), "--optuna", "not-a-url"]) == 2
    assert "--optuna not-a-url: not an Optuna storage URL" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("in the way")
    unopenable = f"sqlite:///{tmp_path}/a-file/studies.db"
    assert main(["export", str(run_dir), "--optuna", unopenable]) == 2
    err = capsys.readouterr().err.strip().splitlines()  # one line: not SQLAlchemy's two
    assert err == [
        f"tunegym: error: --optuna {unopenable}: its database file cannot be opened or "
        "created there"
    ]


def test_a_multi_objective_job_keeps_its_directions(
    tmp_path: Path, write_toml, objective_workload
) -> None:
    data = objective_workload(
        agent={
            "type": "grid",
            "metrics": ["score", "duration_s"],
            "objectives": ["max", "min"],
        }
    )
    assert (
        main(["run", str(write_toml("w.toml", data)), "--output", str(tmp_path / "o"), "-q"]) == 0
    )
    (run_dir,) = (tmp_path / "o").iterdir()
    job = tunegym.load_run(run_dir).job("objective")
    study = job_study(job, "multi")
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    row = sorted(job.rows, key=lambda r: r.step)[0]
    assert study.trials[0].values == [row.observation["score"], row.observation["duration_s"]]


def test_a_job_whose_first_objective_is_min_reports_its_lowest_value_as_best(
    tmp_path: Path, write_toml, objective_workload
) -> None:
    # score is highest at x = 3: minimising it first, the best trial is an end of the range.
    data = objective_workload(
        params={"x": [1, 2, 3, 4, 5], "y": "a"},
        agent={"type": "grid", "metrics": ["score", "duration_s"], "objectives": ["min", "max"]},
    )
    path = write_toml("w.toml", data)
    assert main(["run", str(path), "--output", str(tmp_path / "o"), "-q"]) == 0
    (run_dir,) = (tmp_path / "o").iterdir()
    best = json.loads((run_dir / "summary.json").read_text())["jobs"][0]["best"]
    assert best["observation"]["score"] == -4.0  # x = 1 or 5, never the highest score (x = 3)
    assert best["action"]["x"] in (1, 5)
    header = (run_dir / "objective" / "0" / "best_config.toml").read_text()
    assert f"x = {best['action']['x']}" in header
