"""Optuna GP ask time with greenlet (batched L-BFGS-B) against without (its sequential
fallback), side by side in one run.

Each round runs a child Python per setting, alternating: a seeded ``GPSampler`` study on
a 5-D sphere asks and tells ``--trials`` trials; the figure is the mean ask time over the
last 10 trials (never the first 10, which are random startup trials). The child without
greenlet hides it (``sys.modules["greenlet"] = None``), which makes Optuna take its
fallback ("greenlet is unavailable, falling back to sequential L-BFGS-B"). Each
setting's best round counts (the one least disturbed by other load), and the median is
printed too. The best values found are printed as well: both settings should search alike.

Run: .venv/bin/python benchmarks/bench_gp_ask.py [--trials 50] [--rounds 3] [--quick]

``--quick`` (what the test runs): 12 trials, 1 round.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = """
import json, sys, time, warnings
if sys.argv[1] == "off":
    sys.modules["greenlet"] = None  # Optuna's GP then falls back to sequential L-BFGS-B
import optuna
warnings.simplefilter("ignore")
optuna.logging.set_verbosity(optuna.logging.ERROR)
trials, seed = int(sys.argv[2]), int(sys.argv[3])
space = {f"x{j}": optuna.distributions.FloatDistribution(-5, 5) for j in range(5)}
study = optuna.create_study(sampler=optuna.samplers.GPSampler(seed=seed))
times = []
for _ in range(trials):
    start = time.perf_counter()
    trial = study.ask(space)
    times.append(time.perf_counter() - start)
    study.tell(trial, sum((v - 1) ** 2 for v in trial.params.values()))
last = times[max(10, trials - 10):]  # model asks only (the first 10 are random)
print(json.dumps({"ask_ms": sum(last) / len(last) * 1e3, "best": study.best_value}))
"""


def child(setting: str, trials: int, seed: int) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, setting, str(trials), str(seed)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="12 trials, 1 round")
    args = parser.parse_args(argv)
    if args.quick:
        args.trials, args.rounds = 12, 1
    if args.trials <= 10:
        parser.error("--trials must be above 10 (the first 10 asks are random)")
    runs: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
    for seed in range(args.rounds):
        for setting in ("on", "off"):
            runs[setting].append(child(setting, args.trials, seed))
    shown = min(10, args.trials - 10)
    print(f"Optuna GPSampler ask time, 5-D sphere, mean of the last {shown} of {args.trials} asks")
    best: dict[str, float] = {}
    for setting, label in (("on", "greenlet"), ("off", "no greenlet")):
        times = [r["ask_ms"] for r in runs[setting]]
        best[setting] = min(times)
        found = ", ".join(f"{r['best']:.3g}" for r in runs[setting])
        print(
            f"  {label:<12} best round {min(times):8.1f} ms  median {statistics.median(times):8.1f}"
            f" ms  best values per seed: {found}"
        )
    print(f"ratio no greenlet / greenlet: {best['off'] / best['on']:.2f} (best rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
