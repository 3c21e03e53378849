"""Steps per second of a trivial live GymServer: called directly, through ``LiveEnv``
(the live ``WorkloadEnv``: counter, env params, SQLite + trajectory.csv per step), and
through ``GymnasiumAdapter`` on top of it (what an RL library sees). The trial store's
``append`` alone is timed too: it is the floor every logged step pays.

Target: at least 20,000 steps/s through the adapter with logging on. Each figure is the
best of ``--repeats`` timed runs of ``--steps`` steps, printed with its ratio to the
direct call, measured in the same process.

    python benchmarks/bench_live_step.py [--steps 20000] [--repeats 5] [--quick]

``--quick`` (what the test runs): 500 steps, one timed run.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SERVER = textwrap.dedent(
    """
    class TrivialServer:
        def action_space(self):
            return {"x": [0, 1, 2, 3]}

        def observation_space(self):
            return ["value"]

        def reset(self, seed=None, options=None):
            return {"value": 0.0}, {}

        def step(self, params):
            return {"value": float(params["x"])}, float(params["x"]), False, False, {}
    """
)

WORKLOAD = textwrap.dedent(
    """
    name = "bench-live"
    mode = "live"
    server = "bench_trivial_server:TrivialServer"

    [agent]
    metrics = ["value"]
    """
)


def _best_rate(run: Callable[[int], None], steps: int, repeats: int) -> float:
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        run(steps)
        best = max(best, steps / (time.perf_counter() - start))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="500 steps, one timed run")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.repeats = 500, 1

    import tunegym
    from tunegym.gym import GymnasiumAdapter

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "bench_trivial_server.py").write_text(SERVER)
        (folder / "workload.toml").write_text(WORKLOAD)
        sys.path.insert(0, str(folder))
        from bench_trivial_server import TrivialServer  # type: ignore[import-not-found]

        server = TrivialServer()
        server.reset()
        params = [{"x": i % 4} for i in range(4)]

        def direct(n: int) -> None:
            for i in range(n):
                server.step(params[i & 3])

        env = tunegym.make_env(folder / "workload.toml", output=folder / "runs")
        env.reset(seed=0)
        actions = [{"x": i} for i in range(4)]

        def live_env(n: int) -> None:
            for i in range(n):
                env.step(actions[i & 3])

        adapter = GymnasiumAdapter(
            tunegym.make_env(folder / "workload.toml", output=folder / "runs"), flatten=True
        )
        adapter.reset(seed=0)
        encoded = [np.array([i], dtype=np.int64) for i in range(4)]

        def through_adapter(n: int) -> None:
            for i in range(n):
                adapter.step(encoded[i & 3])

        # The logging floor: the trial store alone (SQLite commit + CSV rows per step).
        from tunegym.trial.store import TrialRow, TrialStore

        store = TrialStore(env.store.db, "bench-store", 0, folder / "store", [])
        next_step = iter(range(1, 10**9))

        def store_only(n: int) -> None:
            for i in range(n):
                store.append(
                    TrialRow(next(next_step), actions[i & 3], {}, {"value": 1.0}, 1.0, "ok")
                )

        rates = {
            "direct server.step": _best_rate(direct, args.steps, args.repeats),
            "TrialStore.append alone": _best_rate(store_only, args.steps, args.repeats),
            "LiveEnv.step (logging on)": _best_rate(live_env, args.steps, args.repeats),
            "GymnasiumAdapter.step (logging on)": _best_rate(
                through_adapter, args.steps, args.repeats
            ),
        }
        rows = env.store.rows()
        assert len(rows) == env.sweep.step, "every step must be a logged row"
        store.close()
        env.close()
        adapter.close()

    print(f"bench_live_step: {args.steps} steps x best of {args.repeats}")
    print(f"machine: {platform.machine()}, {platform.system()}, Python {platform.python_version()}")
    base = rates["direct server.step"]
    for name, rate in rates.items():
        print(f"  {name:36} {rate:12,.0f} steps/s   ratio to direct {rate / base:.4f}")
    adapter_rate = rates["GymnasiumAdapter.step (logging on)"]
    verdict = "meets" if adapter_rate >= 20_000 else "MISSES"
    print(f"  target 20,000 steps/s through the adapter: {verdict} ({adapter_rate:,.0f})")


if __name__ == "__main__":
    main()
