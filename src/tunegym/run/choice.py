"""Which agent a job runs, with what budget, and why (one rule for ``run`` and ``verify``)."""

from __future__ import annotations

from tunegym.agents.auto_rule import AutoChoice, choose
from tunegym.agents.registry import default_agent_reason, default_max_steps
from tunegym.runners.registry import dispatches_whole_grid
from tunegym.space import SearchSpace
from tunegym.spec.loader import Job


def agent_choice(
    job: Job, space: SearchSpace, max_steps: int | None, runner: str | None = None
) -> tuple[str, int, str | None]:
    """``(agent type, budget, why)``; ``why`` says why the default rule chose the agent,
    and is ``None`` when the spec names it. ``runner`` overrides the job's runner."""
    agent = job.workload.agent
    budget = max_steps or agent.max_steps
    if agent.type is None and _whole_grid(job, runner):
        whole = space.size * agent.repeats if space.size else None
        size = budget or whole or default_max_steps(space, agent.repeats)
        return "grid", size, "slurm batch mode submits the whole grid as one job array"
    if agent.type is not None:
        return agent.type, budget or default_max_steps(space, agent.repeats), None
    agent_type, why = default_agent_reason(
        space,
        budget,
        warm_start=agent.warm_start is not None,
        deterministic=job.workload.cache and not job.workload.env_params,
    )
    return agent_type, budget or default_max_steps(space, agent.repeats), why


def auto_choice(job: Job, space: SearchSpace, budget: int) -> AutoChoice:
    """The method the ``auto`` agent will run for ``job`` (the rule it applies when built)."""
    agent = job.workload.agent
    noisy = agent.config.get("noisy") if isinstance(agent.config, dict) else None
    if not isinstance(noisy, bool):
        noisy = not job.workload.cache or bool(job.workload.env_params)
    return choose(space, budget, n_objectives=len(agent.objectives or ()), deterministic=not noisy)


def resolve_agent(job: Job, space: SearchSpace, max_steps: int | None) -> tuple[str, int]:
    """The agent type and step budget of a job (spec, CLI override, then defaults)."""
    agent_type, budget, _ = agent_choice(job, space, max_steps)
    return agent_type, budget


def _whole_grid(job: Job, runner: str | None) -> bool:
    """Whether the job's runner, as the spec names it, submits the whole grid at once."""
    return job.workload.mode == "offline" and dispatches_whole_grid(job.workload, runner)
