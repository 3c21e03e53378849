"""Nevergrad's NGOpt as a tunegym policy (an arm of the ``auto`` agent).

NGOpt picks its own algorithm from the parametrization, the budget and the number of
workers (CMA-ES variants, Cobyla, DE, ...). Contracts, as for the ``optuna`` agent:

* float ranges map to ``ng.p.Scalar``; on a log scale, to a ``Scalar`` over the range's
  log10 (what ``ng.p.Log`` does inside, without its ``sqrt(low * high)`` midpoint that
  underflows or overflows for ranges such as 1e-200..1e-199 or 1e290..1e300), decoded by
  :func:`decode`; int ranges to an integer-cast ``Scalar`` (``ng.p.Log`` on a log scale:
  int bounds are within 1..2^62, where it works); categorical dimensions are not handled
  here (``auto`` gives them to TPE);
* the reward is maximised (NGOpt is told its negative); a failed trial is told as the
  worst successful value so far, or not told before any success;
* seeded: the same results give the same proposals, so a resumed run's replay (which asks
  again for each recorded step) continues exactly;
* feedback for an action it did not propose (a warm start) is told as a new point when
  the chosen algorithm accepts that, else ignored;
* ``nevergrad`` (``pip install 'tunegym[search]'``) is imported when the policy is built.
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from tunegym.agents.base import Action, AgentConfig, BaseAgent, Feedback, infeasible_draws_message
from tunegym.env.base import BaseGym
from tunegym.space import Categorical, Continuous, SearchSpace, cache_key


def _key(action: Mapping[str, Any]) -> str:
    return cache_key(action, {})


def _scalar(value: Any) -> float:
    """``float`` that also takes a one-element array (NumPy 2.4 refuses those)."""
    array = np.asarray(value)
    return float(array.reshape(-1)[0]) if array.size == 1 else float(value)


def numpy_compat() -> None:
    """Let nevergrad 1.0.12's metamodel run under NumPy >= 2.4: it calls ``float`` on a
    one-element prediction array, which NumPy 2.4 refuses (the ask then fails). The
    module-level name ``float`` of that one module is pointed at :func:`_scalar`."""
    from nevergrad.optimization import metamodel

    metamodel.float = _scalar


def _log10_bounds(dim: Continuous) -> tuple[float, float] | None:
    """The log10 bounds a float log range is parametrized with; ``None`` for any other
    range, and for one too narrow for its log10 bounds to differ (log-uniform and uniform
    are then the same: it is parametrized as it is)."""
    if not dim.log or dim.dtype == "int":
        return None
    lower, upper = math.log10(dim.low), math.log10(dim.high)
    return (lower, upper) if lower < upper else None


def parametrization(space: SearchSpace, seed: int) -> Any:
    """An ``ng.p.Dict`` over ``space`` (ranges only), seeded; :func:`decode` turns a
    candidate's value into the dimensions' values."""
    import nevergrad as ng

    params: dict[str, Any] = {}
    for name, dim in space.dimensions.items():
        if isinstance(dim, Categorical):
            raise ValueError(f"{name}: NGOpt here takes ranges only, not categorical dimensions")
        low, high = float(dim.low), float(dim.high)
        log10 = _log10_bounds(dim)
        if log10 is not None:  # as ng.p.Log(lower=low, upper=high) inside, in log10
            param = ng.p.Scalar(lower=log10[0], upper=log10[1], mutable_sigma=False)
        elif dim.log and dim.dtype == "int":
            param = ng.p.Log(lower=low, upper=high)
        else:
            param = ng.p.Scalar(lower=low, upper=high)
        if dim.dtype == "int":
            param = param.set_integer_casting()
        params[name] = param
    out = ng.p.Dict(**params)
    out.random_state = np.random.RandomState(seed % 2**32)
    return out


def decode(space: SearchSpace, value: Mapping[str, Any]) -> dict[str, float]:
    """The values of ``space``'s dimensions (as floats, each clipped into its range) a
    candidate value of :func:`parametrization` stands for: a float log range's is 10 to
    its power."""
    out: dict[str, float] = {}
    for name, dim in space.dimensions.items():
        assert isinstance(dim, Continuous)  # parametrization() refused the rest
        number = float(value[name])
        if _log10_bounds(dim) is not None:
            number = 10.0**number
        out[name] = min(max(number, float(dim.low)), float(dim.high))
    return out


def encode(space: SearchSpace, action: Mapping[str, Any]) -> dict[str, float]:
    """The candidate value of :func:`parametrization` that stands for ``action`` (the
    inverse of :func:`decode`, up to rounding)."""
    out: dict[str, float] = {}
    for name, dim in space.dimensions.items():
        assert isinstance(dim, Continuous)
        number = float(action[name])
        log10 = _log10_bounds(dim)
        out[name] = number if log10 is None else min(max(math.log10(number), log10[0]), log10[1])
    return out


@contextmanager
def quiet_optimizer() -> Iterator[None]:
    """Nevergrad's and SciPy's notes to the developer (COBYLA's RHOEND reset, "underlying
    optimizer has already converged") kept off the user's terminal."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"(nevergrad|scipy)\.")
        yield


MAX_INFEASIBLE_ASKS = 1000
"""Known-infeasible candidates of NGOpt in a row after which uniform draws are tried."""
MAX_UNIFORM_DRAWS = 10_000
"""Uniform draws, after NGOpt's refused candidates, before the agent gives up (stops)."""


class NGOptAgent(BaseAgent):
    """Proposes actions with Nevergrad's NGOpt (see module docs)."""

    name = "ngopt"
    supports_warm_start = True

    def __init__(self, env: BaseGym, config: AgentConfig) -> None:
        super().__init__(env, config)
        import nevergrad as ng

        numpy_compat()
        self.space = env.action_space
        self.optimizer = ng.optimizers.NGOpt(
            parametrization=parametrization(self.space, config.seed),
            budget=config.max_steps,
            num_workers=max(1, config.parallel),
        )
        self._pending: dict[str, deque[Any]] = {}
        self._worst: float | None = None
        self.rng = np.random.default_rng(config.seed)

    def _to_action(self, value: Mapping[str, Any]) -> Action:
        action: Action = {}
        for name, number in decode(self.space, value).items():
            dim = self.space.dimensions[name]
            assert isinstance(dim, Continuous)
            action[name] = round(number) if dim.dtype == "int" else number
        return self.space.canonicalize(action)

    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        with quiet_optimizer():
            return self._select_action()

    def _select_action(self) -> Action | None:
        """NGOpt's next candidate the env does not know to be infeasible; one it does is
        told back as a constraint violation (no trial spent), and NGOpt asks again. After
        :data:`MAX_INFEASIBLE_ASKS` refused candidates in a row, uniform draws are tried
        (:data:`MAX_UNIFORM_DRAWS`); when none is feasible either, the agent stops and
        :attr:`gave_up` says why."""
        for _ in range(MAX_INFEASIBLE_ASKS):
            candidate = self.optimizer.ask()
            action = self._to_action(candidate.value)
            if self.env.infeasible(action) is None:
                self._pending.setdefault(_key(action), deque()).append(candidate)
                return action
            self.optimizer.tell(candidate, self._worst or 0.0, constraint_violation=[1.0])
        # NGOpt's optimizers for small budgets (Cobyla, ...) can stay in the infeasible part
        # of the space: a uniform draw finds a feasible action, told back as any trial.
        for _ in range(MAX_UNIFORM_DRAWS):
            action = self.space.canonicalize(self.space.sample(self.rng))
            if self.env.infeasible(action) is None:
                return action
        self.gave_up = infeasible_draws_message(MAX_INFEASIBLE_ASKS + MAX_UNIFORM_DRAWS)
        return None

    def _loss(self, feedback: Feedback) -> float | None:
        reward = feedback.reward
        if feedback.succeeded and reward is not None and math.isfinite(reward):
            loss = -float(reward)
            self._worst = loss if self._worst is None else max(self._worst, loss)
            return loss
        return self._worst

    def update_policy(self, feedback: Feedback) -> None:
        with quiet_optimizer():
            self._tell(feedback)

    def _tell(self, feedback: Feedback) -> None:
        loss = self._loss(feedback)
        queue = self._pending.get(_key(feedback.action))
        if queue:
            candidate = queue.popleft()
            if loss is not None:
                self.optimizer.tell(candidate, loss)
            return
        if loss is None:
            return
        child = self.optimizer.parametrization.spawn_child(
            new_value=encode(self.space, feedback.action)
        )
        try:
            self.optimizer.tell(child, loss)
        except Exception:
            return

    def warm_start(self, feedback: Sequence[Feedback]) -> int:
        used = 0
        for item in feedback:
            try:
                self.space.canonicalize(item.action)
            except ValueError:
                continue
            self.update_policy(item)
            used += 1
        return used


__all__ = ["NGOptAgent", "decode", "encode", "numpy_compat", "parametrization"]
