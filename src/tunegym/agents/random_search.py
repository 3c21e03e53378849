"""Random search: seeded; without replacement over finite spaces.

Each dimension is drawn from its declared distribution: a list or a plain range uniformly,
a range with ``log = true`` log-uniformly (as Optuna's ``RandomSampler`` does). A finite
space without a log range is walked in a random order (a permutation of its actions); one
with a log range draws action after action, drawing again when it lands on an action
already proposed, and once ``_REJECT_LIMIT`` draws in a row land on such actions (near
exhaustion) walks the ones left in a random order. Either way, no action is proposed
twice until the space is exhausted, and then the agent stops.

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
from tunegym.space import Continuous, SearchSpace, random_index

# Finite spaces up to this size are permuted up front; larger ones use a seen-set.
_PERMUTE_LIMIT = 1_000_000
# Draws of an infinite space before giving up on finding a feasible action.
MAX_DRAWS = 10_000
# Draws in a row of a finite space with a log range that land on actions already seen
# before the agent stops drawing from the distribution: a space up to _PERMUTE_LIMIT then
# walks its remaining actions in a random order; a larger one draws that action uniformly.
_REJECT_LIMIT = 100


def has_log_range(space: SearchSpace) -> bool:
    """Whether some dimension of ``space`` is a range with ``log = true``."""
    return any(isinstance(d, Continuous) and d.log for d in space.dimensions.values())


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
        # A finite space with a log range is sampled (log-uniformly), not permuted.
        self._sampled = self.size is not None and has_log_range(self.space)
        if self.size is not None and self.size <= _PERMUTE_LIMIT and not self._sampled:
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
            if self.size > _PERMUTE_LIMIT and refused >= MAX_DRAWS:  # too large to walk
                self.gave_up = infeasible_draws_message(MAX_DRAWS)
                return None
        if not self._proposed and self.size:
            self.gave_up = no_feasible_action_message(self.size)
        return None

    def _next_unseen(self) -> Action | None:
        """An action of the finite space not returned before, or ``None`` when none is left."""
        assert self.size is not None
        if self._order is not None:
            return self.space.action_at(self._order.pop()) if self._order else None
        if len(self._seen) >= self.size:
            return None
        if self._sampled:
            for _ in range(_REJECT_LIMIT):
                index = self.space.index_of(self.space.sample(self.rng))
                if index not in self._seen:
                    self._seen.add(index)
                    return self.space.action_at(index)
            if self.size <= _PERMUTE_LIMIT:  # near exhaustion: walk what is left
                order = self.rng.permutation(self.size)
                self._order = [int(i) for i in order if int(i) not in self._seen]
                return self.space.action_at(self._order.pop())
        while True:
            index = random_index(self.rng, self.size)
            if index not in self._seen:
                self._seen.add(index)
                return self.space.action_at(index)
