"""The best trial of a job: the highest finite reward among the rows that were measured."""

from __future__ import annotations

from collections.abc import Sequence

from tunegym.trial.rows import TrialRow
from tunegym.values import is_finite_number


def is_scored(row: TrialRow) -> bool:
    """A row whose reward is a real measurement: ``ok``/``cached`` with a finite reward."""
    return row.status.scored and is_finite_number(row.reward)


def best_row(rows: Sequence[TrialRow]) -> TrialRow | None:
    """The highest-reward scored row; ties go to the earliest step."""
    best: TrialRow | None = None
    for row in rows:
        if is_scored(row) and (best is None or row.reward > best.reward):  # type: ignore[operator]
            best = row
    return best
