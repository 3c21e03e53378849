"""Trials: the step counter (``Sweep``), rows and their status, and the store (the only SQL)."""

from tunegym.trial.rows import Feedback, TrialRow
from tunegym.trial.status import SCORED_STATUSES, STATUSES, TrialStatus
from tunegym.trial.store import TrialDatabase, TrialStore
from tunegym.trial.sweep import Sweep

__all__ = [
    "SCORED_STATUSES",
    "STATUSES",
    "Feedback",
    "Sweep",
    "TrialDatabase",
    "TrialRow",
    "TrialStatus",
    "TrialStore",
]
