"""``[agent] repeats = k``: measure each proposed action k times and teach the agent the mean.

:class:`RepeatingAgent` wraps any agent, so the trial loop (sequential, parallel, a
resumed run's replay) gets repeats without knowing about them; ``build_agent`` in
:mod:`tunegym.agents.registry` applies it for ``AgentConfig.repeats``:

* ``select_action`` returns each new proposal k times in a row (``select_actions``, when
  an agent overrides it, proposes ``ceil(n / k)`` new actions and repeats each);
* ``update_policy`` collects the k results of a proposal (matched by action, first come
  first served) and calls the agent's own ``update_policy`` once, with :func:`aggregate`
  of them. Feedback for an action that was not proposed (a warm start) passes straight
  through.

Every repeat is a trial of its own (its own step, row and env params) and counts against
``max_steps``; a proposal cut short by the budget is never taught.
"""

from __future__ import annotations

import contextlib
import math
import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from tunegym.agents.base import Action, BaseAgent, Feedback
from tunegym.agents.wrapping import WrappingAgent
from tunegym.space import cache_key
from tunegym.values import is_finite_number


def aggregate(group: Sequence[Feedback]) -> Feedback:
    """One feedback for the repeats of an action: the mean over its successful repeats.

    ``reward`` is the mean reward and ``observation`` the per-metric mean over the repeats
    that succeeded; ``status`` is ``ok`` (``cached`` when every one was a cache hit). When
    none succeeded, the last repeat's feedback is used. ``env_params`` are the repeats'
    when they all agree, else ``{}``; ``samples`` holds every repeat.
    """
    if not group:
        raise ValueError("aggregate needs at least one feedback")
    samples = tuple(group)
    good = [f for f in group if f.succeeded and is_finite_number(f.reward)]
    if not good:
        return replace(group[-1], samples=samples)
    metrics: list[str] = []
    for f in good:
        metrics.extend(m for m in f.observation if m not in metrics)
    observation: dict[str, float] = {}
    for m in metrics:
        values = [float(f.observation[m]) for f in good if is_finite_number(f.observation.get(m))]
        observation[m] = statistics.fmean(values) if values else math.nan
    first = group[0]
    same_context = all(dict(f.env_params) == dict(first.env_params) for f in group)
    all_cached = all(f.cached for f in good)
    return replace(
        first,
        env_params=dict(first.env_params) if same_context else {},
        observation=observation,
        reward=statistics.fmean(float(f.reward) for f in good),  # type: ignore[arg-type]
        status="cached" if all_cached else "ok",
        cached=all_cached,
        samples=samples,
    )


class RepeatingAgent(WrappingAgent):
    """Wraps ``agent`` so each of its proposals is measured ``repeats`` times and it is
    taught the mean (see the module docs), as Ray Tune's ``Repeater`` wraps a searcher.

    The wrapper is the agent the loop drives: its ``history`` holds every repeat (every
    trial); the wrapped agent, ``agent``, is taught one :func:`aggregate` per proposal
    through its ``update_policy``. Attributes the wrapper does not have (an agent's own
    state, such as the optuna agent's ``study``) are read from the wrapped agent.
    """

    def __init__(self, agent: BaseAgent, repeats: int) -> None:
        if repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {repeats}")
        self.agent = agent
        self.env = agent.env
        self.config = replace(agent.config, repeats=repeats)
        self.options = agent.options
        self.history = []
        self.k = repeats
        self.space = agent.env.action_space
        self.native_batches = type(agent).select_actions is not BaseAgent.select_actions
        self.queue: deque[Action] = deque()
        self.open: dict[str, deque[list[Feedback]]] = {}

    def _key(self, action: Mapping[str, Any]) -> str:
        with contextlib.suppress(ValueError):  # the env will refuse it; keep a stable key
            action = self.space.canonicalize(action)
        return cache_key(action, {})

    def _open(self, action: Action) -> None:
        self.open.setdefault(self._key(action), deque()).append([])

    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        if self.queue:
            return dict(self.queue.popleft())
        action = self.agent.select_action(observation)
        if action is None:
            return None
        self._open(action)
        self.queue.extend(dict(action) for _ in range(self.k - 1))
        return action

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[Action]:
        if not self.native_batches:
            return super().select_actions(n, observation)
        out: list[Action] = []
        while self.queue and len(out) < n:
            out.append(dict(self.queue.popleft()))
        if len(out) < n:
            fresh = self.agent.select_actions(math.ceil((n - len(out)) / self.k), observation)
            for action in fresh:
                self._open(action)
                for _ in range(self.k):
                    (out if len(out) < n else self.queue).append(dict(action))
        return out

    def update_policy(self, feedback: Feedback) -> None:
        key = cache_key(feedback.action, {})
        groups = self.open.get(key)
        if not groups:
            self.agent.update_policy(feedback)
            return
        group = groups[0]
        group.append(feedback)
        if len(group) >= self.k:
            groups.popleft()
            if not groups:
                del self.open[key]
            self.agent.update_policy(aggregate(group))
