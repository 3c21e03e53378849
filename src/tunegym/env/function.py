"""``FunctionEnv``: a ``TrialEnv`` over a Python function, for in-process tuning.

No subprocess, no files: each step calls ``objective(params)`` which returns a metric
dict (or a float, taken as the metric ``score``). Useful to tune Python code directly,
to test agents, and to benchmark search strategies on known landscapes. With
``parallel = n`` up to ``n`` objectives run at once, each in a thread of its own (the
objective must be thread-safe; one that sleeps, waits on I/O or runs NumPy releases the
GIL and gains from it).

With a ``pruner`` (a :class:`~tunegym.pruning.PruningStudy`), the objective reports its
intermediate values with :func:`tunegym.pruning.report` (``report(epoch, loss)``); when
the pruner stops the trial, that call raises :class:`~tunegym.pruning.TrialPruned` and
the trial is recorded ``pruned`` with its curve (without a pruner the points are still
kept as the row's curve).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from tunegym.env.base import Observation, PendingTrial, StepResult, TrialEnv
from tunegym.env.recording import full_observation, score_row
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.errors import UsageError
from tunegym.limits import MAX_PARALLEL, check_whole
from tunegym.pruning import PruningStudy, TrialPruned
from tunegym.pruning.reporting import Reporter, reporting
from tunegym.space import SearchSpace
from tunegym.spec.errors import show_value
from tunegym.trial.resume import ReplayItem
from tunegym.trial.rows import Feedback, TrialRow
from tunegym.trial.status import TrialStatus

Objective = Callable[[dict[str, Any]], "Mapping[str, float] | float"]


class FunctionEnv(TrialEnv):
    """Steps call ``objective``; the reward is ``reward_fn(observation)`` (default: first metric).

    Failing trials are data, scored like every other env's (:func:`score_row`): an
    objective that raises ``ValueError`` gives a ``failed`` row (its ``error`` the
    exception and its message), one that omits an
    observed metric or yields a non-finite reward a ``metric_missing`` row, both with
    reward ``penalty``; other exceptions propagate (from :meth:`complete`; in a parallel
    agent run, after every other trial that had finished is in ``history``). Nothing is
    stored, so there is nothing to resume: :meth:`resume` returns an empty plan.
    Arguments that cannot work (a space that is not a :class:`SearchSpace`, metric names
    given as one string, a NaN penalty) are a :class:`~tunegym.errors.UsageError`.
    """

    parallel_hint = "build it with FunctionEnv(..., parallel=N) to run N at once"

    def __init__(
        self,
        space: SearchSpace,
        objective: Objective,
        metrics: list[str] | None = None,
        env_params: EnvParams | None = None,
        reward_fn: Callable[[Mapping[str, float]], float] | None = None,
        penalty: float = -1.0e9,
        parallel: int = 1,
        pruner: PruningStudy | None = None,
    ) -> None:
        _check_arguments(space, objective, metrics, env_params, penalty, parallel)
        self._arguments: dict[str, Any] = {
            "space": space,
            "objective": objective,
            "metrics": metrics,
            "env_params": env_params,
            "reward_fn": reward_fn,
            "penalty": penalty,
            "parallel": parallel,
        }
        self.action_space = space
        self.objective = objective
        self.observation_space = list(metrics or ["score"])
        self.env_params = env_params or EnvParams(())
        self.reward_fn = reward_fn or (lambda obs: float(obs[self.observation_space[0]]))
        self.penalty = penalty
        self.parallel = parallel
        self.step_count = 0
        self.history: list[Feedback] = []
        self.executor = ThreadPoolExecutor(parallel, "tunegym-fn") if parallel > 1 else None
        self.pruner = pruner
        self.progress_direction = pruner.direction if pruner is not None else None
        self._reporters: dict[int, Reporter] = {}

    def remake(self) -> FunctionEnv:
        """A fresh env over the same objective and arguments (step 1, no history; a new
        pruning study with the same rule): what ``GymnasiumAdapter(env).spec.make()``
        builds, and so gymnasium's ``check_env``. A subclass whose constructor takes
        other arguments overrides it."""
        pruner = None if self.pruner is None else self.pruner.fresh()
        return type(self)(**self._arguments, pruner=pruner)

    def reset(
        self, seed: int | None = None, options: Mapping[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        self.check_open("reset")
        return full_observation({}, self.observation_space), {
            "step": self.step_count,
            "env_params": self.next_env_params(),
        }

    def next_env_params(self) -> dict[str, Any]:
        return self.env_params.sample(self.step_count + 1)

    @property
    def env_param_dims(self) -> tuple[EnvParamDim, ...]:
        return tuple(self.env_params.dims)

    @property
    def max_parallel(self) -> int:
        return self.parallel

    runs_in_flight_to_the_end = True  # an objective in a thread cannot be stopped

    def submit(self, action: Mapping[str, Any]) -> PendingTrial:
        self.check_open("step")
        action = self.action_space.canonicalize(action)
        self.step_count += 1
        return self._submit_at(self.step_count, action, self.env_params.sample(self.step_count))

    def resubmit(self, item: ReplayItem) -> PendingTrial:
        self.check_open("step")
        return self._submit_at(item.step, dict(item.action), dict(item.env_params))

    def resume(self) -> list[ReplayItem]:
        return []

    def _submit_at(
        self, step: int, action: dict[str, Any], env_params: dict[str, Any]
    ) -> PendingTrial:
        params = self.action_space.params(action, env_params)
        pending = PendingTrial(step, action, env_params, params)
        reporter = self._reporters[step] = Reporter(self._decider(step))
        if self.pruner is not None:
            self.pruner.start(step)

        def run(values: dict[str, Any]) -> Mapping[str, float] | float:
            with reporting(reporter):
                return self.objective(values)

        if self.executor is None:
            pending.future = _called(run, params)
        else:
            pending.future = self.executor.submit(run, params)
        return pending

    def _decider(self, step: int) -> Any:
        pruner = self.pruner
        if pruner is None:
            return None
        return lambda progress_step, value: pruner.report(step, progress_step, value)

    def complete(self, pending: PendingTrial) -> StepResult:
        assert pending.future is not None
        row = self._score(pending, pending.future)
        pending.row = row
        pending.completed = True
        feedback = Feedback.of(row, self.observation_space)
        self.history.append(feedback)
        reward = float(row.reward if row.reward is not None else self.penalty)
        info = {
            "step": row.step,
            "status": row.status,
            "error": row.error,
            "env_params": pending.env_params,
            "params": pending.params,
            "feedback": feedback,
            "cached": False,
        }
        return dict(feedback.observation), reward, False, info

    def _score(self, pending: PendingTrial, future: Future[Any]) -> TrialRow:
        reporter = self._reporters.pop(pending.step, None)
        curve = tuple(reporter.points) if reporter is not None else ()
        row = self._row(pending, future, curve)
        if self.pruner is not None:
            self.pruner.finish(pending.step, row.status, curve)
        return row

    def _row(
        self, pending: PendingTrial, future: Future[Any], curve: tuple[tuple[int, float], ...]
    ) -> TrialRow:
        base = TrialRow(
            pending.step, pending.action, pending.env_params, {}, None, TrialStatus.OK, curve=curve
        )
        try:
            result = future.result()
        except TrialPruned as exc:
            return replace(base, status=TrialStatus.PRUNED, reward=self.penalty, error=str(exc))
        except ValueError as exc:  # the objective's way to say "this trial failed"
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return replace(base, status=TrialStatus.FAILED, reward=self.penalty, error=error)
        try:
            found = (
                {k: float(v) for k, v in result.items()}
                if isinstance(result, Mapping)
                else {self.observation_space[0]: float(result)}
            )
        except (TypeError, ValueError, OverflowError):  # as Optuna: a failed trial, not a crash
            error = (
                f"the objective returned {show_value(result)}: expected a number or a "
                "mapping of metric names to numbers"
            )
            return replace(base, status=TrialStatus.FAILED, reward=self.penalty, error=error)
        return score_row(base, found, self.observation_space, self.reward_fn, self.penalty)

    @property
    def last_step(self) -> int:
        return self.step_count

    def release(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)


def _check_arguments(
    space: object,
    objective: object,
    metrics: object,
    env_params: object,
    penalty: object,
    parallel: object,
) -> None:
    """:class:`UsageError` naming the first argument of :class:`FunctionEnv` that cannot
    work (where a workload file's loader would refuse the same). An env param is drawn
    per trial and would override a searched or fixed value of the same name, so sharing
    a name is refused (a workload's sampled param is never searched)."""
    if not isinstance(space, SearchSpace):
        raise UsageError(f"space must be a SearchSpace, got {show_value(space)}")
    if env_params is not None:
        if not isinstance(env_params, EnvParams):
            raise UsageError(f"env_params must be an EnvParams, got {show_value(env_params)}")
        for kind, names in (("searched", space.dimensions), ("fixed", space.fixed)):
            overlap = set(env_params.names) & set(names)
            if overlap:
                raise UsageError(f"env_params names both sampled and {kind}: {sorted(overlap)}")
    if not callable(objective):
        raise UsageError(f"objective must be callable, got {show_value(objective)}")
    if metrics is not None:
        if isinstance(metrics, str | bytes) or not isinstance(metrics, list | tuple):
            raise UsageError(f"metrics must be a list of metric names, got {show_value(metrics)}")
        if not all(isinstance(m, str) and m for m in metrics) or len(set(metrics)) != len(metrics):
            raise UsageError(f"metrics must be distinct, non-empty names, got {metrics!r}")
    if (
        isinstance(penalty, bool)
        or not isinstance(penalty, int | float)
        or not math.isfinite(penalty)
    ):
        raise UsageError(f"penalty must be a finite number, got {show_value(penalty)}")
    check_whole("parallel", parallel, 1, MAX_PARALLEL)


def _called(objective: Objective, params: dict[str, Any]) -> Future[Any]:
    """``objective(params)`` run now, as a finished future (its exception kept in it)."""
    future: Future[Any] = Future()
    try:
        future.set_result(objective(params))
    except BaseException as exc:
        if not isinstance(exc, Exception):
            raise  # Ctrl-C and friends are not a trial's result
        future.set_exception(exc)
    return future
