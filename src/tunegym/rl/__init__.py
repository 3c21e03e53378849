"""Async RL through the data plane: GRPO on a tiny policy, rewards from a harness.

```python
from tunegym.rl import AsyncRLConfig, AsyncGRPOTrainer

result = AsyncGRPOTrainer(AsyncRLConfig(mode="async", max_staleness=1, updates=60)).run()
print(result.untrained_reward, result.last_reward(), result.throughput)
```

Collectors (:mod:`tunegym.rl.collector`) generate and score rollouts and put them into any
:class:`~tunegym.dataplane.DataPlaneClient`; the trainer (:mod:`tunegym.rl.trainer`)
claims, drops stale samples, shards across data-parallel ranks and publishes new weights.
:func:`tunegym.rl.run.train_run` wraps it with a run folder (curve, report, checkpoints,
``--resume``). torch (the ``rl`` extra) is imported only when training starts.
"""

from tunegym.rl.config import AsyncRLConfig
from tunegym.rl.trainer import AsyncGRPOTrainer, Ledger, TrainResult

__all__ = ["AsyncGRPOTrainer", "AsyncRLConfig", "Ledger", "TrainResult"]
