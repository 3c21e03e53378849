"""Pruning against no pruning: same agent, seed and wall-clock budget (issue 16).

The workload is a synthetic learning curve run as a real command (this script with
``--trial``): per epoch it sleeps ``--epoch-s`` and prints ``epoch <n> loss=<v>``. Its
curves are realistic: they fall exponentially towards a final loss with a known optimum
(lr = 10^-1.5, reg = 0.3), a low learning rate converges slowly (so good configurations
start behind and curves cross in the first epochs), and every point has seeded noise that
shrinks as training goes on (0.03 / epoch). Each seed runs the job twice with Optuna's
TPE and ``agent.budget_s``: once with a median pruner (``n_startup_trials = 5``,
``n_warmup_steps = 5``: a fifth of the run), once without. Printed per seed and as the
median over seeds:

* time to reach within 1% of the best final loss found by either arm (wall seconds from
  the job's start to the end of the first completed trial that good), and the trial-seconds
  spent until then (the sum of every trial's duration, pruned ones included);
* trials completed and pruned, and total trial-seconds;
* the ratio pruned/unpruned of the trial-seconds to that quality (target <= 0.5x); when
  the unpruned arm never got there within the budget, its whole spend stands in (so the
  ratio is an upper bound, printed ``<=``);
* that no arm recommended a configuration that was pruned.

    .venv/bin/python benchmarks/bench_pruning.py            # 10 seeds, 25 s budget per arm
    .venv/bin/python benchmarks/bench_pruning.py --quick    # 2 seeds, 4 s budget (a test runs it)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

EPOCHS = 25
OPTIMUM = (-1.5, 0.3)  # log10(lr), reg


def curve_point(lr: float, reg: float, epoch: int, seed: int) -> float:
    """The loss of configuration (lr, reg) after ``epoch`` epochs (seeded noise)."""
    x = math.log10(lr)
    final = 0.3 + 0.15 * (x - OPTIMUM[0]) ** 2 + 0.5 * (reg - OPTIMUM[1]) ** 2
    tau = 1.0 + 4.0 * (-x) / 3.0  # lr 1 converges in ~1 epoch, lr 1e-3 in ~5
    digest = hashlib.sha256(f"{lr!r} {reg!r} {epoch} {seed}".encode()).digest()
    u1, u2 = (int.from_bytes(digest[i : i + 4], "big") / 2**32 for i in (0, 4))
    noise = math.sqrt(-2 * math.log(max(u1, 1e-12))) * math.cos(2 * math.pi * u2)
    return final + (1.0 + 0.5 * reg) * math.exp(-epoch / tau) + (0.03 / epoch) * noise


def run_trial(args: argparse.Namespace) -> int:
    loss = math.nan
    for epoch in range(1, EPOCHS + 1):
        time.sleep(args.epoch_s)
        loss = curve_point(args.lr, args.reg, epoch, args.seed)
        print(f"epoch {epoch} loss={loss:.6f}", flush=True)
    print(f"final loss={loss:.6f}")
    return 0


def workload(seed: int, budget_s: float, epoch_s: float, pruned: bool) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": "optuna",
        "max_steps": 10_000,
        "seed": seed,
        "reward": "negative",
        "budget_s": budget_s,
        "budget_grace_s": 0.0,
    }
    if pruned:
        agent["pruner"] = {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 5}
    return {
        "name": "curve",
        "command": [
            sys.executable,
            str(Path(__file__).resolve()),
            "--trial",
            "--lr={lr}",
            "--reg={reg}",
            f"--seed={seed}",
            f"--epoch-s={epoch_s}",
        ],
        "params": {"lr": {"low": 1e-3, "high": 1.0, "log": True}, "reg": {"low": 0.0, "high": 1.0}},
        "metrics": [
            {"name": "loss", "regex": r"final loss=(\S+)", "progress": r"epoch (\d+) loss=(\S+)"}
        ],
        "agent": agent,
    }


def run_arm(root: Path, seed: int, budget_s: float, epoch_s: float, pruned: bool) -> dict:
    from tunegym.outputs.toml import dumps
    from tunegym.run import RunOptions, run_scenario
    from tunegym.spec import load
    from tunegym.trial.store import open_run_db

    name = f"seed{seed}-{'pruned' if pruned else 'plain'}"
    path = root / f"{name}.toml"
    path.write_text(dumps(workload(seed, budget_s, epoch_s, pruned)))
    result = run_scenario(load(path), RunOptions(output=root / name, progress=False, verbosity=0))
    summary = json.loads((result.run_dir / "summary.json").read_text())["jobs"][0]
    db = open_run_db(result.run_dir)
    rows = db.rows("curve", 0)  # completion order
    db.close()
    start = min(r.started_at for r in rows)
    pruned_actions = [dict(r.action) for r in rows if r.status == "pruned"]
    best = summary.get("best")
    return {
        "rows": rows,
        "start": start,
        "completed": sum(r.status == "ok" for r in rows),
        "pruned": len(pruned_actions),
        "trial_s": sum(r.duration_s for r in rows),
        "best_final": min((r.observation["loss"] for r in rows if r.status == "ok"), default=None),
        "best_is_pruned": best is not None and best["action"] in pruned_actions,
    }


def to_quality(arm: dict, target: float) -> tuple[float, float]:
    """(wall seconds, trial-seconds) until a completed trial reached ``target``."""
    spent = 0.0
    for row in arm["rows"]:
        spent += row.duration_s
        if row.status == "ok" and row.observation["loss"] <= target:
            return row.started_at + row.duration_s - arm["start"], spent
    return math.inf, math.inf


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trial", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lr", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--reg", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--epoch-s", type=float, default=0.02)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=25.0, help="seconds per arm")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 s budget")
    args = parser.parse_args()
    if args.trial:
        return run_trial(args)
    if args.quick:
        args.seeds, args.budget = 2, 4.0
    print(
        f"synthetic learning curves: {EPOCHS} epochs x {args.epoch_s} s, TPE, "
        f"budget {args.budget:g} s per arm, {args.seeds} seed(s)"
    )
    ratios, lines, bad_best, plain_reached = [], [], 0, 0
    with tempfile.TemporaryDirectory(prefix="bench-pruning-") as tmp:
        for seed in range(args.seeds):
            plain = run_arm(Path(tmp), seed, args.budget, args.epoch_s, pruned=False)
            pruned = run_arm(Path(tmp), seed, args.budget, args.epoch_s, pruned=True)
            finals = [a["best_final"] for a in (plain, pruned) if a["best_final"] is not None]
            target = min(finals) * 1.01 if finals else math.inf
            (pw, pt), (qw, qt) = to_quality(plain, target), to_quality(pruned, target)
            bound = ""
            plain_reached += math.isfinite(pt)
            if math.isfinite(pt):
                ratio = qt / pt
            elif math.isfinite(qt):  # plain never got there: it needed more than it spent
                ratio, bound = qt / plain["trial_s"], "<="
            else:
                ratio = math.nan
            if not math.isnan(ratio):
                ratios.append(ratio)
            bad_best += plain["best_is_pruned"] + pruned["best_is_pruned"]
            lines.append(
                f"seed {seed:2d}: to 1% of best {target / 1.01:.4f}: "
                f"plain {pw:6.1f} s / {pt:6.1f} trial-s, pruned {qw:6.1f} s / {qt:6.1f} trial-s"
                f" | completed {plain['completed']:3d} vs {pruned['completed']:3d}, pruned "
                f"{pruned['pruned']:3d} | trial-s {plain['trial_s']:5.1f} vs "
                f"{pruned['trial_s']:5.1f} | ratio {bound}{ratio:.2f}"
            )
            print(lines[-1], flush=True)
    median = statistics.median(ratios) if ratios else math.nan
    print(
        f"seeds where plain reached the target within its budget: {plain_reached} of {args.seeds}"
    )
    print(f"median ratio pruned/plain trial-seconds to 1% of best: {median:.2f}x (target <= 0.5x)")
    print(f"configurations recommended that were pruned: {bad_best} (target 0)")
    return 0 if bad_best == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
