"""Tests for tunegym.metrics.rewards."""

from __future__ import annotations

import pickle

import pytest

from tunegym.metrics import REWARD_NAMES, ExprError, build_reward, describe_rewards

METRICS = ["throughput", "latency_ms"]


def test_identity_uses_the_first_metric() -> None:
    reward = build_reward("identity", METRICS)
    assert reward({"throughput": 120.0, "latency_ms": 3.0}) == 120.0


def test_negative_uses_the_first_metric() -> None:
    reward = build_reward("negative", ["latency_ms", "throughput"])
    assert reward({"throughput": 120.0, "latency_ms": 3.0}) == -3.0


def test_inverse() -> None:
    reward = build_reward("inverse", ["latency_ms"])
    assert reward({"latency_ms": 4.0}) == 0.25


def test_inverse_ranks_a_metric_of_zero_best_and_refuses_a_negative_one() -> None:
    # 0 gave 0.0 (the perfect trial ranked below every other), and -2 gave -0.5 (ranked
    # below 5's 0.2, although it is smaller).
    reward = build_reward("inverse", ["errors"])
    ranked = sorted([0.0, 5.0, 1000.0, 1e-300], key=lambda x: reward({"errors": x}))
    assert ranked == [1000.0, 5.0, 1e-300, 0.0]
    with pytest.raises(ExprError, match=r"minimises a metric >= 0; 'errors' is -2"):
        reward({"errors": -2.0})


def test_named_rewards_return_float() -> None:
    for name in REWARD_NAMES:
        assert type(build_reward(name, ["x"])({"x": 2})) is float


def test_expr_reward() -> None:
    reward = build_reward("expr: throughput / max(latency_ms, 1e-9)", METRICS)
    assert reward({"throughput": 100.0, "latency_ms": 4.0}) == 25.0
    assert reward({"throughput": 1.0, "latency_ms": 0.0}) == pytest.approx(1e9)


def test_expr_reward_tolerates_spacing() -> None:
    reward = build_reward("  expr:throughput-latency_ms ", METRICS)
    assert reward({"throughput": 10.0, "latency_ms": 4.0}) == 6.0


def test_expr_reward_of_a_comparison_is_zero_or_one() -> None:
    reward = build_reward("expr: throughput > 5", METRICS)
    assert reward({"throughput": 10.0}) == 1.0
    assert reward({"throughput": 1.0}) == 0.0


def test_expr_with_undeclared_metric_names_it() -> None:
    with pytest.raises(ValueError, match=r"undeclared metric\(s\) 'p99'.*throughput, latency_ms"):
        build_reward("expr: throughput - p99", METRICS)


def test_expr_with_forbidden_construct_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"reward .*attribute access"):
        build_reward("expr: throughput.real", METRICS)


def test_empty_expr_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="must be followed by an expression"):
        build_reward("expr:  ", METRICS)


@pytest.mark.parametrize("spec", ["maximize", "Identity", "", "expr", "inverse_sqrt"])
def test_unknown_reward_lists_known_ones(spec: str) -> None:
    with pytest.raises(ValueError) as info:
        build_reward(spec, METRICS)
    message = str(info.value)
    assert repr(spec) in message
    assert "identity, negative, inverse, expr: <expression>" in message


def test_named_reward_needs_a_metric() -> None:
    with pytest.raises(ValueError, match="at least one metric"):
        build_reward("identity", [])


def test_expr_division_by_zero_raises_expr_error() -> None:
    reward = build_reward("expr: throughput / latency_ms", METRICS)
    with pytest.raises(ExprError, match="division by zero"):
        reward({"throughput": 1.0, "latency_ms": 0.0})


def test_expr_non_finite_result_raises_expr_error() -> None:
    reward = build_reward("expr: throughput * latency_ms", METRICS)
    with pytest.raises(ExprError, match="not finite"):
        reward({"throughput": 1e308, "latency_ms": 1e308})


def test_missing_metric_in_observation_raises_expr_error() -> None:
    with pytest.raises(ExprError, match="'throughput'"):
        build_reward("identity", METRICS)({"latency_ms": 1.0})
    with pytest.raises(ExprError, match="unknown name 'latency_ms'"):
        build_reward("expr: latency_ms", METRICS)({"throughput": 1.0})


@pytest.mark.parametrize(
    ("spec", "expected"), [("inverse", 0.125), ("expr: throughput / latency_ms", 4.0)]
)
def test_rewards_pickle(spec: str, expected: float) -> None:
    clone = pickle.loads(pickle.dumps(build_reward(spec, METRICS)))
    assert clone({"throughput": 8.0, "latency_ms": 2.0}) == expected


def test_describe_rewards_covers_every_reward() -> None:
    rows = describe_rewards()
    names = [name for name, _ in rows]
    assert names == [*REWARD_NAMES, "expr: <expression>"]
    assert all(description and "\n" not in description for _, description in rows)
