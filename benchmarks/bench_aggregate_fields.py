"""``/aggregate_metrics``: time against the number of distinct fields in each response.

Figure: seconds to aggregate 2 verify responses of F numeric fields each, at F and 8F,
and how much the time grows against how much the fields did (8x). Linear work grows
about 8x; the list-membership test this replaced (2026-12-07) made it about 64x: two
requests of 20,000 fields (635 KB each) held both aggregate threads for 100 s.

Run: ``.venv/bin/python benchmarks/bench_aggregate_fields.py [--fields 2500]``;
``--quick`` uses 500 fields.
"""

from __future__ import annotations

import argparse
import time

from tunegym.harness.base import load_harness
from tunegym.harness.metrics import aggregate_metrics

GROWTH = 8


def seconds(fields: int, repeats: int = 3) -> float:
    """The best of ``repeats`` aggregations of 2 responses with ``fields`` fields each."""
    harness = load_harness("arithmetic")
    responses = [
        {"reward": 1.0, "_ng_task_index": 0, **{f"f{j}": float(j + i) for j in range(fields)}}
        for i in range(2)
    ]
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        aggregate_metrics(responses, harness.compute_metrics, harness.key_metrics)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fields", type=int, default=2500)
    parser.add_argument("--quick", action="store_true", help="a smoke run (500 fields)")
    args = parser.parse_args()
    small = 500 if args.quick else args.fields
    large = small * GROWTH
    t_small, t_large = seconds(small), seconds(large)
    print(f"2 responses x {small} fields: {t_small:.3f} s")
    print(f"2 responses x {large} fields: {t_large:.3f} s")
    print(
        f"time grew {t_large / t_small:.1f}x for {GROWTH}x the fields "
        f"(linear: {GROWTH}x, quadratic: {GROWTH**2}x)"
    )


if __name__ == "__main__":
    main()
