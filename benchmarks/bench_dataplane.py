"""Data-plane round trip, every backend side by side in one run.

One round = put + claim + filter + shard + get + clear of 256 samples, each 1024 int64
plus 1024 float32 (3 MiB in all): the put tags half the samples two weight versions
old, ``StalenessFilter(max_age=1)`` drops them, the rest is sharded over 4 ranks,
each rank's columns are read, and every sample of the round is cleared. A second
figure is tags-only claim throughput: samples per second of ``claim_meta`` alone
(batches of 256 from a partition filled beforehand, no data read).

Usage:
    python benchmarks/bench_dataplane.py [--rounds N] [--backends memory,ray,transferqueue]
        [--quick]

``--quick`` (what the test runs) times 3 rounds of the memory and ray backends.

Targets (issue 6): memory under 3 ms per round; ray faster than transferqueue on the
same round. Ratios are against the memory backend run in this same process.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Any

import numpy as np

from tunegym.dataplane import DataPlaneClient, StalenessFilter, connect, shard_for_dp

N = 256
WIDTH = 1024
DP = 4
CLAIM_TOTAL = 4096
CONFIGS: dict[str, dict[str, Any]] = {
    "memory": {"backend": "memory"},
    "ray": {"backend": "ray", "name": "tunegym-bench-plane", "namespace": "tunegym-bench"},
    "transferqueue": {"backend": "transferqueue", "num_storage_units": 2},
}
DEFAULT_ROUNDS = {"memory": 300, "ray": 60, "transferqueue": 30}


def one_round(plane: DataPlaneClient, pid: str, k: int, cols: dict[str, np.ndarray]) -> None:
    ids = list(range(k * N, (k + 1) * N))
    version = k + 2
    tags = [{"weight_version": version - 2 if i < N // 2 else version} for i in range(N)]
    plane.put_samples(ids, pid, cols, tags)
    meta = plane.claim_meta(pid, "trainer", ["tokens", "logprobs"], N, timeout_s=60)
    keep, drop = StalenessFilter(max_age=1).filter(meta, current_weight_version=version)
    assert keep.size == N // 2 and drop.size == N // 2
    for rank_meta in shard_for_dp(keep, DP):
        data = plane.get_data(rank_meta)
        assert data["tokens"].shape == (rank_meta.size, WIDTH)
    plane.clear_samples(ids, pid)


def bench_rounds(plane: DataPlaneClient, rounds: int) -> list[float]:
    pid = "bench-rounds"
    plane.register_partition(pid, ["tokens", "logprobs"], ["trainer"])
    rng = np.random.default_rng(0)
    cols = {
        "tokens": rng.integers(0, 50_000, size=(N, WIDTH), dtype=np.int64),
        "logprobs": rng.standard_normal((N, WIDTH), dtype=np.float32),
    }
    for k in range(3):  # warm-up: connections, worker imports, allocator
        one_round(plane, pid, k, cols)
    times = []
    for k in range(3, 3 + rounds):
        t0 = time.perf_counter()
        one_round(plane, pid, k, cols)
        times.append(time.perf_counter() - t0)
    return times


def bench_claims(plane: DataPlaneClient) -> float:
    pid = "bench-claims"
    plane.register_partition(pid, ["flag"], ["trainer"])
    ids = list(range(CLAIM_TOTAL))
    tags = [{"weight_version": i % 7} for i in ids]
    plane.put_samples(ids, pid, {"flag": np.ones(CLAIM_TOTAL, np.int8)}, tags)
    t0 = time.perf_counter()
    claimed = 0
    while claimed < CLAIM_TOTAL:
        claimed += plane.claim_meta(pid, "trainer", ["flag"], N, blocking=False).size
    elapsed = time.perf_counter() - t0
    plane.clear_samples(None, pid)
    return CLAIM_TOTAL / elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per backend")
    parser.add_argument("--backends", default="memory,ray,transferqueue")
    parser.add_argument("--quick", action="store_true", help="3 rounds, memory and ray")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.backends = 3, "memory,ray"
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]

    if any(b != "memory" for b in backends):
        os.environ.setdefault("TQ_LOGGING_LEVEL", "ERROR")
        import ray

        ray.init(
            address="local",
            num_cpus=2 if args.quick else 8,
            include_dashboard=False,
            log_to_driver=False,
        )

    mib = N * WIDTH * (8 + 4) / 2**20
    print(f"bench_dataplane: {N} samples x ({WIDTH} int64 + {WIDTH} float32) = {mib:.1f} MiB/round")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cpus, Python {platform.python_version()}"
    )
    results: dict[str, tuple[float, float, float]] = {}
    for name in backends:
        t0 = time.perf_counter()
        plane = connect(CONFIGS[name])
        started = time.perf_counter() - t0
        rounds = args.rounds or DEFAULT_ROUNDS[name]
        times = bench_rounds(plane, rounds)
        rate = bench_claims(plane)
        plane.close()
        med = statistics.median(times) * 1e3
        p90 = statistics.quantiles(times, n=10)[-1] * 1e3 if len(times) >= 2 else med
        results[name] = (med, p90, rate)
        print(f"  {name}: connect {started:.1f}s, {rounds} rounds timed")

    print()
    print(f"{'backend':<14}{'round ms (median)':>18}{'p90 ms':>9}{'MiB/s':>9}{'claims/s':>12}")
    for name, (med, p90, rate) in results.items():
        print(f"{name:<14}{med:>18.2f}{p90:>9.2f}{mib / med * 1e3:>9.0f}{rate:>12.0f}")
    print()
    if "memory" in results:
        base = results["memory"]
        for name, (med, _, rate) in results.items():
            if name != "memory":
                print(
                    f"{name} / memory: round {med / base[0]:.1f}x, claims/s {rate / base[2]:.2f}x"
                )
    if "ray" in results and "transferqueue" in results:
        r, t = results["ray"], results["transferqueue"]
        print(f"transferqueue / ray: round {t[0] / r[0]:.1f}x, claims/s {t[2] / r[2]:.2f}x")
    print()
    if "memory" in results:
        ok = results["memory"][0] < 3.0
        print(f"target memory < 3 ms/round: {'met' if ok else 'NOT met'}")
    if "ray" in results and "transferqueue" in results:
        ok = results["ray"][0] < results["transferqueue"][0]
        print(f"target ray faster than transferqueue: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
