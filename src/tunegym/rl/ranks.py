"""``GradientRank``: one data-parallel rank; computes the gradient of its shard.

The trainer sends each rank the current weights and the meta of its shard; the rank reads
the shard's columns from the data plane itself (so bulk data never passes through the
trainer), and returns the gradient of the summed GRPO loss plus its token count. The
trainer adds the ranks' gradients and divides by the total token count, which is the
gradient of the whole batch's mean loss.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from tunegym.dataplane import BatchMeta, DataPlaneClient, connect
from tunegym.rl import policy as pol
from tunegym.rl.collector import FIELDS
from tunegym.rl.config import AsyncRLConfig


class GradientRank:
    """A gradient worker over the data plane (a thread's object or a Ray actor)."""

    def __init__(self, plane: Mapping[str, Any] | DataPlaneClient, config: Mapping[str, Any]):
        import torch

        torch.set_num_threads(1)
        self.cfg = AsyncRLConfig.from_dict(dict(config))
        self._owns_plane = not isinstance(plane, DataPlaneClient)
        self.plane = plane if isinstance(plane, DataPlaneClient) else connect(plane)
        self.model = pol.build_policy(
            self.cfg.max_operand, self.cfg.max_tokens, self.cfg.hidden, self.cfg.seed
        )

    def gradients(self, meta: BatchMeta, weights: pol.Weights) -> tuple[pol.Weights, float]:
        """``({param: grad of the summed loss}, tokens)`` for the samples of ``meta``."""
        pol.set_weights(self.model, weights)
        batch = self.plane.get_data(meta, FIELDS)
        self.model.zero_grad()
        loss, tokens = pol.grpo_loss(self.model, batch, self.cfg.clip)  # type: ignore[arg-type]
        loss.backward()
        if self.cfg.train_latency_s:
            time.sleep(self.cfg.train_latency_s * meta.size)
        grads = {
            name: p.grad.detach().numpy().copy()
            for name, p in self.model.named_parameters()
            if p.grad is not None
        }
        return grads, tokens

    def close(self) -> bool:
        if self._owns_plane:
            self.plane.close()
        return True
