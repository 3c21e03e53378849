"""Resume a job iteration from its rows: exactly, without losing or repeating a trial.

(The spec fingerprints that refuse a resume with a changed workload belong to the run
folder's owner, :mod:`tunegym.session.fingerprints`.)

* Finished trials are not run again: their rows prime the cache, and the agent is
  replayed with their feedback (it proposes again, in order, so a seeded agent's state
  ends exactly where it was: grid skips them, a model-based agent learns them).
* A trial that started but has no row is run again under its own step, action and env
  params; new trials continue after the largest step handed out.
* ``trajectory.csv`` and ``env.csv`` (possibly torn by the crash) are rebuilt from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tunegym.space import SearchSpace
from tunegym.trial.rows import TrialRow
from tunegym.trial.store import DamagedDatabaseError, TrialDatabase


@dataclass(frozen=True)
class ReplayItem:
    """One step of the interrupted run: its row, or ``None`` when it must run again."""

    step: int
    action: dict[str, Any]
    env_params: dict[str, Any]
    row: TrialRow | None


def replay_plan(
    db: TrialDatabase, job: str, iteration: int, space: SearchSpace
) -> list[ReplayItem]:
    """Every step handed out so far, in step order, with its row when it finished; each
    action in ``space``'s canonical form.

    A :class:`DamagedDatabaseError` names the first step whose action is not one of ``space``
    (a row edited by hand: replayed, it ended in an agent's ``ValueError``)."""
    rows = {row.step: row for row in db.rows(job, iteration)}
    items = [ReplayItem(s, dict(r.action), dict(r.env_params), r) for s, r in rows.items()]
    items += [
        ReplayItem(step, action, env, None) for step, action, env in db.unfinished(job, iteration)
    ]
    return [_in_space(item, space, db, job) for item in sorted(items, key=lambda i: i.step)]


def _in_space(item: ReplayItem, space: SearchSpace, db: TrialDatabase, job: str) -> ReplayItem:
    try:
        action = space.canonicalize(item.action)
    except ValueError as exc:
        raise DamagedDatabaseError(
            f"{db.path}: trial {item.step} of job {job!r} has an action outside the search "
            f"space ({exc}); was the row edited?"
        ) from None
    return ReplayItem(item.step, action, item.env_params, item.row)
