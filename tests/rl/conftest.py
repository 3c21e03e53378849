"""Shared settings of the async-RL tests: a fast configuration and a Ray session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from tunegym.rl import AsyncRLConfig

# 40 updates of 16 prompts x 8 samples: about 2 s on the memory backend. The untrained
# policy scores about 0.01; 40 updates bring the last 10 updates' mean to 0.34-0.44
# (seeds 0-2, both modes).
FAST = AsyncRLConfig(updates=40, eval_samples=256, claim_poll_s=0.05)
MARGIN = 0.15
"""How far the last 10 updates' mean reward must beat the untrained policy's."""


@pytest.fixture
def fast() -> AsyncRLConfig:
    """A configuration that learns in about 2 s (no simulated latency)."""
    return FAST


@pytest.fixture
def margin() -> float:
    return MARGIN


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Any]:
    """Ray with 2 CPUs for this module (shared, and left up, when already running)."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    import ray

    if ray.is_initialized():
        yield ray
        return
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
