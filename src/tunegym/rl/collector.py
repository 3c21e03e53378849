"""``PolicyCollector``: generates, scores and puts rollouts while the trainer trains.

One collector owns groups ``j`` with ``j % num_collectors == index`` of every update
``u``. It generates update ``u``'s groups only while ``u <= weight_version +
max_staleness`` (so ``sync`` mode, ``max_staleness = 0``, waits for each update), with
the newest weights it was sent: :meth:`set_weights` may be called at any time from
another thread (or as a Ray actor method, the actor being threaded) and is picked up at
the next batch, so publishing never stops the collector. Each group's ``group_size``
samples answer the same prompt; their rewards come from the harness's ``verify()`` and
their advantages are normalised within the group (GRPO). Rows go to the data plane
tagged with the ``weight_version`` that made them.

Prompts are a pure function of ``(seed, u, j)``, so sync and async runs see the same
prompts in the same updates.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from tunegym.dataplane import DataPlaneClient, connect
from tunegym.rl import policy as pol
from tunegym.rl.config import AsyncRLConfig
from tunegym.rl.task import ArithmeticTask, decode, score

PARTITION = "rollouts"
FIELDS = ["a", "b", "tokens", "mask", "logp", "advantage", "reward"]
TRAINER_TASK = "trainer"


def sample_id(cfg: AsyncRLConfig, update: int, group: int, k: int) -> int:
    """The data-plane id of sample ``k`` of group ``group`` of update ``update``."""
    return update * cfg.batch_size + group * cfg.group_size + k


def prompt_index(cfg: AsyncRLConfig, update: int, group: int, n_rows: int) -> int:
    """Which dataset row group ``group`` of update ``update`` asks (seeded, mode-free)."""
    return random.Random(f"{cfg.seed}:{update}:{group}").randrange(n_rows)


class PolicyCollector:
    """A rollout collector (see module doc); run in a thread or as a threaded Ray actor."""

    def __init__(
        self,
        plane: Mapping[str, Any] | DataPlaneClient,
        config: Mapping[str, Any],
        index: int,
        weights: pol.Weights,
        weight_version: int,
        start_update: int = 0,
    ) -> None:
        self.cfg = AsyncRLConfig.from_dict(dict(config))
        self._owns_plane = not isinstance(plane, DataPlaneClient)
        self.plane = plane if isinstance(plane, DataPlaneClient) else connect(plane)
        self.index = index
        self.task = ArithmeticTask(
            self.cfg.max_operand, self.cfg.dataset_size, self.cfg.seed, self.cfg.max_tokens
        )
        self.harness = self.task.harness()
        self.rows = self.task.problems()
        self.weights = weights
        self.rng = np.random.default_rng([self.cfg.seed, index, start_update])
        self.version = weight_version
        self._pending: tuple[int, pol.Weights] | None = None
        self.next_update = start_update
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.busy_s = 0.0
        self.wait_s = 0.0
        self.samples = 0
        self.started_at = 0.0

    # -------------------------------------------------------------- control
    def set_weights(self, version: int, weights: pol.Weights) -> int:
        """Use ``weights`` (policy version ``version``) from the next batch on."""
        with self._cond:
            if version > self.version and (self._pending is None or version > self._pending[0]):
                self._pending = (version, weights)
                self._cond.notify_all()
        return version

    def start(self) -> bool:
        """Start generating in a background thread (returns at once)."""
        if self._thread is None:
            self.started_at = time.monotonic()
            self._thread = threading.Thread(
                target=self._run, name=f"collector-{self.index}", daemon=True
            )
            self._thread.start()
        return True

    def stop(self, timeout_s: float = 10.0) -> dict[str, Any]:
        """Stop after the batch in progress; returns :meth:`stats`."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
        if self._owns_plane:
            self.plane.close()
        return self.stats()

    def stats(self) -> dict[str, Any]:
        """Samples put, seconds generating and waiting, the version in use, any error,
        and the ``pid`` of the process it runs in (a Ray actor's own)."""
        alive = self._thread is not None and self._thread.is_alive()
        return {
            "index": self.index,
            "pid": os.getpid(),
            "samples": self.samples,
            "busy_s": self.busy_s,
            "wait_s": self.wait_s,
            "weight_version": self.version,
            "next_update": self.next_update,
            "alive": alive,
            "error": self.error,
        }

    # ----------------------------------------------------------------- loop
    def _run(self) -> None:
        try:
            while not self._stop.is_set() and self.next_update < self.cfg.updates:
                if not self._wait_for_version(self.next_update):
                    break
                began = time.monotonic()
                self._generate(self.next_update)
                self.busy_s += time.monotonic() - began
                self.next_update += 1
        except Exception as exc:  # reported through stats(); the trainer raises it
            self.error = f"{type(exc).__name__}: {exc}"

    def _wait_for_version(self, update: int) -> bool:
        began = time.monotonic()
        with self._cond:
            while not self._stop.is_set():
                if self._pending is not None:
                    version, weights = self._pending
                    self._pending = None
                    self.weights = weights
                    self.version = version
                if update <= self.version + self.cfg.max_staleness:
                    break
                self._cond.wait(0.5)
        self.wait_s += time.monotonic() - began
        return not self._stop.is_set()

    def _generate(self, update: int) -> None:
        cfg = self.cfg
        groups = [j for j in range(cfg.prompts_per_update) if j % cfg.num_collectors == self.index]
        if not groups:
            return
        version = self.version
        rows = [self.rows[prompt_index(cfg, update, j, len(self.rows))] for j in groups]
        g = cfg.group_size
        a = np.repeat(np.array([r["a"] for r in rows], dtype=np.int64), g)
        b = np.repeat(np.array([r["b"] for r in rows], dtype=np.int64), g)
        latency = cfg.token_latency_s
        tokens, mask, logp = pol.generate(
            self.weights,
            a,
            b,
            cfg.max_tokens,
            self.rng,
            (lambda: time.sleep(latency)) if latency else None,
        )
        texts = [decode(t) for t in tokens]
        expected = [r["expected_answer"] for r in rows for _ in range(g)]
        reward = np.array(score(self.harness, texts, expected), dtype=np.float32)
        per_group = reward.reshape(len(groups), g)
        adv = (per_group - per_group.mean(1, keepdims=True)) / (
            per_group.std(1, keepdims=True) + 1e-6
        )
        ids = [sample_id(cfg, update, j, k) for j in groups for k in range(g)]
        self.plane.put_samples(
            ids,
            PARTITION,
            {
                "a": a,
                "b": b,
                "tokens": tokens,
                "mask": mask,
                "logp": logp,
                "advantage": adv.reshape(-1).astype(np.float32),
                "reward": reward,
            },
            tags=[
                {"weight_version": version, "update": update, "reward": float(r)} for r in reward
            ],
            sequence_lengths=[int(m.sum()) for m in mask],
        )
        self.samples += len(ids)
