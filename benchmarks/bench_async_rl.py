"""Async vs sync GRPO through the data plane: throughput at equal quality.

The same task, seed and number of samples (``--updates`` x 128) run twice with
:class:`tunegym.rl.AsyncGRPOTrainer`: ``sync`` (collectors wait for each update,
``max_staleness = 0``) and ``async`` (2 collectors, ``max_staleness`` 1 by default), both
with 2 gradient ranks on the memory data plane. Generation is the slow side, as in LLM RL:
each decoding step costs ``--token-latency`` seconds per collector batch (64 samples) and
each sample ``--train-latency`` seconds on its rank, so per update about 0.12 s of
generation against 0.08 s of training by default.

Prints, per mode, wall time, samples/s, the mean reward of the last 10% of updates and the
untrained policy's reward, then async/sync throughput and reward ratios.
Targets: async/sync >= 1.5x samples/s, async reward within 5% of sync's, and both far
above the untrained policy. ``--quick`` runs a few updates without checking the targets.

    .venv/bin/python benchmarks/bench_async_rl.py            # ~2 x 60 s
    .venv/bin/python benchmarks/bench_async_rl.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import math
import sys
import time

from tunegym.rl import AsyncGRPOTrainer, AsyncRLConfig, TrainResult


def run(cfg: AsyncRLConfig) -> tuple[TrainResult, float]:
    began = time.perf_counter()
    result = AsyncGRPOTrainer(cfg).run()
    return result, time.perf_counter() - began


def tail_reward(result: TrainResult) -> float:
    return result.last_reward(max(1, len(result.records) // 10))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few updates, targets not checked")
    parser.add_argument("--updates", type=int, default=300)
    parser.add_argument("--max-staleness", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--token-latency", type=float, default=0.04)
    parser.add_argument("--train-latency", type=float, default=0.0012)
    args = parser.parse_args()
    updates = 6 if args.quick else args.updates
    base = AsyncRLConfig(
        updates=updates,
        num_collectors=2,
        dp_size=2,
        seed=args.seed,
        token_latency_s=args.token_latency,
        train_latency_s=args.train_latency,
        claim_poll_s=0.05,
    )
    rows = {}
    for mode, staleness in (("sync", 0), ("async", args.max_staleness)):
        result, wall = run(base.replace(mode=mode, max_staleness=staleness))
        rows[mode] = {
            "wall": result.throughput["wall_s"],
            "total": wall,
            "rate": result.throughput["samples_per_s"],
            "reward": tail_reward(result),
            "untrained": result.untrained_reward,
            "stale": sum(r["stale_dropped"] for r in result.records),
            "idle_t": result.throughput["trainer_idle_fraction"],
            "idle_c": result.throughput["collector_idle_fraction"],
        }
    print(
        f"updates: {updates} x {base.batch_size} samples, 2 collectors, dp_size 2, "
        f"token latency {args.token_latency}s, train latency {args.train_latency}s/sample"
    )
    print(
        f"{'mode':<24}{'wall s':>8}{'samples/s':>11}{'reward':>8}{'untrained':>10}"
        f"{'stale':>7}{'idle trainer':>13}{'idle coll.':>11}"
    )
    for mode in ("sync", "async"):
        r = rows[mode]
        label = mode if mode == "sync" else f"async (max_staleness {args.max_staleness})"
        print(
            f"{label:<24}{r['wall']:>8.2f}{r['rate']:>11.0f}{r['reward']:>8.3f}"
            f"{r['untrained']:>10.3f}{r['stale']:>7d}{r['idle_t']:>13.2f}{r['idle_c']:>11.2f}"
        )
    speedup = rows["async"]["rate"] / rows["sync"]["rate"]
    quality = (
        rows["async"]["reward"] / rows["sync"]["reward"] if rows["sync"]["reward"] else math.nan
    )
    margin = rows["async"]["reward"] - rows["async"]["untrained"]
    print(f"ratio async/sync samples/s : {speedup:6.2f}x  (target >= 1.5x)")
    print(f"ratio async/sync reward    : {quality:6.3f}   (target >= 0.95)")
    print(f"async reward over untrained: {margin:+6.3f}  (last 10% of updates)")
    if args.quick:
        return 0
    ok = speedup >= 1.5 and quality >= 0.95 and margin >= 0.3
    print("targets met" if ok else "targets NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
