"""The ``auto`` agent (the default for a space with a range dimension): it picks the
search method that fits the job and runs it.

The method comes from :func:`tunegym.agents.auto_rule.choose` (space, budget, objectives,
noise; see that module for the rule and the measurements behind it): Optuna TPE, GP or
CMA-ES through the ``optuna`` agent, or Nevergrad's NGOpt (:mod:`tunegym.agents.ngopt`)
when ``nevergrad`` is installed. The choice is fixed before the first trial, so a
resumed run makes it again and continues exactly; ``choice`` holds it (method and
reason), which ``tunegym verify`` prints and summary.json records as ``search``.

``[agent.config]`` of ``auto``: ``noisy`` (default: results vary when the env draws env
params or a workload runs with ``cache = false``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from tunegym.agents.auto_rule import AutoChoice, choose
from tunegym.agents.base import Action, AgentConfig, BaseAgent, Feedback
from tunegym.env.base import BaseGym


class AutoOptions(BaseModel):
    """``[agent.config]`` of the ``auto`` agent."""

    model_config = ConfigDict(extra="forbid")

    noisy: bool | None = None
    """Whether a repeated measurement can differ (default: env params or cache off)."""


def results_vary(env: BaseGym) -> bool:
    """Whether measuring an action again may give another result: the env draws env
    params, or it is a workload run with ``cache = false`` (the user says results vary)."""
    from tunegym.env.workload import WorkloadEnv

    if env.env_param_dims:
        return True
    return isinstance(env, WorkloadEnv) and not env.settings.cache


class AutoAgent(BaseAgent):
    """Chooses a method for the job (see module docs) and delegates every call to it."""

    name = "auto"
    supports_env_params = True
    supports_warm_start = True
    supports_multi_objective = True
    Config = AutoOptions

    def __init__(self, env: BaseGym, config: AgentConfig) -> None:
        super().__init__(env, config)
        assert isinstance(self.options, AutoOptions)
        noisy = self.options.noisy if self.options.noisy is not None else results_vary(env)
        self.choice: AutoChoice = choose(
            env.action_space,
            config.max_steps,
            n_objectives=len(config.objectives or ()),
            deterministic=not noisy,
        )
        self.delegate = self._build(env, config)

    def _build(self, env: BaseGym, config: AgentConfig) -> BaseAgent:
        if self.choice.method == "ngopt":
            from tunegym.agents.ngopt import NGOptAgent

            return NGOptAgent(env, AgentConfig(config.max_steps, config.seed, {}, config.parallel))
        from tunegym.agents.optuna import OptunaAgent, OptunaOptions

        options = OptunaOptions(sampler=self.choice.method)
        return OptunaAgent(
            env,
            AgentConfig(
                config.max_steps,
                config.seed,
                options,
                config.parallel,
                objectives=config.objectives,
                folder=config.folder,
                base_dir=config.base_dir,
            ),
        )

    def explain(self) -> dict[str, Any]:
        """What ``auto`` chose and why (summary.json ``search``)."""
        return {"agent": self.name, **self.choice.as_dict()}

    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        return self.delegate.select_action(observation)

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[Action]:
        return self.delegate.select_actions(n, observation)

    def update_policy(self, feedback: Feedback) -> None:
        self.delegate.update_policy(feedback)

    def warm_start(self, feedback: Sequence[Feedback]) -> int:
        return self.delegate.warm_start(feedback)


__all__ = ["AutoAgent", "AutoOptions", "results_vary"]
