"""Pruning against no pruning: same agent, seed and wall-clock budget (issue 16).

The workload is a synthetic learning curve run as a real command (this script with
``--trial``): per epoch it sleeps ``--epoch-s`` and prints ``epoch <n> loss=<v>``. Its
curves are realistic: they fall exponentially towards a final loss with a known optimum
(lr = 10^-1.5, reg = 0.3), a low learning rate converges slowly (so good configurations
start behind and curves cross in the first epochs), and every point has seeded noise that
shrinks as training goes on (0.03 / epoch). Each seed runs the job twice with Optuna's
TPE and ``agent.budget_s``: once without pruning (the baseline), and once per pruner
``--pruner`` names (comma-separated, side by side; see ``PRUNERS``; ``name@0.2`` sets
its ``poll_interval_s``, ``name@fixed0.2`` reads progress every 0.2 s exactly, as tunegym
did before its poll adapted). Printed per seed and arm, and per pruner as the median over
seeds:

* time to reach within 1% of the best final loss found by either arm (wall seconds from
  the job's start to the end of the first completed trial that good), and the trial-seconds
  spent until then (the sum of every trial's duration, pruned ones included);
* trials completed and pruned, and total trial-seconds;
* the ratio pruned/unpruned of the trial-seconds to that quality (target <= 0.5x); when
  the unpruned arm never got there within the budget, its whole spend stands in (so the
  ratio is an upper bound, printed ``<=``);
* that no arm recommended a configuration that was pruned;
* per pruner, what a pruned trial cost: its mean trial-seconds, and how many epochs it
  ran past the one whose point decided it (the decision latency, in epochs);
* per pruner, the ceiling of what any pruner with its start-up trials and earliest step
  could save on plain's trials (:func:`oracle_ratio`: it knows the finals and stops every
  trial but the start-up ones and the first good one at the earliest step it may).

    .venv/bin/python benchmarks/bench_pruning.py            # 10 seeds, 25 s budget per arm
    .venv/bin/python benchmarks/bench_pruning.py --pruner sh,median@0.2,hyperband
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

EPOCHS = 25
OPTIMUM = (-1.5, 0.3)  # log10(lr), reg
PRUNERS: dict[str, dict[str, Any]] = {
    # the first benchmark's pruner: a fifth of the run before any decision
    "median": {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 5},
    "median-w2": {"type": "median", "n_startup_trials": 5, "n_warmup_steps": 2},
    # keep the best third at each step after the same warm-up
    "p33": {"type": "percentile", "percentile": 33.0, "n_startup_trials": 5, "n_warmup_steps": 5},
    # ASHA-style rungs at epochs 1, 3, 9 (keep a third at each)
    "sh": {"type": "successive_halving", "min_resource": 1, "reduction_factor": 3},
    "sh-r4": {"type": "successive_halving", "min_resource": 1, "reduction_factor": 4},
    "sh-m3": {"type": "successive_halving", "min_resource": 3, "reduction_factor": 3},
    # rungs at epochs 5, 10, 20 (keep half): the best of Optuna's pruners in a simulation
    "sh-m5": {"type": "successive_halving", "min_resource": 5, "reduction_factor": 2},
    "hyperband": {
        "type": "hyperband",
        "min_resource": 1,
        "max_resource": EPOCHS,
        "reduction_factor": 3,
    },
}
DEFAULT_PRUNER = "median"


def final_loss(lr: float, reg: float) -> float:
    """The loss (lr, reg) converges to, without noise: 0.3 at the optimum."""
    return 0.3 + 0.15 * (math.log10(lr) - OPTIMUM[0]) ** 2 + 0.5 * (reg - OPTIMUM[1]) ** 2


def curve_point(lr: float, reg: float, epoch: int, seed: int) -> float:
    """The loss of configuration (lr, reg) after ``epoch`` epochs (seeded noise)."""
    x = math.log10(lr)
    final = final_loss(lr, reg)
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


def pruner_of(name: str) -> dict[str, Any]:
    """The ``[agent.pruner]`` table of ``name`` (a ``PRUNERS`` key, ``@seconds``: its
    poll interval, ``@fixedS``: the same, not adapting)."""
    key, _, poll = name.partition("@")
    if key not in PRUNERS:
        raise SystemExit(f"--pruner: unknown pruner {key!r}; known: {', '.join(PRUNERS)}")
    table = dict(PRUNERS[key])
    if poll:
        table["poll_interval_s"] = float(poll.removeprefix("fixed"))
    return table


@contextmanager
def polling(name: str | None) -> Iterator[None]:
    """``name@fixedS``: the watcher's shortest wait is S (a fixed poll every S seconds,
    as before tunegym's poll adapted); otherwise tunegym's own."""
    from tunegym.env import watch

    fastest = watch.FAST_POLL_S
    if name is not None and "@fixed" in name:
        watch.FAST_POLL_S = float(name.partition("@fixed")[2])
    try:
        yield
    finally:
        watch.FAST_POLL_S = fastest


def workload(seed: int, budget_s: float, epoch_s: float, pruner: str | None) -> dict[str, Any]:
    agent: dict[str, Any] = {
        "type": "optuna",
        "max_steps": 10_000,
        "seed": seed,
        "reward": "negative",
        "budget_s": budget_s,
        "budget_grace_s": 0.0,
    }
    if pruner is not None:
        agent["pruner"] = pruner_of(pruner)
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


def run_arm(root: Path, seed: int, budget_s: float, epoch_s: float, pruner: str | None) -> dict:
    from tunegym.outputs.toml import dumps
    from tunegym.run import RunOptions, run_scenario
    from tunegym.spec import load
    from tunegym.trial.store import open_run_db

    name = f"seed{seed}-{pruner or 'plain'}".replace("@", "-poll")
    path = root / f"{name}.toml"
    path.write_text(dumps(workload(seed, budget_s, epoch_s, pruner)))
    with polling(pruner):
        options = RunOptions(output=root / name, progress=False, verbosity=0)
        result = run_scenario(load(path), options)
    summary = json.loads((result.run_dir / "summary.json").read_text())["jobs"][0]
    db = open_run_db(result.run_dir)
    rows = db.rows("curve", 0)  # completion order
    db.close()
    start = min(r.started_at for r in rows)
    pruned_rows = [r for r in rows if r.status == "pruned"]
    pruned_actions = [dict(r.action) for r in pruned_rows]
    decided = [int(r.error.split()[3].rstrip(":")) for r in pruned_rows if r.error]
    best = summary.get("best")
    return {
        "rows": rows,
        "start": start,
        "completed": sum(r.status == "ok" for r in rows),
        "pruned": len(pruned_actions),
        "pruned_s": [r.duration_s for r in pruned_rows],
        "overshoot": [r.curve[-1][0] - d for r, d in zip(pruned_rows, decided, strict=True)],
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


def first_decision(table: dict[str, Any]) -> tuple[int, int]:
    """(completed trials before the pruner judges any, the earliest step it can prune at)
    of a ``PRUNERS`` table, as Optuna's pruners define them (their defaults where unset)."""
    if table["type"] in ("median", "percentile"):
        return table.get("n_startup_trials", 5), max(1, table.get("n_warmup_steps", 0))
    if table["type"] == "successive_halving":
        rate = table.get("min_early_stopping_rate", 0)
        return 0, table.get("min_resource", 1) * table.get("reduction_factor", 4) ** rate
    if table["type"] == "hyperband":
        return 0, table.get("min_resource", 1)
    return 0, EPOCHS


def oracle_ratio(plain: dict, target: float, table: dict[str, Any], epoch_s: float) -> float:
    """The best ratio any pruner with ``table``'s start-up and earliest step could reach,
    if it proposed plain's trials in plain's order: one that knows the finals, completes
    its start-up trials and the first trial reaching ``target``, and stops every other
    at the earliest step it may (its python start-up and those epochs). A ceiling on what
    pruning can save here, whatever the pruner's rule."""
    startup_trials, step = first_decision(table)
    full = oracle = 0.0
    completed = 0
    for row in plain["rows"]:
        full += row.duration_s
        good = row.status == "ok" and row.observation["loss"] <= target
        if good or completed < startup_trials:
            oracle += row.duration_s
            completed += 1
        else:
            start_up = max(0.0, row.duration_s - EPOCHS * epoch_s)
            oracle += min(row.duration_s, start_up + step * epoch_s)
        if good:
            return oracle / full
    return math.nan


def bounded_ratio(
    plain_to_target: float, arm_to_target: float, plain_spent: float
) -> tuple[float, str]:
    """(ratio, bound) of the trial-seconds an arm and plain took to a target (``inf``: never
    got there). When plain never got there, its whole spend stands in: an upper bound,
    ``<=``; ``nan`` when neither did."""
    if math.isfinite(plain_to_target):
        return arm_to_target / plain_to_target, ""
    if math.isfinite(arm_to_target):  # plain needed more than it spent
        return arm_to_target / plain_spent, "<="
    return math.nan, ""


def ratio_of(plain: dict, arm: dict, target: float) -> tuple[float, str, float, float]:
    """(ratio, bound, wall s, trial-s) of ``arm`` against ``plain`` to ``target``."""
    (_, pt), (qw, qt) = to_quality(plain, target), to_quality(arm, target)
    return (*bounded_ratio(pt, qt, plain["trial_s"]), qw, qt)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--trial", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--lr", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--reg", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--epoch-s", type=float, default=0.02)
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=float, default=25.0, help="seconds per arm")
    parser.add_argument(
        "--pruner",
        default=DEFAULT_PRUNER,
        help=f"comma-separated pruners, each its own arm (of: {', '.join(PRUNERS)}; "
        f"name@S polls every S s); default {DEFAULT_PRUNER}",
    )
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 s budget")
    args = parser.parse_args()
    if args.trial:
        return run_trial(args)
    if args.quick:
        args.seeds, args.budget = 2, 4.0
    arms = [name.strip() for name in args.pruner.split(",") if name.strip()]
    tables = {name: pruner_of(name) for name in arms}
    print(
        f"synthetic learning curves: {EPOCHS} epochs x {args.epoch_s} s, TPE, "
        f"budget {args.budget:g} s per arm, {args.seeds} seed(s)"
    )
    for name, table in tables.items():
        print(f"pruner {name}: {json.dumps(table)}")
    ratios: dict[str, list[float]] = {name: [] for name in arms}
    ceilings: dict[str, list[float]] = {name: [] for name in arms}
    reached = {name: 0 for name in arms}
    plain_reached = {name: 0 for name in arms}
    stats: dict[str, list[tuple[int, int, float]]] = {name: [] for name in ["plain", *arms]}
    pruned_s: dict[str, list[float]] = {name: [] for name in arms}
    overshoot: dict[str, list[int]] = {name: [] for name in arms}
    bad_best = 0
    with tempfile.TemporaryDirectory(prefix="bench-pruning-") as tmp:
        for seed in range(args.seeds):
            results = {"plain": run_arm(Path(tmp), seed, args.budget, args.epoch_s, None)}
            for name in arms:
                results[name] = run_arm(Path(tmp), seed, args.budget, args.epoch_s, name)
            plain = results["plain"]
            print(
                f"seed {seed:2d}: plain completed {plain['completed']:3d}, "
                f"trial-s {plain['trial_s']:5.1f}",
                flush=True,
            )
            bad_best += plain["best_is_pruned"]
            stats["plain"].append((plain["completed"], plain["pruned"], plain["trial_s"]))
            for name in arms:
                arm = results[name]
                # quality: within 1% of the best final value found by either arm of the pair
                finals = [a["best_final"] for a in (plain, arm) if a["best_final"] is not None]
                target = min(finals) * 1.01 if finals else math.inf
                pw, pt = to_quality(plain, target)
                ratio, bound, qw, qt = ratio_of(plain, arm, target)
                if not math.isnan(ratio):
                    ratios[name].append(ratio)
                ceiling = oracle_ratio(plain, target, tables[name], args.epoch_s)
                if not math.isnan(ceiling):
                    ceilings[name].append(ceiling)
                reached[name] += math.isfinite(qt)
                plain_reached[name] += math.isfinite(pt)
                bad_best += arm["best_is_pruned"]
                stats[name].append((arm["completed"], arm["pruned"], arm["trial_s"]))
                pruned_s[name] += arm["pruned_s"]
                overshoot[name] += arm["overshoot"]
                print(
                    f"  {name:>16}: to 1% of best {target / 1.01:.4f}: plain {pw:6.1f} s / "
                    f"{pt:6.1f} trial-s, pruned {qw:6.1f} s / {qt:6.1f} trial-s | completed "
                    f"{arm['completed']:3d}, pruned {arm['pruned']:3d} | trial-s "
                    f"{arm['trial_s']:5.1f} | ratio {bound}{ratio:.2f} (oracle {ceiling:.2f})",
                    flush=True,
                )
    print("mean per seed; seeds reached: plain's / the pruned arm's, to the pair's target")
    print(
        f"{'arm':>16} | median ratio | seeds reached | completed | pruned | trial-s | "
        "s per pruned trial | epochs past decision"
    )
    for name in ["plain", *arms]:
        completed, pruned, spent = (statistics.mean(col) for col in zip(*stats[name], strict=True))
        if name == "plain":
            shown, seeds, cost, late = "baseline", "", "", ""
        else:
            median = statistics.median(ratios[name]) if ratios[name] else math.nan
            shown, seeds = f"{median:.2f}x", f"{plain_reached[name]} / {reached[name]}"
            cost = f"{statistics.mean(pruned_s[name]):.3f}" if pruned_s[name] else "-"
            late = f"{statistics.mean(overshoot[name]):.1f}" if overshoot[name] else "-"
        print(
            f"{name:>16} | {shown:>12} | {seeds:>13} | {completed:9.1f} | {pruned:6.1f} | "
            f"{spent:7.1f} | {cost:>18} | {late:>20}"
        )
    for name in arms:
        median = statistics.median(ratios[name]) if ratios[name] else math.nan
        ceiling = statistics.median(ceilings[name]) if ceilings[name] else math.nan
        print(
            f"median ratio pruned/plain trial-seconds to 1% of best, {name}: {median:.2f}x "
            f"(target <= 0.5x: {'met' if median <= 0.5 else 'not met'}); an oracle pruner "
            f"with its start-up and earliest step, on plain's trials: {ceiling:.2f}x"
        )
    print(f"configurations recommended that were pruned: {bad_best} (target 0)")
    return 0 if bad_best == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
