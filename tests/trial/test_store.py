"""TrialStore: SQLite rows committed per row, CSV files aligned 1:1 by step."""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from pathlib import Path

import pytest

from tunegym.trial import TrialDatabase, TrialRow, TrialStore
from tunegym.trial.sweep import Sweep


def _row(step: int, status: str = "ok", reward: float | None = 1.0, **kw: object) -> TrialRow:
    return TrialRow(step, {"x": step}, kw.pop("env_params", {}), {"m": 1.5}, reward, status, **kw)  # type: ignore[arg-type]


def test_rows_are_committed_per_row_and_visible_to_another_connection(tmp_path: Path) -> None:
    db = TrialDatabase(tmp_path / "trials.sqlite")
    store = TrialStore(db, "job", 0, tmp_path / "job" / "0", [])
    store.append(_row(1))
    other = sqlite3.connect(tmp_path / "trials.sqlite")
    assert other.execute("SELECT step, status, reward FROM trials").fetchall() == [(1, "ok", 1.0)]
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.append(_row(2, "metric_missing", -5.0))
    assert other.execute("SELECT count(*) FROM trials").fetchone()[0] == 2
    other.close()
    store.close()
    db.close()


def test_csv_files_are_aligned_by_step_and_flushed(tmp_path: Path) -> None:
    db = TrialDatabase(tmp_path / "trials.sqlite")
    folder = tmp_path / "job" / "0"
    store = TrialStore(db, "job", 0, folder, ["load"])
    store.append(_row(1, env_params={"load": "low"}))
    store.append(_row(2, "cached", cached=True, env_params={"load": "high"}))
    store.append(_row(3, "constraint_failed", -1e9, env_params={"load": "low"}))
    # Read before close: each row must already be flushed.
    traj = list(csv.DictReader((folder / "trajectory.csv").open()))
    env = list(csv.DictReader((folder / "env.csv").open()))
    assert [r["step"] for r in traj] == [r["step"] for r in env] == ["1", "2", "3"]
    assert [r["status"] for r in traj] == ["ok", "cached", "constraint_failed"]
    assert [r["load"] for r in env] == ["low", "high", "low"]
    assert traj[1]["cached"] == "1"
    assert json.loads(traj[0]["action"]) == {"x": 1}
    assert list(traj[0]) == [
        "step",
        "action",
        "reward",
        "observation",
        "status",
        "cached",
        "duration_s",
    ]
    store.close()
    db.close()


def test_no_env_csv_without_env_params(tmp_path: Path) -> None:
    db = TrialDatabase(tmp_path / "t.sqlite")
    store = TrialStore(db, "job", 0, tmp_path / "f", [])
    store.append(_row(1))
    assert not (tmp_path / "f" / "env.csv").exists()
    store.close()
    db.close()


def test_rows_read_back_from_sqlite_with_types(tmp_path: Path) -> None:
    db = TrialDatabase(tmp_path / "t.sqlite")
    store = TrialStore(db, "job", 0, tmp_path / "f", [])
    store.append(
        TrialRow(
            1,
            {"a": "x", "b": 2},
            {},
            {"m": 3.0, "bad": float("nan")},
            None,
            "failed",
            returncode=3,
            duration_s=0.25,
            started_at=10.0,
        )
    )
    (row,) = store.rows()
    assert row.action == {"a": "x", "b": 2}
    assert row.observation == {"m": 3.0}  # non-finite values are not stored
    assert row.reward is None and row.returncode == 3 and row.status == "failed"
    store.close()
    db.close()


def test_unknown_status_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown trial status 'weird'"):
        _row(1, "weird")


def test_duplicate_step_is_refused(tmp_path: Path) -> None:
    db = TrialDatabase(tmp_path / "t.sqlite")
    store = TrialStore(db, "job", 0, tmp_path / "f", [])
    store.append(_row(1))
    with pytest.raises(sqlite3.IntegrityError):
        store.append(_row(1))
    store.close()
    db.close()


def test_sweep_steps_start_at_one_and_increase(tmp_path: Path) -> None:
    sweep = Sweep(tmp_path)
    assert sweep.step == 0
    assert [sweep.increment_step() for _ in range(3)] == [1, 2, 3]
    assert sweep.trial_dir(2) == tmp_path / "2" and (tmp_path / "2").is_dir()


def _recorded(tmp_path: Path) -> Path:
    """A trials.sqlite holding two rows of job ``job`` and a meta key."""
    path = tmp_path / "trials.sqlite"
    db = TrialDatabase(path)
    store = TrialStore(db, "job", 0, tmp_path / "job" / "0", [])
    store.append(_row(1))
    store.append(_row(2))
    db.set_meta("run", {"seed": 0})
    store.close()
    db.close()
    return path


def _damaged(tmp_path: Path, sql: str) -> Path:
    """:func:`_recorded`'s file, then damaged by ``sql`` (run by another connection)."""
    path = _recorded(tmp_path)
    conn = sqlite3.connect(path)
    conn.execute(sql)
    conn.commit()
    conn.close()
    return path


def test_a_file_that_is_not_sqlite_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    from tunegym.trial.store import TrialStoreError

    path = tmp_path / "trials.sqlite"
    path.write_bytes(b"not a database at all, but long enough to have a header" * 20)
    with pytest.raises(TrialStoreError, match=rf"cannot open {path}: file is not a database"):
        TrialDatabase(path)
    assert path.read_bytes().startswith(b"not a database")  # left as it was


def test_a_truncated_database_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    from tunegym.trial.store import TrialStoreError

    path = _recorded(tmp_path)
    path.write_bytes(path.read_bytes()[:3000])  # a copy cut short
    with pytest.raises(TrialStoreError, match=rf"{path}: database disk image is malformed"):
        TrialDatabase(path).rows("job", 0)


@pytest.mark.parametrize("column", ["action", "env_params", "observation"])
@pytest.mark.parametrize(
    ("value", "why"), [("{cut", "is not JSON"), ("[1, 2]", "is not a JSON object")]
)
def test_a_damaged_row_is_named_by_its_job_and_step(
    tmp_path: Path, column: str, value: str, why: str
) -> None:
    from tunegym.trial.store import TrialStoreError

    path = _damaged(tmp_path, f"UPDATE trials SET {column} = '{value}' WHERE step = 2")
    db = TrialDatabase(path)
    try:
        message = rf"{path}: trial 2 of job 'job' is damaged: its {column} {why}"
        with pytest.raises(TrialStoreError, match=re.escape(message)):
            db.rows("job", 0)
        with pytest.raises(TrialStoreError, match=re.escape(message)):
            db.job_rows("job")
    finally:
        db.close()


def test_a_row_with_an_unknown_status_is_named(tmp_path: Path) -> None:
    from tunegym.trial.store import TrialStoreError

    path = _damaged(tmp_path, "UPDATE trials SET status = 'bogus' WHERE step = 1")
    db = TrialDatabase(path)
    try:
        message = rf"{path}: trial 1 of job 'job' is damaged: its status is 'bogus'"
        with pytest.raises(TrialStoreError, match=message):
            db.rows("job", 0)
    finally:
        db.close()


def test_a_damaged_meta_value_is_named_by_its_key(tmp_path: Path) -> None:
    from tunegym.trial.store import TrialStoreError

    path = _damaged(tmp_path, "UPDATE meta SET value = '{' WHERE key = 'run'")
    db = TrialDatabase(path)
    try:
        with pytest.raises(TrialStoreError, match=rf"{path}: meta 'run' is damaged \(not JSON\)"):
            db.meta()
    finally:
        db.close()
