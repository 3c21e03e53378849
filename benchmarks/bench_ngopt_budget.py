"""auto's NGOpt arm planned for ``max_steps`` against planned for the trials that happen.

Nevergrad's NGOpt picks its algorithm from the budget it is given: on two float ranges,
Cobyla up to 100 evaluations, a meta-model at 200-300, CMA-ES at 500-1000 and a portfolio
of rescaled optimizers from 2000. tunegym gives it ``max_steps``. A job bounded by time
(``agent.budget_s``) with a large ``max_steps`` ("run until the time is up") therefore
gets the algorithm for thousands of evaluations, and may run forty. This script measures
what that costs on bench_pruning's learning curves: the median regret after 10, 20 and 40
trials over seeds, NGOpt planned for ``--planned`` evaluations against planned for the 40
that run, with Optuna's TPE beside them (its choices do not depend on the budget); and
what a trial costs in NGOpt's ask and tell under each plan. The regret of a run is the
noiseless final loss of its best trial (chosen by the measured one) minus the optimum's
0.3; printed with the ratio planned / fitted.

    .venv/bin/python benchmarks/bench_ngopt_budget.py             # 10 seeds, planned 10000
    .venv/bin/python benchmarks/bench_ngopt_budget.py --quick     # 2 seeds (a test runs it)
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_pruning import EPOCHS, curve_point, final_loss
from bench_pruning_sim import WORKLOADS, NGOptProposer, OptunaProposer

TRIALS = 40
CHECKPOINTS = (10, 20, 40)
OPTIMUM = 0.3
SPACE = WORKLOADS["curves"].space  # bench_pruning's: lr, reg


def regrets(proposer: OptunaProposer | NGOptProposer, seed: int) -> list[float]:
    """After each of ``TRIALS`` trials run to their end: the regret of the best so far
    (chosen by its measured final loss; the regret is its noiseless final minus 0.3)."""
    best, chosen, out = float("inf"), float("inf"), []
    for _ in range(TRIALS):
        action = proposer.ask()
        lr, reg = action["lr"], action["reg"]
        curve = [(e, curve_point(lr, reg, e, seed)) for e in range(1, EPOCHS + 1)]
        proposer.tell(curve, pruned=False)
        if curve[-1][1] < best:
            best, chosen = curve[-1][1], final_loss(lr, reg) - OPTIMUM
        out.append(chosen)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--planned", type=int, default=10_000, help="NGOpt's budget (max_steps)")
    parser.add_argument("--quick", action="store_true", help="2 seeds")
    args = parser.parse_args()
    if args.quick:
        args.seeds = 2
    warnings.simplefilter("ignore")  # nevergrad's notes on converged sub-optimizers
    arms: dict[str, Callable[[int], OptunaProposer | NGOptProposer]] = {
        f"ngopt planned {args.planned}": lambda seed: NGOptProposer(seed, SPACE, args.planned),
        f"ngopt planned {TRIALS}": lambda seed: NGOptProposer(seed, SPACE, TRIALS),
        "tpe": lambda seed: OptunaProposer("tpe", seed, SPACE),
    }
    print(f"bench_pruning's curves, trials run to their end, {args.seeds} seed(s)")
    medians: dict[str, list[float]] = {}
    for name, make in arms.items():
        runs = [regrets(make(seed), seed) for seed in range(args.seeds)]
        medians[name] = [statistics.median(r[k - 1] for r in runs) for k in CHECKPOINTS]
        shown = "  ".join(
            f"{k:2d}: {m:.4f}" for k, m in zip(CHECKPOINTS, medians[name], strict=True)
        )
        print(f"{name:>20} | median regret after {shown}", flush=True)
    planned, fitted = (medians[name] for name in list(arms)[:2])
    for k, a, b in zip(CHECKPOINTS, planned, fitted, strict=True):
        ratio = a / b if b > 0 else float("inf")
        print(
            f"after {k:2d} trials: regret planned {args.planned} / planned {TRIALS}: {ratio:.2f}x"
        )
    for plan in (args.planned, TRIALS):  # what each plan costs per trial in tunegym's process
        proposer = NGOptProposer(0, SPACE, plan)
        start = time.perf_counter()
        regrets(proposer, 0)
        per_trial = (time.perf_counter() - start) / TRIALS
        print(f"ngopt planned {plan}: {per_trial * 1000:.1f} ms per trial (ask, curve, tell)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
