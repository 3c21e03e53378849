"""The ``curves`` table: intermediate values per trial, attached to the rows they belong to."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tunegym.trial.rows import TrialRow
from tunegym.trial.store import TrialDatabase, TrialStore


def _row(step: int, status: str = "ok") -> TrialRow:
    return TrialRow(step, {"x": step}, {}, {"loss": 1.0}, -1.0, status)  # type: ignore[arg-type]


def test_points_are_kept_per_trial_and_attached_to_rows(tmp_path: Path) -> None:
    db = TrialDatabase(tmp_path / "trials.sqlite")
    first = TrialStore(db, "job", 0, tmp_path / "job" / "0", [])
    second = TrialStore(db, "job", 1, tmp_path / "job" / "1", [])
    first.add_points(1, [(1, 0.9), (2, 0.7)])
    first.add_points(1, [(3, 0.5)])
    first.add_points(2, [(1, 2.0)])
    second.add_points(1, [(1, 5.0)])
    first.append(_row(1))
    first.append(_row(2, "pruned"))
    second.append(_row(1))
    assert first.curves() == {1: ((1, 0.9), (2, 0.7), (3, 0.5)), 2: ((1, 2.0),)}
    assert [r.curve for r in first.rows()] == [((1, 0.9), (2, 0.7), (3, 0.5)), ((1, 2.0),)]
    assert [r.curve for r in db.job_rows("job")] == [
        ((1, 0.9), (2, 0.7), (3, 0.5)),
        ((1, 2.0),),
        ((1, 5.0),),
    ]
    first.clear_curve(2)
    assert 2 not in first.curves() and second.curves() == {1: ((1, 5.0),)}
    db.close()


def test_a_database_from_before_curves_reads_without_them(tmp_path: Path) -> None:
    path = tmp_path / "trials.sqlite"
    db = TrialDatabase(path)
    TrialStore(db, "job", 0, tmp_path / "job" / "0", []).append(_row(1))
    db.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE curves")
    old = TrialDatabase(path, read_only=True)
    (row,) = old.rows("job", 0)
    assert row.curve == () and old.curves("job") == {}
    old.close()
