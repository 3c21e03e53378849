"""Which parameters mattered: Optuna's PED-ANOVA importances over a job's trials.

PED-ANOVA (Watanabe et al., 2023) compares the distribution of each parameter in the top
quantile of trials with its distribution over all of them. It is Optuna's evaluator that
needs no extra package (fANOVA fits random forests with scikit-learn) and stays
meaningful with the few dozen trials a benchmark sweep has; it is computed per objective.
Importances are normalised to sum to 1 over a job's search dimensions.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tunegym.analysis.best import is_scored
from tunegym.results.runs import JobTrials
from tunegym.results.studies import distributions, job_study, objectives

MIN_TRIALS = 10
"""Fewer scored trials than this give no importances: too few to compare, and not worth
importing Optuna for at the end of a small run."""


@dataclass(frozen=True)
class Importances:
    """Per objective (``reward``, or each objective metric), each parameter's share."""

    by_objective: dict[str, dict[str, float]]
    evaluator: str = "PED-ANOVA"
    trials: int = 0

    def to_json(self) -> dict[str, object]:
        return {"evaluator": self.evaluator, "trials": self.trials, "objectives": self.by_objective}


def param_importances(job: JobTrials) -> Importances | None:
    """The importances of ``job``'s search dimensions, or ``None`` when they cannot be
    told (fewer than two dimensions with two values: the one there is would take all of
    the share, which says nothing; or fewer than :data:`MIN_TRIALS` scored trials)."""
    if sum(1 for row in job.rows if is_scored(row)) < MIN_TRIALS:
        return None
    import optuna
    from optuna.importance import PedAnovaImportanceEvaluator, get_param_importances
    from optuna.trial import TrialState

    varying = [n for n, d in distributions(job).items() if len(getattr(d, "choices", (0, 1))) > 1]
    if len(varying) < 2:
        return None
    logger = logging.getLogger("optuna")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        study = job_study(job, f"importance/{job.label}")
        complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
        if len(complete) < MIN_TRIALS:
            return None
        metrics, _ = objectives(job)
        names = metrics or ["reward"]
        by_objective: dict[str, dict[str, float]] = {}
        for i, name in enumerate(names):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = get_param_importances(
                    study,
                    evaluator=PedAnovaImportanceEvaluator(),
                    params=varying,
                    target=_objective(i) if metrics else None,
                    normalize=True,
                )
            by_objective[name] = {k: float(v) for k, v in raw.items()}
        return Importances(by_objective, trials=len(complete))
    except (ValueError, RuntimeError, ZeroDivisionError):
        return None  # too little variation for the evaluator
    finally:
        logger.setLevel(level)
        del optuna


def _objective(i: int) -> Callable[[Any], float]:
    """The target of objective ``i`` of a multi-objective trial."""

    def target(trial: Any) -> float:
        return float(trial.values[i])

    return target
