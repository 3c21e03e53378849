"""Metrics read from a trial's outputs, and the rewards computed from them."""

from tunegym.expr import ExprError
from tunegym.metrics.extractors import (
    Extractor,
    MetricReadout,
    MetricSource,
    build_extractor,
    extract_all,
    extract_metrics,
)
from tunegym.metrics.rewards import REWARD_NAMES, RewardFn, build_reward, describe_rewards

__all__ = [
    "REWARD_NAMES",
    "ExprError",
    "Extractor",
    "MetricReadout",
    "MetricSource",
    "RewardFn",
    "build_extractor",
    "build_reward",
    "describe_rewards",
    "extract_all",
    "extract_metrics",
]
