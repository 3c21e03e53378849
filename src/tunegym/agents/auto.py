"""The ``auto`` agent (the default for a space with a range dimension): it picks the
search method that fits the job and runs it.

The method comes from :func:`tunegym.agents.auto_rule.choose` (space, budget, objectives,
noise; see that module for the rule and the measurements behind it): Nevergrad's NGOpt
(:mod:`tunegym.agents.ngopt`) for ranges with one objective when ``nevergrad`` is
installed, else Optuna's GP through the ``optuna`` agent, handing over to TPE on the same
study after ``GP_TRIALS`` proposals (a portfolio sharing one history). The plan is fixed
before the first trial and the hand-over counts proposals, so a resumed run (whose replay
proposes again for every recorded step) makes the same choices and continues exactly.
``choice`` holds the plan and its reason, which ``tunegym verify`` prints and
summary.json records as ``search``.

``[agent.config]`` of ``auto``: ``noisy`` (default: results vary when the env draws env
params or a workload runs with ``cache = false``).
"""

from __future__ import annotations

import warnings
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
        self.proposed = 0

    def _build(self, env: BaseGym, config: AgentConfig) -> BaseAgent:
        if self.choice.method == "ngopt":
            from tunegym.agents.ngopt import NGOptAgent

            return NGOptAgent(env, AgentConfig(config.max_steps, config.seed, {}, config.parallel))
        # GP only proposes here (its first trials); TPE, which takes over, is seeded alike.
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

    def _hand_over(self) -> None:
        """Give the study to the next method (TPE) once its first method had its trials."""
        from optuna.samplers import TPESampler

        from tunegym.agents.optuna import OptunaAgent

        assert isinstance(self.delegate, OptunaAgent) and self.choice.then == "tpe"
        with warnings.catch_warnings():  # constant_liar is an experimental Optuna feature
            warnings.simplefilter("ignore")
            tpe = TPESampler(seed=self.config.seed, constant_liar=True)
        self.delegate.study.sampler = tpe

    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        if self.choice.switch_after is not None and self.proposed == self.choice.switch_after:
            self._hand_over()
        self.proposed += 1
        return self.delegate.select_action(observation)

    def update_policy(self, feedback: Feedback) -> None:
        self.delegate.update_policy(feedback)

    def warm_start(self, feedback: Sequence[Feedback]) -> int:
        return self.delegate.warm_start(feedback)


__all__ = ["AutoAgent", "AutoOptions", "results_vary"]
