"""The ``optuna`` agent: Bayesian and evolutionary search through Optuna's ask/tell interface.

Samplers (``[agent.config] sampler = ...``):

========  ===========================================  ===================  ==============
name      Optuna sampler                               objectives           needs
========  ===========================================  ===================  ==============
tpe       ``TPESampler`` (default; constant liar on)   one or several       -
gp        ``GPSampler`` (Gaussian process, logEI)      one or several       scipy, torch
cmaes     ``CmaEsSampler`` (categoricals: random)      one                  cmaes
qmc       ``QMCSampler`` (scrambled Sobol)             one or several       scipy
random    ``RandomSampler``                            one or several       -
nsga2     ``NSGAIISampler``                            several              -
========  ===========================================  ===================  ==============

Contracts:

* Each dimension maps to one Optuna distribution: an int range to ``IntDistribution``
  (bounds and ``log`` honoured), a float range to ``FloatDistribution``, a categorical to a
  ``CategoricalDistribution`` over candidate *indices*, so a candidate comes back verbatim
  with its type (``True`` stays apart from ``1``).
* What the sampler is told comes from the trial's row (its feedback), so cache hits teach
  it too. A single objective is the row's reward, maximised. With ``objectives`` (two or
  more), the values are the observation's metrics in ``env.observation_space`` order,
  with those directions. A failed trial is told as the worst successful value seen so far
  (so it reads as bad without wrecking the sampler's scale), or as ``FAIL`` before any
  success.
* A seeded agent gives the same trial sequence on the same results.
* ``skip_known`` (default: on when the env would answer a repeated action from its cache,
  i.e. a cached ``WorkloadEnv`` without env params): a proposal of an action already
  measured is told ``FAIL`` (no new information) and Optuna is asked again, so no trial
  is spent on a cache hit; a finite space that is fully measured ends the search early.
* Constraints: a proposal the env knows to be infeasible (``env.infeasible``: a
  constraint over the action and fixed values breaks) is never returned. It is told to
  the study as infeasible (Optuna's trial constraints, ``Trial.set_constraint``, which
  replaced ``constraints_func``; TPE, GP and NSGA-II learn the feasible region from them)
  with the worst value seen, and Optuna is asked again. A ``constraint_failed`` row that
  still arrives (a constraint over env params) is told the same way, so the sampler
  learns from it. Without constraints the study is unconstrained, as Optuna's own.
* Feedback for an action the agent did not propose (a resumed run's replay, a warm start)
  is added to the study as a finished trial.
* Conditional params (``[when]``) are sampled define-by-run: a trial suggests a
  dimension only when its condition holds for the values suggested before it, so an
  inactive param is in neither the trial's params nor the action.
* A ``pruned`` trial (``[agent.pruner]``) is told ``PRUNED`` with its curve as
  intermediate values (negated when the watched metric is minimised), the way Optuna's
  own pruned trials reach TPE.
* ``optuna`` is imported when the agent is built, never at ``import tunegym``.
"""

from __future__ import annotations

import importlib.util
import logging
import math
import warnings
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunegym.agents.base import (
    Action,
    AgentConfig,
    BaseAgent,
    Feedback,
    infeasible_draws_message,
    no_feasible_action_message,
)
from tunegym.env.base import BaseGym
from tunegym.space import Categorical, SearchSpace, cache_key

if TYPE_CHECKING:
    import optuna

#: sampler name -> (modules it needs besides optuna, supports one objective, supports several)
SAMPLERS: dict[str, tuple[tuple[str, ...], bool, bool]] = {
    "tpe": ((), True, True),
    "gp": (("scipy", "torch"), True, True),
    "cmaes": (("cmaes",), True, False),
    "qmc": (("scipy",), True, True),
    "random": ((), True, True),
    "nsga2": ((), False, True),
}
# A proposal of an already measured action is re-asked at most this many times, then an
# unmeasured action is drawn at random instead.
_MAX_REASKS = 16


class OptunaOptions(BaseModel):
    """``[agent.config]`` of the ``optuna`` agent."""

    model_config = ConfigDict(extra="forbid")

    sampler: str = "tpe"
    """tpe | gp | cmaes | qmc | random | nsga2 (several objectives)."""
    n_startup_trials: int | None = Field(default=None, ge=0)
    """Random trials before the model is used (tpe, gp, cmaes); default: Optuna's."""
    population_size: int | None = Field(default=None, ge=2)
    """nsga2: individuals per generation; default: max_steps // 4, clamped to [4, 50]."""
    constant_liar: bool = True
    """tpe: treat trials in flight as bad, so parallel proposals spread out."""
    skip_known: bool | None = None
    """Re-ask instead of proposing an already measured action (default: when cached)."""
    deterministic_objective: bool = False
    """gp: model the objective as noise-free. Off by default, as in Optuna, wherever the
    job runs (in process or from the command line): on BBOB, on is worse
    (``benchmarks/RESULTS.md``)."""

    @field_validator("sampler")
    @classmethod
    def _known_sampler(cls, value: str) -> str:
        name = value.strip().lower()
        if name not in SAMPLERS:
            raise ValueError(f"unknown sampler {value!r}; known samplers: {', '.join(SAMPLERS)}")
        return name


def missing_modules(sampler: str) -> list[str]:
    """Modules ``sampler`` needs that are not installed (found without importing them)."""
    return [m for m in SAMPLERS[sampler][0] if importlib.util.find_spec(m) is None]


def sampler_problems(
    options: OptunaOptions, n_objectives: int
) -> list[tuple[tuple[str, ...], str]]:
    """Why ``options`` cannot work for a job with ``n_objectives`` (empty: it can).

    Each problem is ``(field path under [agent], message)``.
    """
    problems: list[tuple[tuple[str, ...], str]] = []
    name = options.sampler
    _, single, several = SAMPLERS[name]
    if n_objectives > 1 and not several:
        problems.append(
            (
                ("config", "sampler"),
                f"sampler {name!r} optimises a single objective, but the job has "
                f"{n_objectives} objectives; use 'tpe', 'nsga2', 'gp', 'qmc' or 'random'",
            )
        )
    if n_objectives <= 1 and not single:
        problems.append(
            (
                ("config", "sampler"),
                f"sampler {name!r} needs several objectives (agent.metrics with "
                f'agent.objectives = ["max", "min", ...]); for one objective use \'tpe\'',
            )
        )
    missing = missing_modules(name)
    if missing:
        problems.append(
            (
                ("config", "sampler"),
                f"sampler {name!r} needs {', '.join(missing)}, which is not installed "
                f"(pip install {' '.join(missing)})",
            )
        )
    return problems


def distributions_for(space: SearchSpace) -> dict[str, Any]:
    """One Optuna distribution per dimension (categoricals over candidate indices)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, Any] = {}
    for name, dim in space.dimensions.items():
        if isinstance(dim, Categorical):
            out[name] = CategoricalDistribution(list(range(dim.size)))
        elif dim.dtype == "int":
            out[name] = IntDistribution(int(dim.low), int(dim.high), log=dim.log)
        else:
            out[name] = FloatDistribution(float(dim.low), float(dim.high), log=dim.log)
    return out


def to_action(space: SearchSpace, params: Mapping[str, Any]) -> Action:
    """The canonical action of Optuna ``params`` (categorical indices become candidates;
    an inactive conditional param is absent from both)."""
    action: Action = {}
    for name, dim in space.dimensions.items():
        if name not in params:
            continue
        value = params[name]
        if isinstance(dim, Categorical):
            action[name] = dim.values[int(value)]
        elif dim.dtype == "int":
            action[name] = int(value)
        else:
            action[name] = min(max(float(value), dim.low), dim.high)
    return space.canonicalize(action)


def to_params(space: SearchSpace, action: Mapping[str, Any]) -> dict[str, Any]:
    """Optuna ``params`` of a canonical action (inverse of :func:`to_action`)."""
    params: dict[str, Any] = {}
    for name, dim in space.dimensions.items():
        if name not in action:
            continue
        value = action[name]
        params[name] = dim.index(value) if isinstance(dim, Categorical) else value
    return params


def env_caches_repeats(env: BaseGym) -> bool:
    """Whether a repeated action would be answered from the env's cache (no new information).

    True when the env caches results (``env.caches_results``) and draws no env params
    (which make each repeat a new measurement).
    """
    return env.caches_results and not env.next_env_params()


@contextmanager
def _quiet() -> Iterator[None]:
    """Silence Optuna's per-trial INFO lines and its experimental-feature warnings."""
    import optuna

    logger = logging.getLogger("optuna")
    level = logger.level
    if logger.getEffectiveLevel() < logging.WARNING:  # never make a quieter setup louder
        optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            yield
        finally:
            logger.setLevel(level)


def build_sampler(options: OptunaOptions, seed: int, max_steps: int) -> optuna.samplers.BaseSampler:
    """The seeded Optuna sampler named by ``options.sampler``; it depends on the options,
    seed and budget only, never on the env (so a job samples alike in process and from
    the command line)."""
    from optuna import samplers

    name = options.sampler
    startup: dict[str, Any] = (
        {} if options.n_startup_trials is None else {"n_startup_trials": options.n_startup_trials}
    )
    if name == "tpe":
        return samplers.TPESampler(seed=seed, constant_liar=options.constant_liar, **startup)
    if name == "gp":
        return samplers.GPSampler(
            seed=seed,
            deterministic_objective=options.deterministic_objective,
            warn_independent_sampling=False,
            **startup,
        )
    if name == "cmaes":
        return samplers.CmaEsSampler(
            seed=seed,
            warn_independent_sampling=False,
            independent_sampler=samplers.RandomSampler(seed=seed),
            **startup,
        )
    if name == "qmc":
        return samplers.QMCSampler(
            seed=seed,
            scramble=True,
            warn_independent_sampling=False,
            warn_asynchronous_seeding=False,
        )
    if name == "random":
        return samplers.RandomSampler(seed=seed)
    population = options.population_size or max(4, min(50, max_steps // 4))
    return samplers.NSGAIISampler(seed=seed, population_size=population)


def _suggest(trial: Any, name: str, distribution: Any) -> Any:
    """Suggest ``name`` from ``distribution`` through Optuna's public define-by-run API."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, list(distribution.choices))
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high, log=distribution.log)
    return trial.suggest_float(name, distribution.low, distribution.high, log=distribution.log)


def _key(action: Mapping[str, Any]) -> str:
    return cache_key(action, {})


#: The one constraint tunegym gives Optuna trials: > 0 infeasible, 0 feasible.
_CONSTRAINT = "tunegym_constraints"
_CONSTRAINT_ATTR = f"constraints:{_CONSTRAINT}"


def _set_infeasible(trial: Any, infeasible: bool) -> None:
    """Record a trial's feasibility as an Optuna constraint value (before it is told)."""
    value = 1.0 if infeasible else 0.0
    if hasattr(trial, "set_constraint"):  # optuna >= 5
        trial.set_constraint(_CONSTRAINT, value)
    else:  # the list format that optuna 4 reads
        trial.storage.set_trial_system_attr(trial._trial_id, "constraints", [value])


def _constraint_attrs(infeasible: bool) -> dict[str, Any]:
    """System attrs of an added trial with the same constraint :func:`_set_infeasible` sets."""
    from optuna.trial import Trial

    value = 1.0 if infeasible else 0.0
    return (
        {_CONSTRAINT_ATTR: value} if hasattr(Trial, "set_constraint") else {"constraints": [value]}
    )


class OptunaAgent(BaseAgent):
    """Proposes actions with an Optuna sampler; learns from every row (see module docs)."""

    name = "optuna"
    supports_env_params = True
    supports_warm_start = True
    supports_multi_objective = True
    Config = OptunaOptions

    def __init__(self, env: BaseGym, config: AgentConfig) -> None:
        super().__init__(env, config)
        import optuna

        self.space = env.action_space
        directions = tuple(config.objectives or ())
        if len(directions) == 1:
            raise ValueError(
                "one objective: use the reward instead (identity maximises, negative minimises)"
            )
        self.multi = len(directions) > 1
        self.metrics = list(env.observation_space)
        if self.multi and len(directions) != len(self.metrics):
            raise ValueError(
                f"{len(directions)} objectives for {len(self.metrics)} metrics "
                f"({', '.join(self.metrics)}); give one direction per metric"
            )
        self.directions: tuple[str, ...] = directions if self.multi else ("max",)
        problems = sampler_problems(self.options, len(directions))
        if problems:
            raise ValueError("; ".join(message for _, message in problems))
        caches = env_caches_repeats(env)
        self.skip_known = caches if self.options.skip_known is None else self.options.skip_known
        self.distributions = distributions_for(self.space)
        self.rng = np.random.default_rng(config.seed)
        with _quiet():
            # An extended run keeps the first budget's sampler (nsga2's population size).
            first_budget = (config.earlier_budgets or (config.max_steps,))[0]
            sampler = build_sampler(self.options, config.seed, first_budget)
            self.study = optuna.create_study(
                sampler=sampler,
                directions=["maximize" if d == "max" else "minimize" for d in self.directions],
            )
        self._pending: dict[str, deque[Any]] = {}
        self._known: set[str] = set()
        self._infeasible: set[str] = set()
        self._worst: list[float] | None = None
        self.constrained = env.has_constraints
        """Whether trials carry a feasibility constraint (the env has constraints)."""

    # -- proposing -----------------------------------------------------------------------
    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        from optuna.trial import TrialState

        with _quiet():
            for _ in range(_MAX_REASKS):
                trial = self._ask()
                action = to_action(self.space, trial.params)
                key = _key(action)
                if self._known_infeasible(key, action):
                    self._tell_infeasible(trial)
                    continue
                if not (self.skip_known and (key in self._known or self._pending.get(key))):
                    self._pending.setdefault(key, deque()).append(trial)
                    return action
                # A measured (or in-flight) action would be a cache hit: it teaches nothing.
                self.study.tell(trial, state=TrialState.FAIL)
            unmeasured = self._unmeasured_action()
            if unmeasured is None:
                return None
            action = unmeasured
            self.study.enqueue_trial(to_params(self.space, action))
            trial = self._ask()
            self._pending.setdefault(_key(action), deque()).append(trial)
            return action

    def _ask(self) -> Any:
        """A new Optuna trial with a value for every active dimension. A conditional
        space is sampled define-by-run: each dimension is suggested only when its
        condition holds for the values suggested before it."""
        if not self.space.is_conditional:
            return self.study.ask(self.distributions)
        trial = self.study.ask()
        chosen: dict[str, Any] = {}
        for name, dim in self.space.dimensions.items():
            if not self.space.is_active(name, chosen):
                continue
            value = _suggest(trial, name, self.distributions[name])
            chosen[name] = dim.values[int(value)] if isinstance(dim, Categorical) else value
        return trial

    def _known_infeasible(self, key: str, action: Action) -> bool:
        """Whether the env refuses ``action`` before running it (remembered per key)."""
        if key in self._infeasible:
            return True
        if self.constrained and self.env.infeasible(action) is not None:
            self._infeasible.add(key)
            return True
        return False

    def _tell_infeasible(self, trial: Any) -> None:
        """Tell an infeasible proposal: violated constraint, worst value seen (or FAIL)."""
        from optuna.trial import TrialState

        _set_infeasible(trial, True)
        if self._worst is None:
            self.study.tell(trial, state=TrialState.FAIL)
        else:
            self.study.tell(trial, self._worst if self.multi else self._worst[0])

    def _unmeasured_action(self) -> Action | None:
        """A random feasible action neither measured nor in flight; ``None`` when none is
        left (or none feasible is found)."""
        size = self.space.size
        taken = self._known | self._infeasible
        taken |= {key for key, queue in self._pending.items() if queue}
        if size is not None and len(taken) >= size:
            return None
        for _ in range(1000):
            action = self.space.canonicalize(self.space.sample(self.rng))
            key = _key(action)
            if key not in taken and not self._known_infeasible(key, action):
                return action
        if size is not None:
            for action in self.space.grid():
                key = _key(action)
                if key not in taken and not self._known_infeasible(key, action):
                    return action
            if not self._known and not any(self._pending.values()):
                self.gave_up = no_feasible_action_message(size)
            return None
        for _ in range(1000):
            action = self.space.canonicalize(self.space.sample(self.rng))
            if not self._known_infeasible(_key(action), action):
                return action
        self.gave_up = infeasible_draws_message(1000)
        return None

    # -- learning ------------------------------------------------------------------------
    def _values(self, feedback: Feedback) -> list[float] | None:
        """What to tell for ``feedback``; ``None`` means FAIL (nothing to compare to yet)."""
        values: list[float] | None = None
        if feedback.succeeded:
            if self.multi:
                raw = [feedback.observation.get(m) for m in self.metrics]
                if all(isinstance(v, int | float) and math.isfinite(v) for v in raw):
                    values = [float(v) for v in raw]  # type: ignore[arg-type]
            elif feedback.reward is not None and math.isfinite(feedback.reward):
                values = [float(feedback.reward)]
        if values is not None:
            self._note_worst(values)
            return values
        return list(self._worst) if self._worst is not None else None

    def _note_worst(self, values: Sequence[float]) -> None:
        if self._worst is None:
            self._worst = list(values)
            return
        self._worst = [
            min(w, v) if d == "max" else max(w, v)
            for w, v, d in zip(self._worst, values, self.directions, strict=True)
        ]

    def update_policy(self, feedback: Feedback) -> None:
        """Tell the sampler the result of ``feedback`` (a proposal, or an outside trial)."""
        from optuna.trial import TrialState

        key = _key(feedback.action)
        if feedback.status == "pruned":
            self._tell_pruned(feedback, key)
            return
        values = self._values(feedback)
        queue = self._pending.get(key)
        broken = feedback.status == "constraint_failed"
        with _quiet():
            if queue:
                trial = queue.popleft()
                if self.constrained:
                    _set_infeasible(trial, broken)
                if values is None:
                    self.study.tell(trial, state=TrialState.FAIL)
                else:
                    self.study.tell(trial, values if self.multi else values[0])
            elif values is not None:
                self._add_finished(feedback.action, values, broken)
        self._known.add(key)

    def _tell_pruned(self, feedback: Feedback, key: str) -> None:
        """A pruned trial is told ``PRUNED`` with its intermediate values (oriented so
        that higher is better, as the study maximises), so TPE ranks it by how far it got
        and how it was doing, as Optuna's own pruned trials; never as a completed value."""
        import optuna
        from optuna.trial import TrialState

        sign = -1.0 if getattr(self.env, "progress_direction", None) == "min" else 1.0
        curve = {} if self.multi else {s: sign * v for s, v in feedback.curve}
        queue = self._pending.get(key)
        with _quiet():
            if queue:
                trial = queue.popleft()
                for step, value in curve.items():
                    trial.report(value, step)
                self.study.tell(trial, state=TrialState.PRUNED)
            else:
                self.study.add_trial(
                    optuna.trial.create_trial(
                        params=to_params(self.space, feedback.action),
                        distributions=self.distributions,
                        state=TrialState.PRUNED,
                        intermediate_values=curve,
                    )
                )
        self._known.add(key)

    def _add_finished(
        self, action: Mapping[str, Any], values: Sequence[float], infeasible: bool = False
    ) -> None:
        import optuna

        trial = optuna.trial.create_trial(
            params=(params := to_params(self.space, action)),
            distributions={name: self.distributions[name] for name in params},
            values=list(values),
            system_attrs=_constraint_attrs(infeasible) if self.constrained else None,
        )
        self.study.add_trial(trial)

    def warm_start(self, feedback: Sequence[Feedback]) -> int:
        """Learn earlier trials before proposing anything; returns how many were used.

        Feedback whose action does not fit this space is ignored.
        """
        used = 0
        for item in feedback:
            try:
                action = self.space.canonicalize(item.action)
            except ValueError:
                continue
            self.update_policy(replace(item, action=action))
            used += 1
        return used

    @classmethod
    def config_problems(
        cls, options: BaseModel, n_objectives: int
    ) -> list[tuple[tuple[str | int, ...], str]]:
        assert isinstance(options, OptunaOptions)
        return list(sampler_problems(options, n_objectives))


__all__ = [
    "SAMPLERS",
    "OptunaAgent",
    "OptunaOptions",
    "build_sampler",
    "distributions_for",
    "env_caches_repeats",
    "to_action",
    "to_params",
]
