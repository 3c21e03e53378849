"""Gymnasium boundary and live servers.

* :class:`GymnasiumAdapter` wraps any :class:`~tunegym.env.base.BaseGym` as a real
  ``gymnasium.Env`` (so Stable-Baselines3, RLlib, ... train on it);
  :func:`register` registers a workload file under a gymnasium id.
* :class:`GymServer` is the protocol an in-process live environment implements;
  :func:`load_server` imports and builds one from ``package.module:Class``.

gymnasium is imported only when the adapter is first used, so ``import tunegym.gym``
stays cheap for live runs driven by tunegym's own agents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tunegym.env.server import (
    GymServer,
    ServerArgsWarning,
    ServerError,
    build_server,
    import_server_class,
    load_server,
)

if TYPE_CHECKING:
    from tunegym.gym.adapter import GymnasiumAdapter
    from tunegym.gym.make import make_adapter, register

_LAZY = {"GymnasiumAdapter": "adapter", "make_adapter": "make", "register": "make"}

__all__ = [
    "GymServer",
    "GymnasiumAdapter",
    "ServerArgsWarning",
    "ServerError",
    "build_server",
    "import_server_class",
    "load_server",
    "make_adapter",
    "register",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"tunegym.gym.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'tunegym.gym' has no attribute {name!r}")
