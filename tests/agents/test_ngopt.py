"""The ``ngopt`` policy (the ``auto`` agent's Nevergrad arm): its parametrization of log
ranges. Its seeding, failures, warm start and replay are tested in ``test_auto.py``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pytest

from tunegym.agents.base import AgentConfig, Feedback
from tunegym.agents.ngopt import NGOptAgent, decode, encode
from tunegym.env.function import FunctionEnv
from tunegym.space import Continuous, SearchSpace

pytest.importorskip("nevergrad")

# Log ranges the spec validator accepts whose ng.p.Log midpoint, sqrt(low * high),
# underflows or overflows: NevergradValueError "Current value is not within bounds".
EXTREME = [
    (1e-200, 1e-199),
    (1e290, 1e300),
    (2.2250738585072014e-308, 1e-300),  # the smallest low log = true allows
    (2.2250738585072014e-308, 1.7e308),
    (1e300, math.nextafter(1e300, math.inf)),  # too narrow for distinct log10 bounds
]


def _space(low: float, high: float) -> SearchSpace:
    return SearchSpace({"lr": Continuous("lr", low, high, log=True), "x": Continuous("x", 0, 1)})


def _objective(params: Mapping[str, Any]) -> float:
    return -((params["x"] - 0.3) ** 2)


@pytest.mark.parametrize(("low", "high"), EXTREME)
def test_extreme_log_ranges_run_and_stay_within_their_bounds(low: float, high: float) -> None:
    env = FunctionEnv(_space(low, high), _objective)
    assert NGOptAgent(env, AgentConfig(20, 0)).run() == 0
    assert len(env.history) == 20
    assert all(low <= f.action["lr"] <= high for f in env.history)


def test_a_log_range_is_searched_on_its_log_scale() -> None:
    # 1e-200..1e-190: uniform proposals would nearly all be above 1e-191 (90% of the
    # range); on the log scale about nine in ten are below it.
    env = FunctionEnv(_space(1e-200, 1e-190), _objective)
    assert NGOptAgent(env, AgentConfig(30, 0)).run() == 0
    assert sum(f.action["lr"] < 1e-191 for f in env.history) >= 15


@pytest.mark.parametrize(("low", "high"), [*EXTREME, (1e-3, 1.0)])
def test_decode_inverts_encode_within_the_bounds(low: float, high: float) -> None:
    space = _space(low, high)
    for lr in (low, high, math.sqrt(low) * math.sqrt(high)):
        value = decode(space, encode(space, {"lr": lr, "x": 0.5}))
        assert low <= value["lr"] <= high and math.isclose(value["lr"], lr, rel_tol=1e-9)


def test_a_warm_start_on_an_extreme_log_range_is_told_to_nevergrad() -> None:
    space = _space(1e-200, 1e-199)
    agent = NGOptAgent(FunctionEnv(space, _objective), AgentConfig(10, 0))
    feedback = Feedback(0, {"lr": 3e-200, "x": 0.5}, {}, {"score": -0.04}, -0.04, "ok")
    assert agent.warm_start([feedback]) == 1
    assert agent.optimizer.num_tell == 1
