"""``AsyncGRPOTrainer``: the trainer loop over the data plane.

Per update ``u`` (the policy is at version ``u``):

1. claim ``batch_size`` rollouts from the data plane (blocking; the time spent waiting is
   the trainer's idle time);
2. split them with :class:`~tunegym.dataplane.StalenessFilter` (``max_age =
   max_staleness``): samples older than that are cleared from the plane and never trained
   on;
3. shard the rest across ``dp_size`` :class:`~tunegym.rl.ranks.GradientRank`\\ s with
   :func:`~tunegym.dataplane.shard_for_dp`, each rank reading its own shard's columns;
   add their gradients, divide by the batch's token count, take one Adam step;
4. clear the trained samples, bump the version to ``u + 1`` and publish the new weights to
   every collector without stopping it.

``sync`` mode is this loop with ``max_staleness = 0``. The trainer keeps a ledger of every
claimed sample id and whether it was trained on (with its age) or dropped as stale, which
is how the tests check that nothing is lost, trained twice or trained stale.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.dataplane import (
    ClaimTimeoutError,
    DataPlaneClient,
    StalenessFilter,
    connect,
    shard_for_dp,
)
from tunegym.errors import UsageError
from tunegym.rl import checkpoint as ckpt
from tunegym.rl import policy as pol
from tunegym.rl.collector import FIELDS, PARTITION, TRAINER_TASK, PolicyCollector
from tunegym.rl.config import AsyncRLConfig
from tunegym.rl.ranks import GradientRank
from tunegym.rl.task import ArithmeticTask, decode, score
from tunegym.rl.workers import Worker, WorkerFailedError, start_worker

STATS_TIMEOUT_S = 60.0
"""How long a collector may take to answer the trainer's health check (``stats()``)."""


@dataclass
class Ledger:
    """Every sample id the trainer claimed, and what became of it.

    After a finished run (or :meth:`AsyncGRPOTrainer.stop`, which acts between updates)
    ``trained`` and ``dropped`` split ``claimed`` exactly; a Ctrl-C in the middle of an
    update leaves that update's batch claimed but neither trained nor dropped.
    """

    claimed: list[int] = field(default_factory=list)
    trained: dict[int, int] = field(default_factory=dict)  # id -> age in versions
    dropped: dict[int, int] = field(default_factory=dict)  # id -> age in versions


@dataclass
class TrainResult:
    """What :meth:`AsyncGRPOTrainer.run` returns."""

    status: str  # "ok" | "interrupted" | "error" (a worker failed: ``message`` says which)
    records: list[dict[str, Any]]
    ledger: Ledger
    untrained_reward: float
    final_reward: float | None
    throughput: dict[str, float]
    version: int
    message: str | None = None

    def last_reward(self, n: int = 10) -> float:
        """Mean training reward of the last ``n`` updates (``nan`` before any update).

        An update whose samples were all dropped as stale has no reward and is skipped.
        """
        tail = [r["reward"] for r in self.records[-n:] if r["reward"] is not None]
        return float(np.mean(tail)) if tail else float("nan")


LEFTOVER_PROBE = "tunegym-rl-leftovers"
"""The prefix of the tasks that look, without taking anything from the trainer, for
rollouts left in the partition."""


def _open_partition(plane: DataPlaneClient) -> None:
    """Register the rollouts partition; a :class:`UsageError` when it already holds
    rollouts: another trainer's (its sample ids and weight versions would collide with
    this run's) or those of one that did not end cleanly (a killed process on a detached
    Ray plane)."""
    plane.register_partition(PARTITION, FIELDS, consumer_tasks=[TRAINER_TASK])
    probe = f"{LEFTOVER_PROBE}-{uuid.uuid4().hex}"  # a task of its own: a claim by an
    # earlier probe would hide the sample from this one (each task claims a sample once)
    found = plane.claim_meta(PARTITION, probe, FIELDS[:1], 1, blocking=False, allow_partial=True)
    if found.size:
        raise UsageError(
            f"the data plane's partition {PARTITION!r} already holds rollouts (another "
            "trainer's on this plane, or left by one that did not end cleanly): clear it "
            f"with plane.clear_samples(None, {PARTITION!r}) or train on a fresh plane"
        )


UpdateHook = Callable[[dict[str, Any], "AsyncGRPOTrainer"], None]


class AsyncGRPOTrainer:
    """Trains the policy of ``config`` through the data plane (see module doc).

    ``on_update(record, trainer)`` is called after every update (progress, run folders);
    ``checkpoint_dir`` with ``config.checkpoint_every = K`` saves policy and optimizer
    every K updates; ``resume`` (a checkpoint file) continues from it (a
    :class:`~tunegym.rl.checkpoint.CheckpointError` when it cannot be loaded or does not
    fit ``config``). ``plane`` is a
    client to train through (left open); by default one is connected from
    ``config.plane`` (and closed at the end). ``self.plane`` is the client during
    :meth:`run`.
    """

    def __init__(
        self,
        config: AsyncRLConfig,
        *,
        on_update: UpdateHook | None = None,
        checkpoint_dir: Path | None = None,
        resume: Path | None = None,
        plane: DataPlaneClient | None = None,
    ) -> None:
        import torch

        self.cfg = config
        self.on_update = on_update
        self.checkpoint_dir = checkpoint_dir
        self.task = ArithmeticTask(
            config.max_operand, config.dataset_size, config.seed, config.max_tokens
        )
        self.model = pol.build_policy(
            config.max_operand, config.max_tokens, config.hidden, config.seed
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        self.version = 0
        self.records: list[dict[str, Any]] = []
        self.untrained_reward = self.evaluate()
        if resume is not None:
            state = ckpt.load(Path(resume))
            ckpt.restore(self.model, self.optimizer, state, Path(resume))
            self.version = int(state["version"])
            self.records = list(state["records"])
            self.untrained_reward = float(state["untrained_reward"])
        self.ledger = Ledger()
        self._given_plane = plane
        self.plane: DataPlaneClient | None = plane
        self._stop = threading.Event()
        self.collectors: list[Worker] = []
        self.ranks: list[Worker] = []

    # ----------------------------------------------------------------- public
    def stop(self) -> None:
        """Ask :meth:`run` to stop after the update in progress (thread-safe)."""
        self._stop.set()

    def evaluate(self, n: int | None = None) -> float:
        """Mean ``verify()`` reward of the current policy on ``n`` seeded samples."""
        n = self.cfg.eval_samples if n is None else n
        rows = self.task.problems()
        pick = [rows[i % len(rows)] for i in range(n)]
        a = np.array([r["a"] for r in pick], dtype=np.int64)
        b = np.array([r["b"] for r in pick], dtype=np.int64)
        rng = np.random.default_rng([10_007, self.cfg.seed])
        tokens, _, _ = pol.generate(pol.get_weights(self.model), a, b, self.cfg.max_tokens, rng)
        rewards = score(
            self.task.harness(), [decode(t) for t in tokens], [r["expected_answer"] for r in pick]
        )
        return float(np.mean(rewards))

    def attach(self, plane: DataPlaneClient) -> None:
        """Train through ``plane`` (left open), checked now: :meth:`run` would refuse it
        (:class:`UsageError`) when its partition already holds rollouts."""
        _open_partition(plane)
        self._given_plane = self.plane = plane

    def run(self) -> TrainResult:
        """Train until ``config.updates`` (or :meth:`stop`, or Ctrl-C: status ``interrupted``).

        Refuses (:class:`UsageError`) a plane whose partition already holds rollouts, and
        clears the partition when it ends, however it ends.
        """
        cfg = self.cfg
        plane = self._given_plane or connect(cfg.plane)
        self.plane = plane
        status, message = "ok", None
        began = time.monotonic()
        idle = 0.0
        samples_claimed = samples_trained = 0
        collector_stats: list[dict[str, Any]] = []
        try:
            _open_partition(plane)
        except BaseException:
            if self._given_plane is None:
                plane.close()
            raise
        try:
            self._start_workers(plane)
            staleness = StalenessFilter(cfg.max_staleness)
            while self.version < cfg.updates:
                if self._stop.is_set():
                    status = "interrupted"
                    break
                self._check_collectors()  # the others may keep the claims full
                wait_began = time.monotonic()
                meta = self._claim(plane)
                if meta is None:
                    status = "interrupted"
                    break
                waited = time.monotonic() - wait_began
                idle += waited
                step_began = time.monotonic()
                keep, drop = staleness.filter(meta, current_weight_version=self.version)
                self._account(meta, keep, drop)
                if drop.size:
                    plane.clear_samples(drop.sample_ids, PARTITION)
                rewards = self._train(keep) if keep.size else np.zeros(0)
                plane.clear_samples(keep.sample_ids, PARTITION)
                self.version += 1
                self._publish()
                samples_claimed += meta.size
                samples_trained += keep.size
                record = self._record(meta, keep, drop, rewards, waited, step_began, began)
                self.records.append(record)
                self._maybe_checkpoint()
                if self.on_update is not None:
                    self.on_update(record, self)
        except KeyboardInterrupt:
            status = "interrupted"
        except WorkerFailedError as exc:  # what was trained and checkpointed is kept
            status, message = "error", str(exc)
        finally:
            collector_stats = self._stop_workers()
            with contextlib.suppress(Exception):  # a plane that died has nothing left
                plane.clear_samples(None, PARTITION)  # in flight, claimed, not yet cleared
            if self._given_plane is None:
                plane.close()
        wall = max(time.monotonic() - began, 1e-9)
        busy = sum(s.get("busy_s", 0.0) for s in collector_stats)
        waiting = sum(s.get("wait_s", 0.0) for s in collector_stats)
        throughput = {
            "wall_s": wall,
            "samples_per_s": samples_claimed / wall,
            "trained_samples_per_s": samples_trained / wall,
            "trainer_idle_fraction": idle / wall,
            "collector_idle_fraction": waiting / max(busy + waiting, 1e-9),
        }
        final = self.evaluate() if status == "ok" else None
        return TrainResult(
            status,
            self.records,
            self.ledger,
            self.untrained_reward,
            final,
            throughput,
            self.version,
            message,
        )

    # ---------------------------------------------------------------- helpers
    def _start_workers(self, plane: Any) -> None:
        cfg = self.cfg
        use_ray = cfg.use_ray
        where = cfg.plane if use_ray else plane
        weights = pol.get_weights(self.model)
        data = cfg.to_dict()
        self.ranks = [
            start_worker(use_ray, GradientRank, where, data, label=f"gradient rank {i}")
            for i in range(cfg.dp_size)
        ]
        self.collectors = [
            start_worker(
                use_ray,
                PolicyCollector,
                *(where, data, i, weights, self.version, self.version),
                label=f"collector {i}",
            )
            for i in range(cfg.num_collectors)
        ]
        for c in self.collectors:
            c.call("start")

    def _stop_workers(self) -> list[dict[str, Any]]:
        stats = []
        for c in self.collectors:  # a dead or hung actor has nothing to report
            with contextlib.suppress(Exception):
                stats.append(c.submit("stop").result(timeout=STATS_TIMEOUT_S))
            c.kill()
        for r in self.ranks:  # a dead or hung actor needs no closing
            with contextlib.suppress(Exception):
                r.submit("close").result(timeout=STATS_TIMEOUT_S)
            r.kill()
        self.collectors, self.ranks = [], []
        return stats

    def _claim(self, plane: Any) -> Any:
        cfg = self.cfg
        while not self._stop.is_set():
            try:
                return plane.claim_meta(
                    PARTITION, TRAINER_TASK, FIELDS, cfg.batch_size, timeout_s=cfg.claim_poll_s
                )
            except ClaimTimeoutError:
                self._check_collectors()
        return None

    def _check_collectors(self) -> None:
        """A :class:`WorkerFailedError` when a collector's loop raised or its Ray actor
        died. Called before every claim, not only when a claim times out: one dead
        collector among several leaves the others filling the claims (up to
        ``max_staleness`` versions ahead), so a run would train on without it. The
        collectors are asked at once, so a check costs one round trip. One that does not
        answer within :data:`STATS_TIMEOUT_S` (its process stopped, its node cut off) has
        failed too: the run would otherwise wait for it for ever."""
        for pending in [c.submit("stats") for c in self.collectors]:
            stats = pending.result(timeout=STATS_TIMEOUT_S)  # WorkerFailedError if none
            if stats["error"]:
                raise WorkerFailedError(f"collector {stats['index']} failed: {stats['error']}")

    def _account(self, meta: Any, keep: Any, drop: Any) -> None:
        self.ledger.claimed.extend(int(s) for s in meta.sample_ids)
        for part, book in ((keep, self.ledger.trained), (drop, self.ledger.dropped)):
            for sid, tags in zip(part.sample_ids, part.tags, strict=True):
                book[int(sid)] = self.version - int(tags["weight_version"])

    def _train(self, keep: Any) -> np.ndarray:
        import torch

        weights = pol.get_weights(self.model)
        shards = [s for s in shard_for_dp(keep, self.cfg.dp_size) if s.size]
        pending = [
            rank.submit("gradients", shard, weights)
            for rank, shard in zip(self.ranks, shards, strict=False)
        ]
        results = [p.result() for p in pending]
        tokens = max(sum(t for _, t in results), 1.0)
        self.optimizer.zero_grad()
        params = dict(self.model.named_parameters())
        for name, p in params.items():
            total = sum(g[name] for g, _ in results if name in g)
            p.grad = torch.as_tensor(np.asarray(total) / tokens, dtype=p.dtype)
        self.optimizer.step()
        return np.array([t.get("reward", np.nan) for t in keep.tags], dtype=float)

    def _publish(self) -> None:
        weights = pol.get_weights(self.model)
        for c in self.collectors:
            c.cast("set_weights", self.version, weights)

    def _record(
        self,
        meta: Any,
        keep: Any,
        drop: Any,
        rewards: np.ndarray,
        waited: float,
        step_began: float,
        began: float,
    ) -> dict[str, Any]:
        versions = [int(t["weight_version"]) for t in meta.tags]
        by_version: dict[str, list[float]] = {}
        for t in meta.tags:
            entry = by_version.setdefault(str(int(t["weight_version"])), [0.0, 0])
            entry[0] += float(t["reward"])
            entry[1] += 1
        return {
            "update": self.version - 1,
            "version": self.version,
            "reward": float(np.mean(rewards)) if rewards.size else None,
            "claimed": meta.size,
            "trained": keep.size,
            "stale_dropped": drop.size,
            "oldest_version": min(versions),
            "newest_version": max(versions),
            "claim_wait_s": round(waited, 6),
            "step_s": round(time.monotonic() - step_began, 6),
            "elapsed_s": round(time.monotonic() - began, 6),
            "reward_by_version": by_version,
        }

    def _maybe_checkpoint(self) -> None:
        every = self.cfg.checkpoint_every
        if every and self.checkpoint_dir is not None and self.version % every == 0:
            ckpt.save(
                self.checkpoint_dir,
                self.version,
                {
                    "model": self.model.state_dict(),
                    "optimizer": self.optimizer.state_dict(),
                    "version": self.version,
                    "records": self.records,
                    "untrained_reward": self.untrained_reward,
                    "config": self.cfg.to_dict(),
                },
            )
