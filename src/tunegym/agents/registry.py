"""Agents by name, and the rule that picks one when ``agent.type`` is omitted.

Agents are plugins of the ``tunegym.agents`` entry-point group (see
:mod:`tunegym.plugins`); tunegym's own are registered in its ``pyproject.toml`` like
any third party's. Agent classes are imported only when used.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from tunegym import plugins

if TYPE_CHECKING:
    from tunegym.agents.base import AgentConfig, BaseAgent
    from tunegym.env.base import BaseGym
    from tunegym.space import SearchSpace

ENTRY_POINT_GROUP = plugins.AGENTS

# With no max_steps: every action of a finite space up to this many, else this many.
DEFAULT_MAX_STEPS = 100


def available_agents() -> dict[str, str]:
    """Agent name -> ``module:Class``, sorted by name; built-ins win over entry points."""
    return plugins.available(plugins.AGENTS)


def register_agent(name: str, target: str) -> None:
    """Register ``module:Class`` as agent ``name`` in this process (for Python users, tests)."""
    plugins.register(plugins.AGENTS, name, target)


def unregister_agent(name: str) -> None:
    plugins.unregister(plugins.AGENTS, name)


def load_agent(name: str) -> type[BaseAgent]:
    """Import the class of agent ``name``; ``SpecError`` lists the known names."""
    cls: type[BaseAgent] = plugins.load(plugins.AGENTS, name)
    return cls


def build_agent(cls: type[BaseAgent], env: BaseGym, config: AgentConfig) -> BaseAgent:
    """An agent of class ``cls``; with ``config.repeats > 1`` wrapped in a
    :class:`~tunegym.agents.repeats.RepeatingAgent` that measures each proposal that
    many times; with env params and ``config.min_draws > 1`` (and a single objective, an
    agent that searches rather than trains a policy) wrapped in a
    :class:`~tunegym.agents.remeasure.RemeasuringAgent` that re-measures promising
    actions until the robust best has its draws."""
    agent = cls(env, replace(config, repeats=1))
    if config.repeats > 1:
        from tunegym.agents.repeats import RepeatingAgent

        agent = RepeatingAgent(agent, config.repeats)
    dims = env.env_param_dims
    if config.min_draws > 1 and dims and not cls.trains_policy and not config.objectives:
        from tunegym.agents.remeasure import RemeasuringAgent
        from tunegym.env_params import required_draws

        required = required_draws(config.min_draws, dims)
        if required > config.repeats:
            agent = RemeasuringAgent(agent, required)
    return agent


def default_agent_reason(
    space: SearchSpace,
    max_steps: int | None,
    *,
    warm_start: bool = False,
    deterministic: bool = True,
) -> tuple[str, str]:
    """``(agent type, why)`` of the rule used when ``agent.type`` is omitted.

    ``grid`` when the space is categorical and fits in the budget (``max_steps``, or the
    default budget when it is ``None``), else ``auto`` (which picks its search method from
    the space, budget and noise: :mod:`tunegym.agents.auto_rule`).

    A grid measures each action once, so it "fits" only when one measurement is the
    answer: with ``deterministic = False`` (``cache = false`` or env params: results vary
    between measurements) or a warm start to learn from, the default is ``auto`` too.
    """
    size = space.size
    budget = max_steps if max_steps is not None else default_max_steps(space)
    if not space.is_categorical:
        return "auto", "the space has a range dimension"
    if size is None or size > budget:
        return "auto", f"{size} actions do not fit in max_steps {budget}"
    if not deterministic:
        return "auto", (
            "results vary between measurements (cache = false or env params), which one "
            "grid pass cannot average"
        )
    if warm_start:
        return "auto", "warm start needs an agent that learns"
    return "grid", f"categorical, all {size} actions fit in max_steps {budget}"


def default_max_steps(space: SearchSpace, repeats: int = 1) -> int:
    """The trial budget of a job without ``max_steps``: the space's size when it is at
    most :data:`DEFAULT_MAX_STEPS`, else that, times ``repeats`` (each repeat of an
    action is a trial: a grid of 3 actions with ``repeats = 4`` measured one action 3
    times)."""
    size = space.size
    base = size if size is not None and size <= DEFAULT_MAX_STEPS else DEFAULT_MAX_STEPS
    return base * repeats
