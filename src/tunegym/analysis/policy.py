"""What an RL job's rows say about its policy: reward statistics instead of a "best action".

For a job whose agent trains or evaluates a policy (``sb3``), or a live job stepping
episodes, the best single step means little; what matters is the reward the policy
earns: its mean and standard deviation over all scored steps and over the last ones
(where training has got to), and, for live jobs, per episode (return and length).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunegym.analysis.best import is_scored
from tunegym.trial.rows import Episode, TrialRow
from tunegym.values import is_finite_number

LAST_FRACTION = 0.1
"""The "last" window: this share of the scored steps (at least one, at most 1000)."""


@dataclass(frozen=True)
class Stats:
    mean: float
    std: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats | None:
        if not values:
            return None
        std = statistics.pstdev(values) if len(values) > 1 else 0.0
        return cls(statistics.fmean(values), std, len(values))

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "std": self.std, "n": self.n}


@dataclass(frozen=True)
class PolicyStats:
    reward: Stats | None
    """Over every scored step."""
    last: Stats | None
    """Over the last :data:`LAST_FRACTION` of the scored steps."""
    episode_return: Stats | None
    """Summed reward per finished episode (live jobs)."""
    episode_length: Stats | None
    episodes: int

    def to_json(self) -> dict[str, Any]:
        def js(stats: Stats | None) -> dict[str, Any] | None:
            return None if stats is None else stats.to_json()

        return {
            "reward": js(self.reward),
            "last": js(self.last),
            "episodes": self.episodes,
            "episode_return": js(self.episode_return),
            "episode_length": js(self.episode_length),
        }


def policy_stats(rows: Sequence[TrialRow], episodes: Sequence[Episode] = ()) -> PolicyStats:
    """The statistics of ``rows`` (in step order) and ``episodes`` (see the module doc)."""
    rewards = [float(r.reward) for r in sorted(rows, key=lambda r: r.step) if is_scored(r)]  # type: ignore[arg-type]
    window = min(1000, max(1, math.ceil(len(rewards) * LAST_FRACTION)))
    returns = [e.total_reward for e in episodes if is_finite_number(e.total_reward)]
    return PolicyStats(
        reward=Stats.of(rewards),
        last=Stats.of(rewards[-window:]),
        episode_return=Stats.of(returns),
        episode_length=Stats.of([float(e.steps) for e in episodes]),
        episodes=len(episodes),
    )
