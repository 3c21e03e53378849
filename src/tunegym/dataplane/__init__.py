"""Async-RL rollout data plane.

Producers put rollouts tagged with the weight version that made them; the trainer
claims a batch atomically, filters stale samples, shards the rest across
data-parallel ranks, reads each rank's columns and clears what it no longer needs.

```python
from tunegym import dataplane as dp

plane = dp.connect({"backend": "memory"})          # or "ray", "transferqueue"
plane.register_partition("train", fields=["tokens", "reward"], consumer_tasks=["trainer"])
plane.put_samples([0, 1], "train", {"tokens": toks, "reward": r},
                  tags=[{"weight_version": 3}] * 2)
meta = plane.claim_meta("train", "trainer", ["tokens", "reward"], batch_size=2)
keep, drop = dp.StalenessFilter(max_age=1).filter(meta, current_weight_version=3)
for rank_meta in dp.shard_for_dp(keep, dp_world=2):
    columns = plane.get_data(rank_meta)
plane.clear_samples(drop.sample_ids, "train")
```

Importing this package imports numpy and pydantic only; ray, torch and
transferqueue are imported by the backends that use them.
"""

from tunegym.dataplane.client import Column, DataPlaneClient
from tunegym.dataplane.collector import Rollout, RolloutCollector, start_collector
from tunegym.dataplane.config import (
    MemoryConfig,
    RayConfig,
    TransferQueueConfig,
    parse_config,
)
from tunegym.dataplane.connect import connect
from tunegym.dataplane.errors import (
    ClaimTimeoutError,
    DataPlaneClosedError,
    DataPlaneConfigError,
    DataPlaneError,
    DataPlaneFullError,
)
from tunegym.dataplane.filters import BaseRolloutFilter, StalenessFilter
from tunegym.dataplane.meta import BatchMeta, SampleId
from tunegym.dataplane.sharding import Shards, shard_for_dp

__all__ = [
    "BaseRolloutFilter",
    "BatchMeta",
    "ClaimTimeoutError",
    "Column",
    "DataPlaneClient",
    "DataPlaneClosedError",
    "DataPlaneConfigError",
    "DataPlaneError",
    "DataPlaneFullError",
    "MemoryConfig",
    "RayConfig",
    "Rollout",
    "RolloutCollector",
    "SampleId",
    "Shards",
    "StalenessFilter",
    "TransferQueueConfig",
    "connect",
    "parse_config",
    "shard_for_dp",
    "start_collector",
]
