"""Rewards: turn a named observation ``{metric: value}`` into one float to maximise.

``identity``, ``negative`` and ``inverse`` apply to the first metric of
``agent.metrics``; ``"expr: <expression>"`` is a safe expression (see
:mod:`tunegym.expr`) over the declared metric names. :func:`build_reward` validates
everything it can up front (``ValueError``); at call time any failure — a metric
missing from the observation, division by zero, a non-numeric or non-finite result —
raises :class:`~tunegym.expr.ExprError`, which the caller turns into a penalty.
"""

from __future__ import annotations

import numbers
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from tunegym.expr import ExprError, SafeExpr, compile_expr
from tunegym.values import is_finite_number

__all__ = [
    "REWARD_DIRECTIONS",
    "REWARD_NAMES",
    "ExprReward",
    "MetricReward",
    "RewardFn",
    "build_reward",
    "describe_rewards",
]

REWARD_NAMES = ("identity", "negative", "inverse")
REWARD_DIRECTIONS = {"identity": "max", "negative": "min", "inverse": "min"}
"""Whether each named reward maximises (``max``) or minimises (``min``) the first metric."""
_EXPR_PREFIX = "expr:"
_KNOWN = "identity, negative, inverse, expr: <expression>"
_DESCRIPTIONS = {
    "identity": "the first metric as is (maximise it)",
    "negative": "minus the first metric (minimise it)",
    "inverse": (
        "1 / the first metric (minimise a metric >= 0): at 0 the largest float, the best "
        "any trial can score; a negative value is a metric failure"
    ),
}
BEST_INVERSE = sys.float_info.max
"""The ``inverse`` reward of a metric of 0: above 1/x of every positive x (it was 0.0,
which ranked the perfect trial below every other)."""


class RewardFn(Protocol):
    """Maps a named observation to a reward; raises ``ExprError`` when it cannot."""

    def __call__(self, observation: Mapping[str, float], /) -> float: ...


def _finite(value: object, spec: str) -> float:
    """``value`` as a float, or an ``ExprError`` saying why a reward cannot be it."""
    if isinstance(value, bool) or is_finite_number(value):  # a comparison's result counts
        return float(value)  # type: ignore[arg-type]
    if not isinstance(value, numbers.Real):
        raise ExprError(f"reward {spec!r}: result {value!r} is not a number")
    raise ExprError(f"reward {spec!r}: result {float(value)} is not finite")


@dataclass(frozen=True)
class MetricReward:
    """``identity``, ``negative`` or ``inverse`` of one metric."""

    kind: str
    metric: str

    def __call__(self, observation: Mapping[str, float]) -> float:
        try:
            x = observation[self.metric]
        except KeyError:
            raise ExprError(
                f"reward {self.kind!r}: metric {self.metric!r} is missing from the observation"
            ) from None
        x = _finite(x, self.kind)
        if self.kind == "identity":
            return x
        if self.kind == "negative":
            return -x
        if x < 0:
            raise ExprError(
                f"reward 'inverse' minimises a metric >= 0; {self.metric!r} is {x:g} "
                "(use reward = 'negative' for a metric that can be negative)"
            )
        return BEST_INVERSE if x == 0 else _finite(1.0 / x, self.kind)


@dataclass(frozen=True)
class ExprReward:
    """A safe expression over metric names."""

    expr: SafeExpr

    def __call__(self, observation: Mapping[str, float]) -> float:
        return _finite(self.expr.evaluate(observation), f"{_EXPR_PREFIX} {self.expr.source}")


def build_reward(spec: str, metrics: Sequence[str]) -> RewardFn:
    """Build the reward named by ``spec`` over the declared ``metrics`` (``agent.metrics``).

    Raises ``ValueError`` for an unknown reward (the message lists the known ones), a
    named reward without metrics, or an expression that is malformed or uses a name not
    in ``metrics`` (the message names it).
    """
    text = spec.strip()
    if text.startswith(_EXPR_PREFIX):
        source = text[len(_EXPR_PREFIX) :].strip()
        if not source:
            raise ValueError(f"reward {spec!r}: 'expr:' must be followed by an expression")
        try:
            expr = compile_expr(source)
        except ExprError as exc:
            raise ExprError(f"reward {spec!r}: {exc}") from None
        unknown = sorted(expr.names - set(metrics))
        if unknown:
            declared = ", ".join(metrics) or "none"
            raise ValueError(
                f"reward {spec!r} uses undeclared metric(s) {', '.join(map(repr, unknown))}; "
                f"declared metrics: {declared}"
            )
        return ExprReward(expr)
    if text in REWARD_NAMES:
        if not metrics:
            raise ValueError(f"reward {text!r} needs at least one metric in agent.metrics")
        return MetricReward(text, metrics[0])
    raise ValueError(f"unknown reward {spec!r}; known rewards: {_KNOWN}")


def describe_rewards() -> list[tuple[str, str]]:
    """``(name, one-line description)`` for every reward, for ``tunegym list rewards``."""
    rows = [(name, _DESCRIPTIONS[name]) for name in REWARD_NAMES]
    rows.append(
        (
            "expr: <expression>",
            "a safe expression over metric names, e.g. 'expr: throughput / max(latency_ms, 1e-9)'",
        )
    )
    return rows
