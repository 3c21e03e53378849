"""Shared settings of the async-RL tests: a fast configuration (Ray comes from the
``ray_two_cpus`` fixture of tests/conftest.py)."""

from __future__ import annotations

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
