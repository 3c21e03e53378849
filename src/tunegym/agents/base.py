"""``BaseAgent``: the contract every agent implements.

An agent is a policy: it proposes actions (``select_action``, or a batch with
``select_actions``) and learns from each trial's feedback (``update_policy``; ``learn``
also keeps it in ``history``). ``run()`` is the public, overridable entry point: by
default it hands the agent to the shared trial loop (:class:`tunegym.loop.TrialLoop`:
sequential, parallel and resume replay), which drives the env for at most
``max_steps`` trials; it returns an exit code: 0, or 1 for a recoverable failure (no
trial succeeded). An agent that owns its loop (``sb3``) overrides ``run`` and reuses the
loop's pieces (:meth:`trial_loop`). Exceptions are bugs: they propagate and stop the job.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError

from tunegym.budget import TimeBudget
from tunegym.errors import UsageError
from tunegym.limits import MAX_PARALLEL, MAX_STEPS, check_whole
from tunegym.loop import TrialLoop
from tunegym.trial.rows import Feedback
from tunegym.values import Action

if TYPE_CHECKING:
    from tunegym.env.base import BaseGym

__all__ = ["Action", "AgentConfig", "BaseAgent", "Feedback", "NoOptions"]

MAX_AGENT_SEED = 2**32 - 1
"""A job's seed plus its iteration (``agent.seed`` is at most ``MAX_SEED``)."""


def _first_problem(error: ValidationError, raw: object, model: type[BaseModel]) -> str:
    """``sampler: unknown sampler 'nope'; ...`` for options that do not validate."""
    from tunegym.spec.errors import format_loc, problems_from_validation

    return "; ".join(
        f"{format_loc(p.loc)}: {p.message}" if p.loc else p.message
        for p in problems_from_validation(error, raw, model)
    )


class NoOptions(BaseModel):
    """``[agent.config]`` of an agent that takes no options."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class AgentConfig:
    """What every agent is built with: its budget, its seed and its validated options."""

    max_steps: int
    seed: int = 0
    options: BaseModel | Mapping[str, Any] = field(default_factory=dict)
    parallel: int = 1
    """Trials in flight at once (the env must be a ``TrialEnv`` that runs that many)."""
    repeats: int = 1
    """Measure each proposal this many times; ``update_policy`` gets the mean. Applied by
    :func:`tunegym.agents.registry.build_agent`, which wraps the agent in a
    :class:`~tunegym.agents.repeats.RepeatingAgent`."""
    min_draws: int = 1
    """With env params: re-measure promising actions until the best has this many draws
    (``[agent] min_draws``; applied by :func:`tunegym.agents.registry.build_agent`, which
    wraps the agent in a :class:`~tunegym.agents.remeasure.RemeasuringAgent`)."""
    earlier_budgets: tuple[int, ...] = ()
    """For a run extended by ``tunegym run --resume RUN_DIR --max-steps N``: the budgets
    it had before (oldest first). An agent whose proposals depend on the budget uses the
    one in force when each replayed trial was proposed, so the replay is exact."""
    objectives: tuple[str, ...] | None = None
    """``"max"``/``"min"`` per metric of ``env.observation_space``; two or more make the
    job multi-objective (for agents with ``supports_multi_objective``)."""
    folder: Path | None = None
    """Where the job iteration's files go (an agent's artefacts, such as a saved model)."""
    base_dir: Path | None = None
    """What relative paths in ``[agent.config]`` are relative to (the workload's folder)."""
    time_budget: TimeBudget | None = None
    """A wall-clock budget for the job (``agent.budget_s``, ``--budget``): the trial loop
    starts no trial once it is spent."""

    def __post_init__(self) -> None:
        """Refuse a budget, seed or count that cannot work (:class:`UsageError` naming the
        field), as a workload's ``[agent]`` table would be refused."""
        check_whole("max_steps", self.max_steps, 1, MAX_STEPS)
        check_whole("seed", self.seed, 0, MAX_AGENT_SEED)
        check_whole("parallel", self.parallel, 1, MAX_PARALLEL)
        check_whole("repeats", self.repeats, 1, MAX_STEPS)
        check_whole("min_draws", self.min_draws, 1, MAX_STEPS)
        if self.objectives is not None and (
            isinstance(self.objectives, str)
            or any(o not in ("max", "min") for o in self.objectives)
        ):
            raise UsageError(
                f'objectives must be "max" or "min" per metric, got {self.objectives!r}'
            )


def no_feasible_action_message(size: int) -> str:
    """The :attr:`BaseAgent.gave_up` reason of an agent that went through a finite space
    of ``size`` actions and found none that meets the workload's constraints."""
    return (
        f"stopped: none of the {size} actions of the space meets the workload's "
        "constraints (check that they can hold in the space)"
    )


def infeasible_draws_message(draws: int) -> str:
    """The :attr:`BaseAgent.gave_up` reason of an agent whose ``draws`` candidates in a
    row all broke the workload's constraints."""
    return (
        f"stopped: {draws} candidate actions in a row broke the workload's constraints; "
        "no feasible action was found (check that the constraints can hold in the space)"
    )


class BaseAgent(ABC):
    """Base of all agents. Subclasses set ``name`` and may set ``Config`` (a pydantic model)."""

    name: ClassVar[str] = "base"
    supports_env_params: ClassVar[bool] = True
    requires_finite_space: ClassVar[bool] = False
    max_space_size: ClassVar[int | None] = None
    """The most actions the agent can handle (``None``: no limit), checked at load."""
    supports_warm_start: ClassVar[bool] = False
    """Whether :meth:`warm_start` learns an earlier run's trials."""
    supports_multi_objective: ClassVar[bool] = False
    """Whether the agent optimises several objectives (``AgentConfig.objectives``)."""
    trains_policy: ClassVar[bool] = False
    """Whether the agent trains or evaluates a policy (RL) rather than searching for one
    best action: its job's summary and report show reward statistics instead."""
    resumes_exactly: ClassVar[bool] = True
    """Whether a resumed run proposes exactly what the uninterrupted run would have (the
    agent's state is rebuilt by replaying its trials; the agent contract suite checks it)."""
    Config: ClassVar[type[BaseModel]] = NoOptions

    def __init__(self, env: BaseGym, config: AgentConfig) -> None:
        self.env = env
        self.config = config
        options = config.options
        if not isinstance(options, self.Config):
            raw = options.model_dump() if isinstance(options, BaseModel) else dict(options)
            try:
                options = self.Config.model_validate(raw)
            except ValidationError as exc:
                raise UsageError(
                    f"agent {self.name!r} options: {_first_problem(exc, raw, self.Config)}"
                ) from None
        self.options: Any = options
        self.history: list[Feedback] = []
        self.gave_up: str | None = None
        """Why the agent stopped proposing before its budget when it found no feasible
        action to propose (its job says so; with no successful trial, the job failed)."""

    @classmethod
    def space_problems(
        cls, options: BaseModel, workload: Any
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems of validated ``options`` on an offline workload's search space (checked
        when the spec is loaded, so ``tunegym verify`` reports them); field paths under
        ``[agent]``. ``workload`` is the validated :class:`~tunegym.spec.models.WorkloadSpec`."""
        return []

    @classmethod
    def learns(cls) -> bool:
        """Whether the agent learns from results (it overrides :meth:`update_policy`)."""
        return cls.update_policy is not BaseAgent.update_policy

    @classmethod
    def config_problems(
        cls, options: BaseModel, n_objectives: int
    ) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems of validated ``options`` for a job with ``n_objectives`` objectives.

        Checked when the spec is validated; each is ``(field path under [agent], message)``.
        """
        return []

    def warm_start(self, feedback: Sequence[Feedback]) -> int:
        """Learn an earlier run's trials before proposing anything; returns how many.

        Agents that can set ``supports_warm_start = True`` and override this.
        """
        raise NotImplementedError(f"agent {self.name!r} does not learn from earlier runs")

    @abstractmethod
    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        """The next action to try, or ``None`` to stop early."""

    def update_policy(self, feedback: Feedback) -> None:  # noqa: B027 - optional hook
        """Learn from one finished trial. The default only keeps history."""

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[Action]:
        """Up to ``n`` actions to run at once; none to stop. Fewer is a smaller batch:
        the loop asks again when a trial finishes.

        The default asks :meth:`select_action` repeatedly; agents that can propose a
        diverse batch (e.g. with a constant liar) override it.
        """
        actions: list[Action] = []
        for _ in range(n):
            action = self.select_action(observation)
            if action is None:
                break
            actions.append(action)
        return actions

    def learn(self, feedback: Feedback) -> None:
        """Keep ``feedback`` in ``history`` and teach it to the policy (``update_policy``)."""
        self.history.append(feedback)
        self.update_policy(feedback)

    def run(self) -> int:
        """Drive the env through the shared trial loop; see the module docstring."""
        self.trial_loop().run()
        return self.exit_code()

    def trial_loop(self) -> TrialLoop:
        """The shared loop over this agent's env, budget, parallelism and seed."""
        return TrialLoop(
            self.env,
            self,
            self.config.max_steps,
            self.config.parallel,
            self.config.seed,
            self.config.time_budget,
        )

    def exit_code(self) -> int:
        """1 when trials ran and none succeeded (a recoverable failure), or when the time
        budget ended the job before any trial ran (it measured nothing), else 0."""
        if not self.history:
            budget = self.config.time_budget
            return 1 if budget is not None and budget.ended_job else 0
        return 0 if any(f.succeeded for f in self.history) else 1
