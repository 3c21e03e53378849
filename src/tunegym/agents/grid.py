"""Grid search: every action of a finite space, in order, up to ``max_steps``.

Actions the env knows to be infeasible (``env.infeasible``: a constraint over the action
and fixed values does not hold) are skipped, so no trial is spent on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from tunegym.agents.base import Action, AgentConfig, BaseAgent, no_feasible_action_message
from tunegym.env.base import BaseGym
from tunegym.space import random_index


class GridOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: Literal["first", "random"] = "first"
    """``first`` walks the grid from its first action; ``random`` from a seeded offset."""


class GridAgent(BaseAgent):
    name = "grid"
    supports_env_params = True
    requires_finite_space = True
    Config = GridOptions

    def __init__(self, env: BaseGym, config: AgentConfig) -> None:
        super().__init__(env, config)
        self.space = env.action_space
        size = self.space.size
        if size is None:
            raise ValueError("grid search needs a finite space")
        self.size = size
        self.offset = 0
        if self.options.start == "random" and size:
            self.offset = random_index(np.random.default_rng(config.seed), size)
        self.position = 0
        self._proposed = False

    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        while self.position < self.size:
            action = self.space.action_at((self.offset + self.position) % self.size)
            self.position += 1
            if self.env.infeasible(action) is None:
                self._proposed = True
                return action
        if not self._proposed and self.size:
            self.gave_up = no_feasible_action_message(self.size)
        return None
