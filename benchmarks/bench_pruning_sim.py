"""bench_pruning's experiment replayed in process, in seconds instead of minutes (issue 16).

``bench_pruning.py`` runs every trial as a real command and takes about 20 minutes for
10 seeds and two pruners. This script asks the same questions of the same curves
(``bench_pruning.curve_point``), with the agent's sampler as tunegym builds it
(``--agent``: an Optuna sampler through ``build_sampler``, or ``auto``'s NGOpt) and
tunegym's own ``PruningStudy`` over the ``PRUNERS`` tables. But a trial is not run: it
costs ``--start-up-s`` plus ``--epoch-s`` per epoch it reached, and the wall-clock budget
is spent in those trial-seconds. Sequential trials, as in the benchmark; a pruned trial
stops at the epoch whose point decided it (bench_pruning measures the real latency:
0.0-0.1 epochs).

With the defaults (0.1 s start-up, the overhead of a real trial in bench_pruning: its pruned
trials cost 0.23 s at 5-6 epochs of 0.02 s) it gives bench_pruning's medians seed for seed
(``benchmarks/RESULTS.md``), so a pruning rule or a sampler can be tried here first. Per
seed and arm it prints the ratio pruned/plain of the trial-seconds to within 1% of the
pair's best final (as bench_pruning), and how many trials each arm proposed until then,
with whether the pruned arm's proposals were plain's very own (``same``): when they are,
pruning saved only by stopping trials early, not by searching better.

    .venv/bin/python benchmarks/bench_pruning_sim.py             # median,sh-m5; 10 seeds
    .venv/bin/python benchmarks/bench_pruning_sim.py --pruner sh-m3 --start-up-s 0.03
    .venv/bin/python benchmarks/bench_pruning_sim.py --agent random --budget 60
    .venv/bin/python benchmarks/bench_pruning_sim.py --agent auto  # NGOpt, the default agent
    .venv/bin/python benchmarks/bench_pruning_sim.py --quick     # 2 seeds (a test runs it)
    .venv/bin/python benchmarks/bench_pruning_sim.py --workload mlp  # real NumPy MLP curves
    .venv/bin/python benchmarks/bench_pruning_sim.py --workload curves-wide

``--workload mlp`` asks the same of curves nothing designed: a NumPy MLP really trained
per configuration over ``examples/sgd-pruning``'s space (``mlp_curves.py``; 20 epochs, a
trial costs ``--start-up-s`` plus its modelled epochs: ``--step-s`` per minibatch step and
``--eval-s`` per epoch), to tell whether bench_pruning's synthetic curves are what keeps
the ratio above 0.5x. ``--workload curves-wide`` adds three tunables (``u0``-``u2`` in
[0, 1]) to bench_pruning's curves, each adding its squared distance from its optimum to the
loss at every epoch: a longer search, in which a badly set tunable shows from epoch 1.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import mlp_curves
from bench_pruning import EPOCHS, PRUNERS, bounded_ratio, curve_point, pruner_of

from tunegym.space import Categorical, Continuous, SearchSpace

Action = dict[str, Any]


@dataclass(frozen=True)
class Workload:
    """What a simulated job tunes: its space, each configuration's loss per epoch under a
    job's seed, what an epoch of it costs (seconds, given the script's options), and the
    trial-seconds per arm by default and in quick mode."""

    space: SearchSpace
    losses: Callable[[Action, int], Sequence[float]]
    epoch_s: Callable[[Action, argparse.Namespace], float]
    budget_s: float
    quick_budget_s: float


def _curves_losses(action: Action, seed: int) -> list[float]:
    lr, reg = action["lr"], action["reg"]
    return [curve_point(lr, reg, epoch, seed) for epoch in range(1, EPOCHS + 1)]


# curves-wide: three more tunables whose optimum is at these values; each adds its squared
# distance from it to the loss at every epoch (a setting that is off costs from the start)
WIDE_CENTRES = (0.2, 0.7, 0.5)


def _wide_losses(action: Action, seed: int) -> list[float]:
    offset = sum((action[f"u{i}"] - c) ** 2 for i, c in enumerate(WIDE_CENTRES))
    return [loss + offset for loss in _curves_losses(action, seed)]


def _mlp_losses(action: Action, seed: int) -> tuple[float, ...]:
    return mlp_curves.curve(action["lr"], action["batch_size"], action["l2"], seed)


CURVES_DIMENSIONS = {
    "lr": Continuous("lr", 1e-3, 1.0, log=True),
    "reg": Continuous("reg", 0.0, 1.0),
}
WORKLOADS = {
    # bench_pruning's synthetic curves (its space: lr, reg)
    "curves": Workload(
        SearchSpace(CURVES_DIMENSIONS),
        _curves_losses,
        lambda action, args: args.epoch_s,
        budget_s=25.0,
        quick_budget_s=4.0,
    ),
    # the same curves in a five-dimensional space (lr, reg, u0-u2)
    "curves-wide": Workload(
        SearchSpace(
            {
                **CURVES_DIMENSIONS,
                **{f"u{i}": Continuous(f"u{i}", 0.0, 1.0) for i in range(len(WIDE_CENTRES))},
            }
        ),
        _wide_losses,
        lambda action, args: args.epoch_s,
        budget_s=60.0,  # the search is longer
        quick_budget_s=4.0,
    ),
    # a NumPy MLP really trained, over examples/sgd-pruning's space
    "mlp": Workload(
        SearchSpace(
            {
                "lr": Continuous("lr", 1e-4, 1.0, log=True),
                "batch_size": Categorical("batch_size", mlp_curves.BATCH_SIZES),
                "l2": Continuous("l2", 1e-6, 0.1, log=True),
            }
        ),
        _mlp_losses,
        lambda action, args: mlp_curves.epoch_cost(action["batch_size"], args.step_s, args.eval_s),
        budget_s=60.0,  # a full trial costs 0.4-2.8 s
        quick_budget_s=8.0,
    ),
}


@dataclass
class Arm:
    """One simulated job: its trials in order, as (final loss or None if pruned, cost s)."""

    trials: list[tuple[float | None, float]] = field(default_factory=list)
    proposals: list[Action] = field(default_factory=list)

    @property
    def best_final(self) -> float:
        return min((v for v, _ in self.trials if v is not None), default=math.inf)

    @property
    def spent(self) -> float:
        return sum(cost for _, cost in self.trials)

    def to_quality(self, target: float) -> tuple[int, float]:
        """(trials proposed, trial-seconds) until a completed trial reached ``target``."""
        spent = 0.0
        for n, (value, cost) in enumerate(self.trials, 1):
            spent += cost
            if value is not None and value <= target:
                return n, spent
        return len(self.trials), math.inf


class OptunaProposer:
    """The ``optuna`` agent's side: its sampler proposes (each dimension suggested in
    order, categoricals over candidate indices, as the agent does); a pruned trial is told
    ``PRUNED`` with its curve, a completed one its final loss (as the agent does)."""

    def __init__(self, sampler: str, seed: int, space: SearchSpace) -> None:
        import optuna

        from tunegym.agents.optuna import OptunaOptions, build_sampler, distributions_for

        optuna.logging.set_verbosity(optuna.logging.ERROR)
        self.study = optuna.create_study(
            sampler=build_sampler(OptunaOptions(sampler=sampler), seed, 10_000)
        )
        self.space = space
        self.distributions = distributions_for(space)
        self._trial: Any = None

    def ask(self) -> Action:
        from optuna.distributions import CategoricalDistribution

        from tunegym.agents.optuna import to_action

        self._trial = trial = self.study.ask()
        for name, dist in self.distributions.items():
            if isinstance(dist, CategoricalDistribution):
                trial.suggest_categorical(name, dist.choices)
            else:
                trial.suggest_float(name, dist.low, dist.high, log=dist.log)
        return dict(to_action(self.space, trial.params))

    def tell(self, curve: list[tuple[int, float]], pruned: bool) -> None:
        from optuna.trial import TrialState

        if pruned:
            for step, value in curve:
                self._trial.report(value, step)
            self.study.tell(self._trial, state=TrialState.PRUNED)
        else:
            self.study.tell(self._trial, curve[-1][1])


class NGOptProposer:
    """The ``auto`` agent's side on this space (float ranges, one objective, results
    that repeat: Nevergrad's NGOpt, as ``tunegym verify`` says), planned for ``budget``
    evaluations (bench_pruning's ``max_steps``): a pruned trial is told the worst completed
    loss so far, or nothing before one (as the ``ngopt`` agent does)."""

    def __init__(self, seed: int, space: SearchSpace, budget: int = 10_000) -> None:
        import nevergrad as ng

        from tunegym.agents.ngopt import numpy_compat, parametrization

        numpy_compat()
        self.space = space
        self.optimizer = ng.optimizers.NGOpt(
            parametrization=parametrization(space, seed), budget=budget, num_workers=1
        )
        self._candidate: Any = None
        self._worst: float | None = None

    def ask(self) -> Action:
        from tunegym.agents.ngopt import decode

        self._candidate = candidate = self.optimizer.ask()
        return dict(decode(self.space, candidate.value))  # a log range's value is its log10

    def tell(self, curve: list[tuple[int, float]], pruned: bool) -> None:
        if not pruned:
            loss = curve[-1][1]
            self._worst = loss if self._worst is None else max(self._worst, loss)
            self.optimizer.tell(self._candidate, loss)
        elif self._worst is not None:
            self.optimizer.tell(self._candidate, self._worst)


def simulate(args: argparse.Namespace, seed: int, pruner: str | None) -> Arm:
    """Run the job of ``seed`` with ``pruner`` (None: no pruning) until its budget is
    spent: the agent proposes, tunegym's ``PruningStudy`` judges each epoch's point."""
    from tunegym.pruning.study import PruningStudy
    from tunegym.spec.models import PrunerSpec
    from tunegym.trial.status import TrialStatus

    workload = WORKLOADS[args.workload]
    proposer: OptunaProposer | NGOptProposer = (
        NGOptProposer(seed, workload.space)
        if args.agent == "auto"
        else OptunaProposer(args.agent, seed, workload.space)
    )
    judge = PruningStudy(PrunerSpec(**pruner_of(pruner)), "min", seed) if pruner else None
    arm = Arm()
    while True:
        action = proposer.ask()
        key = len(arm.trials)
        curve: list[tuple[int, float]] = []
        pruned = False
        for epoch, loss in enumerate(workload.losses(action, seed), 1):
            curve.append((epoch, loss))
            if judge is not None and judge.report(key, epoch, loss):
                pruned = True
                break
        cost = args.start_up_s + len(curve) * workload.epoch_s(action, args)
        if arm.spent + cost > args.budget:
            return arm  # the budget ends during this trial: stopped, not counted
        if judge is not None:
            judge.finish(key, TrialStatus.PRUNED if pruned else TrialStatus.OK, curve)
        proposer.tell(curve, pruned)
        arm.proposals.append(action)
        arm.trials.append((None if pruned else curve[-1][1], cost))


def compare(plain: Arm, arm: Arm) -> tuple[float, str, int, int, bool]:
    """(ratio, bound, plain's trials, the arm's trials, same proposals) to the pair's target:
    within 1% of the best final of either arm, as bench_pruning."""
    target = min(plain.best_final, arm.best_final) * 1.01
    (pn, pt), (qn, qt) = plain.to_quality(target), arm.to_quality(target)
    n = min(pn, qn)
    same = plain.proposals[:n] == arm.proposals[:n]
    return (*bounded_ratio(pt, qt, plain.spent), pn, qn, same)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pruner", default="median,sh-m5", help=f"of: {', '.join(PRUNERS)}")
    parser.add_argument(
        "--agent",
        default="tpe",
        help="auto (the default agent: NGOpt on this space) or an optuna agent's sampler "
        "(tpe, random, gp, ...); default tpe",
    )
    parser.add_argument(
        "--workload",
        choices=sorted(WORKLOADS),
        default="curves",
        help="curves (bench_pruning's, the default), curves-wide (the same with three more "
        "tunables) or mlp (a NumPy MLP really trained)",
    )
    parser.add_argument("--first-seed", type=int, default=0, help="seeds from this one on")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument(
        "--budget", type=float, help="trial-seconds per arm (default 25; curves-wide, mlp: 60)"
    )
    parser.add_argument(
        "--epoch-s", type=float, default=0.02, help="curves(-wide): an epoch's cost"
    )
    parser.add_argument("--step-s", type=float, default=0.0005, help="mlp: a minibatch step's cost")
    parser.add_argument("--eval-s", type=float, default=0.01, help="mlp: an epoch's evaluation")
    parser.add_argument("--start-up-s", type=float, default=0.1, help="cost of a trial's start")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 4 s budget (mlp: 8 s)")
    args = parser.parse_args()
    workload = WORKLOADS[args.workload]
    mlp = args.workload == "mlp"
    if args.budget is None:
        args.budget = workload.budget_s
    if args.quick:
        args.seeds, args.budget = 2, workload.quick_budget_s
    if mlp and args.agent == "auto":
        raise SystemExit(
            "--agent auto: on mlp's space (a categorical batch size) auto runs Optuna's GP, "
            "then TPE: give --agent gp or --agent tpe"
        )
    arms = [name.strip() for name in args.pruner.split(",") if name.strip()]
    for name in arms:
        pruner_of(name)  # an unknown name is an error before any work
    if args.agent != "auto":
        from pydantic import ValidationError

        from tunegym.agents.optuna import OptunaOptions

        try:
            OptunaOptions(sampler=args.agent)
        except ValidationError as exc:
            raise SystemExit(f"--agent: {exc.errors()[0]['msg']}; or auto") from None
    epochs = (
        f"{mlp_curves.EPOCHS} epochs of a NumPy MLP x ({args.step_s} s per step + {args.eval_s} s)"
        if mlp
        else f"{EPOCHS} epochs x {args.epoch_s} s"
    )
    print(
        f"simulated learning curves: {epochs} + {args.start_up_s} s start-up, {args.agent}, "
        f"budget {args.budget:g} trial-s per arm, {args.seeds} seed(s)"
    )
    ratios: dict[str, list[float]] = {name: [] for name in arms}
    same: dict[str, int] = {name: 0 for name in arms}
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        plain = simulate(args, seed, None)
        cells = []
        for name in arms:
            ratio, bound, pn, qn, identical = compare(plain, simulate(args, seed, name))
            if not math.isnan(ratio):
                ratios[name].append(ratio)
            same[name] += identical
            cells.append(
                f"{name} {bound}{ratio:.2f} ({pn} vs {qn} trials{', same' if identical else ''})"
            )
        print(f"seed {seed:2d}: " + " | ".join(cells), flush=True)
    for name in arms:
        median = statistics.median(ratios[name]) if ratios[name] else math.nan
        print(
            f"median ratio pruned/plain trial-seconds to 1% of best, {name}: {median:.2f}x "
            f"(target <= 0.5x: {'met' if median <= 0.5 else 'not met'}); seeds whose pruned "
            f"arm proposed plain's very trials until the target: {same[name]} of {args.seeds}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
