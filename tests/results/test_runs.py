"""tunegym.load_run: every trial as one flat record, equal to the trial store's rows."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

import tunegym
from tunegym.errors import UsageError
from tunegym.results.runs import FIXED_COLUMNS


def _store(run_dir: Path, job: str) -> list[tuple]:
    db = sqlite3.connect(run_dir / "trials.sqlite")
    try:
        return db.execute(
            "SELECT step, status, reward FROM trials WHERE job = ? ORDER BY step", (job,)
        ).fetchall()
    finally:
        db.close()


def test_load_run_gives_each_job_and_its_trials_as_flat_records(run_dir: Path) -> None:
    run = tunegym.load_run(run_dir)
    assert [job.label for job in run] == ["plain", "tuned"]
    tuned = run.job("tuned")
    assert tuned.record.agent == "random" and len(tuned.rows) == 24
    columns = tuned.columns()
    assert columns[: len(FIXED_COLUMNS)] == list(FIXED_COLUMNS)
    assert {"params.x", "params.mode", "env_params.load", "metrics.score"} <= set(columns)
    records = tuned.records()
    assert [(r["step"], r["status"], r["reward"]) for r in records] == _store(run_dir, "tuned")
    broken = [r for r in records if r["params.mode"] == "broken"]
    assert broken and all(r["status"] == "failed" and r["error"] == "exit code 4" for r in broken)
    assert all(r["env_params.load"] in (1, 2) for r in records)
    assert run.info["status"] == "ok" and Path(run.info["run_dir"]) == run_dir


def test_to_pandas_round_trips_the_store(run_dir: Path) -> None:
    frame = tunegym.load_run(run_dir).to_pandas()
    assert list(frame["job"].unique()) == ["plain", "tuned"]
    tuned = frame[frame["job"] == "tuned"]
    assert list(zip(tuned["step"], tuned["status"], strict=True)) == [
        (s, st) for s, st, _ in _store(run_dir, "tuned")
    ]
    scored = tuned[tuned["status"] == "ok"]
    assert (scored["reward"] == scored["metrics.score"]).all()  # reward = identity


def test_an_unknown_job_names_the_known_ones(run_dir: Path) -> None:
    with pytest.raises(UsageError, match=r"no job 'nope' #0 \(jobs: plain, tuned\)"):
        tunegym.load_run(run_dir).job("nope")


def test_a_folder_that_is_not_a_run_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no trials\.sqlite here"):
        tunegym.load_run(tmp_path)


def test_best_is_the_summary_best_and_a_run_of_several_jobs_asks_which(run_dir: Path) -> None:
    run = tunegym.load_run(run_dir)
    summary = {
        job["name"]: job for job in json.loads((run_dir / "summary.json").read_text())["jobs"]
    }
    for name in ("plain", "tuned"):
        best = run.job(name).best
        assert best is not None
        assert dict(best.action) == summary[name]["best"]["action"]
        assert best.reward == summary[name]["best"]["reward"]
    with pytest.raises(UsageError, match=r"2 job iterations \(plain, tuned\); name one"):
        run.best  # noqa: B018
    assert run.status == "ok"


def test_a_file_named_as_the_run_folder_is_said_to_be_a_file(tmp_path: Path) -> None:
    (tmp_path / "run").write_text("not a folder")
    with pytest.raises(UsageError, match=r"run: is a file, not a run folder$"):
        tunegym.load_run(tmp_path / "run")
    with pytest.raises(UsageError, match=r"nothing: no such folder$"):
        tunegym.load_run(tmp_path / "nothing")
