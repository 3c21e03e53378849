"""``connect``: the data-plane client a config asks for (memory, Ray or TransferQueue)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunegym.dataplane.client import DataPlaneClient
from tunegym.dataplane.config import RayConfig, TransferQueueConfig, parse_config


def connect(config: Mapping[str, Any] | None = None) -> DataPlaneClient:
    """Build the client the config asks for (see module doc)."""
    cfg = parse_config(config)
    if isinstance(cfg, RayConfig):
        from tunegym.dataplane.backends.ray import RayDataPlane

        return RayDataPlane.from_config(cfg)
    if isinstance(cfg, TransferQueueConfig):
        from tunegym.dataplane.backends.transferqueue import TransferQueueDataPlane

        return TransferQueueDataPlane.from_config(cfg)
    from tunegym.dataplane.backends.memory import MemoryDataPlane

    return MemoryDataPlane()
