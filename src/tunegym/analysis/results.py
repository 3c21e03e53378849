"""What the reports derive from one job iteration's trial rows, each computed once.

``summary.json`` and ``report.html`` are written from the same :class:`JobResults`: the
rows are read from the database once, and the best row, the robust ranking, the
per-context bests and the Pareto front are computed on first use and then shared.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Protocol

from tunegym.analysis import robust
from tunegym.analysis import rows as analysis
from tunegym.analysis.best import best_row
from tunegym.env_params import EnvParams, combinations, required_draws
from tunegym.spec.loader import Job
from tunegym.spec.models import WorkloadSpec
from tunegym.trial.store import TrialDatabase, TrialRow


def measured_repeatedly(workload: WorkloadSpec | None) -> bool:
    """Whether an action's trials are repeated measurements, so its best is its mean, not
    its luckiest trial: under env params (draws) or with ``agent.repeats > 1``."""
    return workload is not None and (bool(workload.env_params) or workload.agent.repeats > 1)


def measurements_word(workload: WorkloadSpec | None) -> str:
    """What an action's repeated trials are, in the reports: draws or repeats."""
    return "env-param draws" if workload is not None and workload.env_params else "repeats"


class JobIteration(Protocol):
    """A job iteration, as a run's records name one."""

    job: Job
    iteration: int


@dataclass(frozen=True, eq=False)
class JobResults:
    """The rows of one job iteration and what the reports compute from them."""

    rows: Sequence[TrialRow]
    workload: WorkloadSpec | None

    @classmethod
    def load(cls, db: TrialDatabase, record: JobIteration) -> JobResults:
        return cls(db.rows(record.job.name, record.iteration), record.job.workload)

    @cached_property
    def best_row(self) -> TrialRow | None:
        """The highest-reward scored row (see :func:`~tunegym.analysis.best.best_row`)."""
        return best_row(self.rows)

    @cached_property
    def action_stats(self) -> list[robust.ActionStats]:
        """Every measured action, best mean reward first (:func:`robust.action_stats`)."""
        return robust.action_stats(self.rows)

    @cached_property
    def robust_choice(self) -> robust.RobustChoice:
        """The robust best with its evidence: the highest mean reward over its env-param
        draws among the actions with ``agent.min_draws`` draws (:func:`robust.robust_choice`)."""
        if self.workload is None or not self.workload.env_params:
            return robust.robust_choice(self.action_stats)
        dims = EnvParams.from_workload(self.workload).dims
        min_draws = self.workload.agent.min_draws
        return robust.robust_choice(
            self.action_stats, required_draws(min_draws, dims), min_draws, combinations(dims)
        )

    @property
    def robust_best(self) -> robust.ActionStats | None:
        """The robust best action (see :attr:`robust_choice`)."""
        return self.robust_choice.best

    @cached_property
    def contexts(self) -> list[robust.ContextBest]:
        """The best action per env-param combination (:func:`robust.context_bests`)."""
        return robust.context_bests(self.rows)

    @cached_property
    def objectives(self) -> list[tuple[str, analysis.Direction]]:
        """``[(metric, "max"|"min"), ...]`` when the job has two or more objectives."""
        return analysis.objectives(self.workload)

    @cached_property
    def pareto_front(self) -> list[robust.FrontMember]:
        """The non-dominated actions (``[]`` without several objectives)."""
        if not self.objectives:
            return []
        metrics = [m for m, _ in self.objectives]
        return robust.pareto_front(self.rows, metrics, [d for _, d in self.objectives])
