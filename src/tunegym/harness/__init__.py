"""Benchmark harnesses served as NeMo-Gym-compatible resource servers.

- :class:`GymHarness` / :class:`VerifyResult`: the contract a benchmark implements
  (:data:`RequestError`: raised by ``verify()``, a 422 naming the field).
- :func:`create_app`: the FastAPI resource server (imports FastAPI when first used).
- :class:`ResourceServerProcess`: run a server in a child process group, no orphans.
- :func:`generate_gym_config` / :func:`write_gym_config`: NeMo Gym config YAML.
- :class:`HarnessGymServer`: a harness as a live tunegym ``GymServer``.

Importing this package is cheap; FastAPI, uvicorn and httpx load only where needed.
"""

from __future__ import annotations

import importlib
from typing import Any

from tunegym.harness.base import (
    BUNDLED_HARNESSES,
    GymHarness,
    RequestError,
    VerifyResult,
    load_harness,
)

_LAZY = {
    "create_app": "tunegym.harness.server",
    "ResourceServerProcess": "tunegym.harness.process",
    "ResourceServerError": "tunegym.harness.process",
    "ResourceServerStartupError": "tunegym.harness.process",
    "ResourceServerTimeout": "tunegym.harness.process",
    "generate_gym_config": "tunegym.harness.config",
    "write_gym_config": "tunegym.harness.config",
    "HarnessGymServer": "tunegym.harness.env",
    "aggregate_metrics": "tunegym.harness.metrics",
}

__all__ = [
    "BUNDLED_HARNESSES",
    "GymHarness",
    "RequestError",
    "VerifyResult",
    "load_harness",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tunegym.harness' has no attribute {name!r}")
