"""A resume is refused before it writes anything when a recorded trial cannot be
replayed: a damaged row, or an action outside its job's search space (a row edited by
hand), named with its file, job and step.

Only offline jobs are checked here: a live job's space is its server's, known once the
env is open (its env checks the same when it resumes).
"""

from __future__ import annotations

from tunegym.space import SearchSpace
from tunegym.spec.loader import Scenario
from tunegym.trial.resume import replay_plan
from tunegym.trial.store import TrialDatabase


def check_replayable(db: TrialDatabase, scenario: Scenario) -> None:
    """Read every recorded step of ``scenario``'s offline jobs as a resume will replay
    it; a :class:`~tunegym.trial.store.DamagedDatabaseError` names the first that cannot
    be."""
    for job in scenario.jobs:
        if job.workload.mode != "offline":
            continue
        space = SearchSpace.from_workload(job.workload)
        for iteration in range(job.iterations):
            replay_plan(db, job.name, iteration, space)
