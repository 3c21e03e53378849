"""Re-measuring promising actions under other env-param draws, so the robust best is
well supported when the budget ends (``[agent] min_draws``).

Under env params the robust best is the action with the highest mean reward over its
draws among those measured ``required`` times (:func:`tunegym.env_params.required_draws`:
``min_draws``, or every env-param combination when there are fewer). A search agent
alone measures most actions once. :class:`RemeasuringAgent` wraps it (``build_agent``
applies it for ``AgentConfig.min_draws > 1`` on an env with env params):

* The *leaders* are the measured actions whose mean reward beats every action that
  already has ``required`` draws. While there are leaders, up to ``share`` of the trials
  so far re-measure the best of them; the rest are the wrapped agent's proposals.
* When no action has ``required`` draws yet and the budget left is just enough to give
  the action closest to the minimum its missing draws (twice that on a caching env,
  where a slot adds a draw only under new env params; plus ``parallel - 1``, since a
  batch is proposed at once), the remaining trials re-measure it: the robust best
  never rests on fewer draws than the minimum unless the budget is too small.
* When the wrapped agent has nothing left to propose (a finite space done), the rest of
  the budget re-measures the best actions short of the minimum, until each has it; a
  trial whose env params every such action already has is a cache hit (nothing runs),
  and the next draws others.
* A re-measure is proposed only when it adds a draw: on a caching env, only if the next
  trial's env params (``env.next_env_params()``) are a combination the action has not
  been measured in (else the wrapped agent proposes). In a parallel batch only the first
  slot may re-measure, since only its env params are known.
* Every feedback reaches the wrapped agent (``learn``), re-measures included, so it
  learns from them as from any trial it did not propose.
* On a caching env, a proposal of the wrapped agent that the cache would answer (that
  action already measured under the next trial's env params) costs no trial: the agent
  is taught the recorded result as a cache hit and asked again (sequential runs).

Decisions depend only on the feedback, the budget and the step's env params (a replayed
step's recorded ones), so a resumed run replays them exactly; an extended run replays
its earlier trials with the budgets they had (``AgentConfig.earlier_budgets``).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from tunegym.agents.base import Action, BaseAgent, Feedback
from tunegym.agents.wrapping import WrappingAgent
from tunegym.space import cache_key
from tunegym.values import is_finite_number

#: Default share of the trials spent re-measuring leaders (the final guarantee aside).
DEFAULT_SHARE = 0.25
# Proposals of the wrapped agent that would be cache hits, answered in a row before one
# is let through.
_MAX_SKIPS = 16


@dataclass
class _Draws:
    """The successful, executed measurements of one action."""

    action: Action
    rewards: list[float] = field(default_factory=list)
    contexts: set[str] = field(default_factory=set)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.rewards)


class RemeasuringAgent(WrappingAgent):
    """Wraps ``agent`` so promising actions are re-measured up to ``required`` draws
    (see the module docs). Attributes it does not have are read from the wrapped agent."""

    def __init__(self, agent: BaseAgent, required: int, share: float = DEFAULT_SHARE) -> None:
        if required < 2:
            raise ValueError(f"re-measuring needs required >= 2, got {required}")
        self.agent = agent
        self.env = agent.env
        self.config = agent.config
        self.options = agent.options
        self.history = []
        self.required = required
        self.share = share
        self.budget = agent.config.max_steps
        self.caches = agent.env.caches_results
        self.draws: dict[str, _Draws] = {}
        self.in_flight: Counter[str] = Counter()
        self.proposed = 0
        self.remeasured = 0
        self.space = agent.env.action_space
        self.measured: dict[tuple[str, str], Feedback] = {}
        """On a caching env: the recorded feedback of each ``(action, env params)``."""
        self.skipped = 0
        """Proposals of the wrapped agent answered from ``measured`` without a trial."""

    # -- choosing ------------------------------------------------------------------------
    def _budget(self) -> int:
        """The budget in force for the next proposal (an extended run's earlier budgets
        for the trials they covered, so a replay decides as the first run did)."""
        for budget in self.config.earlier_budgets:
            if self.proposed < budget:
                return budget
        return self.budget

    def _upcoming_env_params(self) -> Mapping[str, Any]:
        """The env params of the trial about to be proposed: while a resumed run replays,
        the recorded trial's (the env's counter is already past them), else the env's next."""
        plan = getattr(self.env, "replay_plan", ())
        if self.proposed < len(plan):
            return plan[self.proposed].env_params
        return self.env.next_env_params()

    def _count(self, key: str) -> int:
        draws = self.draws.get(key)
        return (len(draws.rewards) if draws else 0) + self.in_flight[key]

    def _remeasure(self, done: bool = False) -> Action | None:
        """The action to measure again now, or ``None`` (the wrapped agent proposes).

        ``done``: the wrapped agent has nothing left to propose, so any leader may be
        re-measured, regardless of the share."""
        ranked = sorted(self.draws.items(), key=lambda item: (-item[1].mean, -len(item[1].rewards)))
        leaders: list[tuple[str, _Draws]] = []
        for key, draws in ranked:
            if self._count(key) >= self.required:
                break
            leaders.append((key, draws))
        upcoming = cache_key({}, self._upcoming_env_params()) if self.caches else None

        def adds_a_draw(draws: _Draws) -> bool:
            return upcoming is None or upcoming not in draws.contexts

        if done:  # the next best actions short of the minimum, leaders first
            short = [d for k, d in ranked if self._count(k) < self.required]
            chosen = next((d for d in short if adds_a_draw(d)), short[0] if short else None)
            # When every short action was measured under the next trial's env params, the
            # best of them is proposed all the same: the cache answers it (nothing runs)
            # and the trial after it draws other env params. Ending here would end the job
            # with the budget unspent and the minimum unmet.
            return None if chosen is None else dict(chosen.action)
        if not leaders:
            return None

        if len(leaders) == len(ranked):  # nothing is supported yet: is it time to top up?
            remaining = self._budget() - self.proposed
            # The closest to the minimum first (then the better mean): once chosen, it
            # stays the closest, so the top-up finishes one action rather than many.
            closest = sorted(leaders, key=lambda item: self.required - self._count(item[0]))
            deficit = self.required - self._count(closest[0][0])
            # A batch of `parallel` is proposed at once: start while a batch can finish it.
            slack = max(1, self.config.parallel) - 1
            if remaining <= deficit * (2 if self.caches else 1) + slack:
                return next((dict(d.action) for _, d in closest if adds_a_draw(d)), None)
        if self.remeasured + 1 > self.share * (self.proposed + 1):
            return None
        best = leaders[0][1]
        return dict(best.action) if adds_a_draw(best) else None

    def _fresh(self, observation: Mapping[str, float]) -> Action | None:
        """The wrapped agent's next proposal. On a caching env, a proposal the cache would
        answer (measured before under the next trial's env params) costs no trial: the
        wrapped agent is taught the recorded result at once, as a cache hit, and asked
        again (at most ``_MAX_SKIPS`` times)."""
        action = self.agent.select_action(observation)
        if not self.caches:
            return action
        upcoming = cache_key({}, self._upcoming_env_params())
        for _ in range(_MAX_SKIPS):
            if action is None:
                return None
            known = self.measured.get((cache_key(self.space.canonicalize(action), {}), upcoming))
            if known is None:
                return action
            self.skipped += 1
            self.agent.learn(replace(known, status="cached", cached=True))
            action = self.agent.select_action(observation)
        return action

    def _note_proposal(self, action: Action, remeasure: bool) -> Action:
        self.proposed += 1
        self.remeasured += remeasure
        self.in_flight[cache_key(action, {})] += 1
        return action

    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        again = self._remeasure()
        if again is not None:
            return self._note_proposal(again, True)
        action = self._fresh(observation)
        if action is not None:
            return self._note_proposal(action, False)
        again = self._remeasure(done=True)  # the search is over: spend the rest on evidence
        return None if again is None else self._note_proposal(again, True)

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[Action]:
        out: list[Action] = []
        # Only the first slot's env params are known, so on a caching env only it may
        # re-measure (a later one could be a cache hit); otherwise every slot may.
        while len(out) < n and (not out or not self.caches):
            again = self._remeasure()
            if again is None:
                break
            out.append(self._note_proposal(again, True))
        if len(out) < n:
            fresh = self.agent.select_actions(n - len(out), observation)
            out.extend(self._note_proposal(a, False) for a in fresh)
            if not out and (again := self._remeasure(done=True)) is not None:
                out.append(self._note_proposal(again, True))
        return out

    # -- learning ------------------------------------------------------------------------
    def update_policy(self, feedback: Feedback) -> None:
        key = cache_key(feedback.action, {})
        if self.in_flight[key] > 0:
            self.in_flight[key] -= 1
            if not self.in_flight[key]:
                del self.in_flight[key]
        for sample in feedback.samples or (feedback,):
            reward = sample.reward
            if self.caches and not sample.cached:
                context = cache_key({}, sample.env_params)
                self.measured[(cache_key(sample.action, {}), context)] = sample
            if sample.succeeded and not sample.cached and is_finite_number(reward):
                draws = self.draws.setdefault(key, _Draws(dict(sample.action)))
                draws.rewards.append(float(reward))  # type: ignore[arg-type]
                draws.contexts.add(cache_key({}, sample.env_params))
        self.agent.learn(replace(feedback))


__all__ = ["DEFAULT_SHARE", "RemeasuringAgent"]
