"""Results people work with: a run's trials as flat data (:func:`load_run`), exported as
CSV, JSON lines, Parquet or an Optuna study; parameter importances; comparisons across
runs and against a job's baseline."""

from tunegym.results.runs import JobTrials, RunTrials, load_run

__all__ = ["JobTrials", "RunTrials", "load_run"]
