"""The ``bandit`` agent: every action of a finite space is an arm; UCB1 or Thompson sampling.

Made for categorical spaces under noise, where pulling an arm again is worth a trial.

* **Statistics.** Each arm keeps its pulls' rewards; a failed pull counts as the lowest
  successful reward seen so far (bad, but on the rewards' scale). Rewards are scaled by
  the spread of the successful rewards seen, so the exploration term means the same for
  rewards in [0, 1] and in [0, 1e6].
* **UCB1** (``policy = "ucb1"``): every arm is pulled once (in a seeded random order),
  then the arm with the highest upper confidence bound, UCB1-Tuned (Auer et al., 2002):
  ``mean + exploration * spread * sqrt(ln N / n * min(1/4, V + sqrt(2 ln N / n)))``, with
  ``V`` the arm's reward variance in units of the spread, so noisy arms are explored
  more and steady ones less.
* **Thompson** (``policy = "thompson"``): every arm once, then the arm with the highest
  draw from ``Normal(mean, sigma^2 / n)``, sigma the pooled within-arm spread (at least
  5% of the reward spread), from a seeded generator.
* **Contexts.** When the env has env params (and ``contextual = true``), statistics are
  also kept per context (the sampled env params). Before a pull the agent asks the env
  for the next trial's env params (``next_env_params``) and scores arms in that context:
  its own pulls count fully, pulls in other contexts count ``context_sharing`` of a pull
  each. :meth:`BanditAgent.recommend` gives the best arm for a context, so the
  recommendation can depend on it.
* **Parallel.** A batch (``parallel > 1``) counts the arms in flight as pulled once more
  each: the first pass hands out the next unpulled arms of the order, then every pick
  is scored with the earlier ones pending (an arm in flight and never pulled: last).
  All picks of a batch are scored in the context of the next trial's env params.
* **Constraints.** Arms the env knows to be infeasible (``env.infeasible``) are never
  pulled; with no feasible arm the agent stops.
* With ``repeats``, each repeat is one pull (the agent sees the samples of the mean).
* Seeded: the same seed and the same results give the same pulls.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunegym.agents.base import Action, AgentConfig, BaseAgent, Feedback
from tunegym.env.base import BaseGym
from tunegym.space import cache_key

POLICIES = ("ucb1", "thompson")
# Spaces larger than this have too many arms for a bandit.
MAX_ARMS = 100_000


class BanditOptions(BaseModel):
    """``[agent.config]`` of the ``bandit`` agent."""

    model_config = ConfigDict(extra="forbid")

    policy: str = "ucb1"
    """ucb1 | thompson."""
    exploration: float = Field(default=1.0, ge=0)
    """UCB1: weight of the exploration term (0: greedy after one pull per arm)."""
    contextual: bool = True
    """Keep per-context statistics when the env has env params."""
    context_sharing: float = Field(default=0.5, ge=0, le=1)
    """How much a pull in another context counts in this one (0: contexts independent)."""

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> Literal["ucb1", "thompson"]:
        name = value.strip().lower()
        if name not in POLICIES:
            raise ValueError(f"unknown policy {value!r}; known policies: {', '.join(POLICIES)}")
        return name  # type: ignore[return-value]


@dataclass
class _Pulls:
    """Rewards of the successful pulls of one arm (in one context) and its failures."""

    rewards: list[float] = field(default_factory=list)
    failures: int = 0

    @property
    def n(self) -> int:
        return len(self.rewards) + self.failures


def upcoming_env_params(env: BaseGym) -> dict[str, Any] | None:
    """The env params of the env's next trial (``env.next_env_params()``); ``None`` when
    the env has none."""
    return env.next_env_params() or None


class BanditAgent(BaseAgent):
    """UCB1 / Thompson sampling over the actions of a finite space (see module docs)."""

    name = "bandit"
    supports_env_params = True
    requires_finite_space = True
    max_space_size = MAX_ARMS
    supports_warm_start = True
    Config = BanditOptions

    def __init__(self, env: BaseGym, config: AgentConfig) -> None:
        super().__init__(env, config)
        self.space = env.action_space
        size = self.space.size
        if size is None:
            raise ValueError("the bandit agent needs a finite space (lists or int ranges)")
        if size > MAX_ARMS:
            raise ValueError(
                f"the space has {size} actions; the bandit agent handles at most {MAX_ARMS} "
                "arms (use agent type 'optuna')"
            )
        self.size = size
        self.rng = np.random.default_rng(config.seed)
        self.order = [int(i) for i in self.rng.permutation(size)]
        self.feasible = [
            arm
            for arm in range(size)
            if not env.has_constraints or env.infeasible(self.space.action_at(arm)) is None
        ]
        """Arms the env does not know to be infeasible, in grid order (the only ones pulled)."""
        if len(self.feasible) < size:
            allowed = set(self.feasible)
            self.order = [arm for arm in self.order if arm in allowed]
        self.position = {arm: pos for pos, arm in enumerate(self.order)}
        self.cursor = 0
        """Position in ``order`` before which every arm is pulled or in flight."""
        self.in_flight: Counter[int] = Counter()
        """Arms proposed by :meth:`select_actions` whose feedback has not arrived yet."""
        self.pulls: dict[int, _Pulls] = {}
        self.context_pulls: dict[str, dict[int, _Pulls]] = {}
        self.contexts: dict[str, dict[str, Any]] = {}
        self.contextual = bool(self.options.contextual and env.next_env_params())
        self.total = 0
        self.low: float | None = None
        self.high: float | None = None

    def arm_of(self, action: Mapping[str, Any]) -> int:
        """The arm (grid index) of ``action``; ``ValueError`` when it is not in the space."""
        return self.space.index_of(action)

    # -- statistics ----------------------------------------------------------------------
    def _record(self, arm: int, feedback: Feedback) -> None:
        reward = feedback.reward
        ok = feedback.succeeded and reward is not None and math.isfinite(reward)
        targets = [self.pulls.setdefault(arm, _Pulls())]
        if self.contextual:
            context = cache_key(feedback.env_params, {})
            self.contexts.setdefault(context, dict(feedback.env_params))
            targets.append(self.context_pulls.setdefault(context, {}).setdefault(arm, _Pulls()))
        for pulls in targets:
            if ok:
                pulls.rewards.append(float(reward))  # type: ignore[arg-type]
            else:
                pulls.failures += 1
        if ok:
            value = float(reward)  # type: ignore[arg-type]
            self.low = value if self.low is None else min(self.low, value)
            self.high = value if self.high is None else max(self.high, value)
        self.total += 1

    def _spread(self) -> float:
        if self.low is None or self.high is None or self.high <= self.low:
            return 1.0 if self.low is None else max(abs(self.low), 1.0)
        return self.high - self.low

    def _sum_n(self, pulls: _Pulls | None) -> tuple[float, float]:
        """(sum of rewards with failures at the floor, number of pulls)."""
        if pulls is None:
            return 0.0, 0.0
        floor = self.low if self.low is not None else 0.0
        return sum(pulls.rewards) + pulls.failures * floor, float(pulls.n)

    def estimate(self, arm: int, context: str | None = None) -> tuple[float, float]:
        """``(mean reward, effective pulls)`` of ``arm``, in ``context`` when given."""
        total_sum, total_n = self._sum_n(self.pulls.get(arm))
        if context is None or not self.contextual:
            return (total_sum / total_n if total_n else math.nan), total_n
        ctx_sum, ctx_n = self._sum_n(self.context_pulls.get(context, {}).get(arm))
        share = self.options.context_sharing
        weighted_n = ctx_n + share * (total_n - ctx_n)
        if weighted_n <= 0:
            return math.nan, 0.0
        return (ctx_sum + share * (total_sum - ctx_sum)) / weighted_n, weighted_n

    def _pooled_sigma(self) -> float:
        """The pooled within-arm standard deviation, at least 5% of the reward spread
        (computed in units of the spread, so no square overflows or underflows)."""
        spread = self._spread()
        squares, dof = 0.0, 0
        for pulls in self.pulls.values():
            if len(pulls.rewards) > 1:
                values = np.asarray(pulls.rewards) / spread
                squares += float(((values - values.mean()) ** 2).sum())
                dof += len(values) - 1
        sigma = math.sqrt(squares / dof) if dof else 0.0
        return max(sigma, 0.05) * spread

    # -- choosing ------------------------------------------------------------------------
    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        if not self.feasible:
            return None
        return self.space.action_at(self._choose())

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[Action]:
        """``n`` arms to pull at once. Arms in flight (proposed here, feedback not yet in)
        count as pulled once more: the first pass hands out the next unpulled arms of the
        seeded order, after it each pick is scored with the earlier ones pending."""
        actions: list[Action] = []
        if not self.feasible:
            return actions
        for _ in range(n):
            arm = self._choose()
            self.in_flight[arm] += 1
            actions.append(self.space.action_at(arm))
        return actions

    def _choose(self) -> int:
        """The next unpulled arm of ``order`` not in flight, else the best scored arm."""
        while self.cursor < len(self.order):
            arm = self.order[self.cursor]
            if arm not in self.pulls and arm not in self.in_flight:
                return arm
            self.cursor += 1
        context = None
        if self.contextual:
            upcoming = upcoming_env_params(self.env)
            context = cache_key(upcoming, {}) if upcoming is not None else None
        scores = self._scores(context)
        return max(self.feasible, key=lambda i: (scores[i], -self.in_flight[i], -self.position[i]))

    def _scores(self, context: str | None) -> list[float]:
        """Each arm's score; arms in flight count as pulled once more per pending pull, and
        an arm with pending pulls only (its mean unknown) scores ``-inf``."""
        spread = self._spread()
        scores: list[float] = []
        if self.options.policy == "thompson":
            sigma = self._pooled_sigma()
            for arm in range(self.size):
                known = self._known(arm, context)
                if known is None:
                    scores.append(-math.inf)
                    continue
                mean, n = known
                scores.append(float(self.rng.normal(mean, sigma / math.sqrt(n))))
            return scores
        log_total = math.log(max(self.total + self.in_flight.total(), 1) + 1)
        for arm in range(self.size):
            known = self._known(arm, context)
            if known is None:
                scores.append(-math.inf)
                continue
            mean, n = known
            # UCB1-Tuned: the variance term, in units of the reward spread, capped at 1/4.
            variance = self._scaled_variance(arm, spread)
            tuned = min(0.25, variance + math.sqrt(2 * log_total / n))
            bonus = self.options.exploration * spread * math.sqrt(log_total / n * tuned)
            scores.append(mean + bonus)
        return scores

    def _known(self, arm: int, context: str | None) -> tuple[float, float] | None:
        """``(mean, pulls)`` of ``arm`` in ``context`` (falling back to all contexts),
        its in-flight pulls counted; ``None`` when it was never measured."""
        mean, n = self.estimate(arm, context)
        if n <= 0:
            mean, n = self.estimate(arm)
        if n <= 0:
            return None
        return mean, n + self.in_flight[arm]

    def _scaled_variance(self, arm: int, spread: float) -> float:
        """The variance of ``arm``'s rewards in units of ``spread`` (rewards divided by it
        before squaring, so rewards near 1e-200 or 1e200 neither underflow nor overflow);
        1/4, as wide as it can be, with fewer than two rewards."""
        pulls = self.pulls.get(arm)
        if pulls is None or len(pulls.rewards) < 2:
            return 0.25
        return float(np.var(np.asarray(pulls.rewards) / spread))

    def update_policy(self, feedback: Feedback) -> None:
        """Count the pull(s) of ``feedback`` (each repeat sample when there are several)."""
        try:
            arm = self.arm_of(feedback.action)
        except ValueError:
            return  # not an action of this space (e.g. a warm start of another space)
        if self.in_flight[arm] > 0:
            self.in_flight[arm] -= 1
            if not self.in_flight[arm]:
                del self.in_flight[arm]
        for sample in feedback.samples or (feedback,):
            self._record(arm, sample)

    def warm_start(self, feedback: Sequence[Feedback]) -> int:
        """Count an earlier run's pulls before choosing; returns how many fit the space."""
        used = 0
        for item in feedback:
            if self.space.contains(item.action):
                self.update_policy(item)
                used += 1
        return used

    # -- answers -------------------------------------------------------------------------
    def recommend(self, env_params: Mapping[str, Any] | None = None) -> Action | None:
        """The arm with the best mean reward (in the context of ``env_params`` when given).

        In a context, only arms pulled in it are considered; ties go to more pulls. ``None``
        before any pull (in that context).
        """
        if env_params is not None and self.contextual:
            context = cache_key(dict(env_params), {})
            candidates = list(self.context_pulls.get(context, {}))

            def rank(arm: int) -> tuple[float, float]:
                s, n = self._sum_n(self.context_pulls[context][arm])
                return (s / n, n)
        else:
            candidates = list(self.pulls)

            def rank(arm: int) -> tuple[float, float]:
                s, n = self._sum_n(self.pulls[arm])
                return (s / n, n)

        if not candidates:
            return None
        return self.space.action_at(max(candidates, key=rank))

    def recommendations(self) -> list[tuple[dict[str, Any], Action]]:
        """``(env params, best action)`` for every context seen."""
        out = []
        for env_params in self.contexts.values():
            action = self.recommend(env_params)
            if action is not None:
                out.append((env_params, action))
        return out


__all__ = ["BanditAgent", "BanditOptions", "upcoming_env_params"]
