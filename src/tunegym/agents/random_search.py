"""Random search: seeded; without replacement over finite spaces.

Actions the env knows to be infeasible (``env.infeasible``) are never proposed: a finite
space skips them, an infinite one draws again (up to ``MAX_DRAWS`` times, then stops:
``gave_up`` says why, and a job with no successful trial then fails).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tunegym.agents.base import Action, AgentConfig, BaseAgent, infeasible_draws_message
from tunegym.env.base import BaseGym

# Finite spaces up to this size are permuted up front; larger ones use a seen-set.
_PERMUTE_LIMIT = 1_000_000
# Draws of an infinite space before giving up on finding a feasible action.
MAX_DRAWS = 10_000


class RandomAgent(BaseAgent):
    name = "random"
    supports_env_params = True

    def __init__(self, env: BaseGym, config: AgentConfig) -> None:
        super().__init__(env, config)
        self.space = env.action_space
        self.rng = np.random.default_rng(config.seed)
        self.size = self.space.size
        self._order: list[int] | None = None
        self._seen: set[int] = set()
        if self.size is not None and self.size <= _PERMUTE_LIMIT:
            self._order = [int(i) for i in self.rng.permutation(self.size)]

    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        if self.size is None:
            for _ in range(MAX_DRAWS):
                action = self.space.sample(self.rng)
                if self.env.infeasible(action) is None:
                    return action
            self.gave_up = infeasible_draws_message(MAX_DRAWS)
            return None
        while (unseen := self._next_unseen()) is not None:
            if self.env.infeasible(unseen) is None:
                return unseen
        return None

    def _next_unseen(self) -> Action | None:
        assert self.size is not None
        if self._order is not None:
            return self.space.action_at(self._order.pop()) if self._order else None
        if len(self._seen) >= self.size:
            return None
        while True:
            index = int(self.rng.integers(self.size))
            if index not in self._seen:
                self._seen.add(index)
                return self.space.action_at(index)
