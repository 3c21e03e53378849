"""Random search: seeded; without replacement over finite spaces.

Actions the env knows to be infeasible (``env.infeasible``) are never proposed: a finite
space skips them, an infinite one (or a finite one too large to permute) draws again, up
to ``MAX_DRAWS`` times in a row, then stops: ``gave_up`` says why, and a job with no
successful trial then fails. So does a finite space none of whose actions is feasible.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tunegym.agents.base import (
    Action,
    AgentConfig,
    BaseAgent,
    infeasible_draws_message,
    no_feasible_action_message,
)
from tunegym.env.base import BaseGym
from tunegym.space import random_index

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
        self._proposed = False
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
        refused = 0
        while (unseen := self._next_unseen()) is not None:
            if self.env.infeasible(unseen) is None:
                self._proposed = True
                return unseen
            refused += 1
            if self._order is None and refused >= MAX_DRAWS:  # too large to walk through
                self.gave_up = infeasible_draws_message(MAX_DRAWS)
                return None
        if not self._proposed and self.size:
            self.gave_up = no_feasible_action_message(self.size)
        return None

    def _next_unseen(self) -> Action | None:
        assert self.size is not None
        if self._order is not None:
            return self.space.action_at(self._order.pop()) if self._order else None
        if len(self._seen) >= self.size:
            return None
        while True:
            index = random_index(self.rng, self.size)
            if index not in self._seen:
                self._seen.add(index)
                return self.space.action_at(index)
