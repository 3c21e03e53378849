"""``auto`` against every Optuna sampler used directly and Nevergrad's NGOpt on COCO's
``bbob`` and ``bbob-mixint`` suites, in one run.

Problems come from ``coco-experiment`` (``cocoex``): ``bbob`` f1-24 and ``bbob-mixint``
f1-24 (its first variables are integers), at the dimensions asked (``bbob-mixint`` has no
d = 2: it starts at 5). Seed ``s`` runs COCO instance ``s + 1`` with every method seeded
``s``. Precision is f - f_opt of the best trial so far (floored at 1e-8).

Methods:

* ``auto``: tunegym's ``auto`` agent through a ``FunctionEnv`` (what a user gets by
  default); where it runs NGOpt, once per budget (NGOpt reads the budget); where it runs
  Optuna (GP, then TPE), once at the largest budget, read at each (see :func:`auto_at`);
* ``tpe``, ``gp``, ``cmaes``, ``qmc``, ``random``, ``nsga2``: Optuna's samplers driven by
  ``study.optimize`` (``suggest_float``/``suggest_int``, Optuna's defaults), what a user
  would write without tunegym; one run at the largest budget, read at each budget (these
  samplers do not read the budget); ``gp`` only up to ``--gp-max`` trials (its ask time
  grows with the trials), and it is ranked only where it ran;
* ``ngopt``: Nevergrad's ``NGOpt`` through ask/tell, once per budget (it reads the budget);
* ``gp-det`` (only when named in ``--methods``): Optuna's GP with
  ``deterministic_objective=True``, to compare with its default.

Printed: the mean rank of each method (1 = best precision in a cell; ties share their mean
rank) per suite and overall, over every (suite, function, dimension, seed, budget) cell;
the fraction of runs reaching 1e-1 and 1e-2 by budget; the method ``auto`` chose per
(suite, dimension, budget); and ``auto``'s overhead per trial at the overhead budget
(time between objective calls over the last 10 trials, on f1 at d = 5 of each suite)
against Optuna TPE's, side by side (target: at most 2x).

Targets (issue 15): ``auto``'s mean rank is the best overall and within 0.2 of the best
on each suite; its per-trial overhead at 200 trials stays within 2x of TPE's.

Run: .venv/bin/python benchmarks/bench_bbob.py [--suites bbob,bbob-mixint]
     [--dims 2,5,10] [--budgets 20,50,100,200] [--seeds 10] [--functions 1-24]
     [--methods auto,tpe,...] [--gp-max 100] [--jobs 1] [--record runs.jsonl]
     [--report runs.jsonl[,more.jsonl.gz]] [--no-overhead] [--quick]

``--quick`` (what the test runs): f1 of both suites at d = 5, budget 10, one seed, every
method, overhead at 15 trials, and the check that ``auto``'s Optuna arm at a small budget
is the first trials of its run at a larger one (before and after GP hands over to TPE).
Needs ``pip install 'tunegym[bench]'`` (coco-experiment, nevergrad).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

OPTUNA = ("tpe", "gp", "cmaes", "qmc", "random", "nsga2")
METHODS = ("auto", *OPTUNA, "ngopt")
# Not run unless asked: GP with deterministic_objective=True (issue 15, item 2).
EXTRA = ("gp-det",)
BUDGET_AWARE = ("auto", "ngopt")
FLOOR = 1e-8
TARGETS = (1e-1, 1e-2)


@dataclass(frozen=True)
class Problem:
    suite: str
    function: int
    dim: int
    instance: int


@dataclass
class Coco:
    """A COCO problem as plain data: bounds, integer count, f_opt and a callable."""

    lower: np.ndarray
    upper: np.ndarray
    n_int: int
    f_opt: float
    f: Callable[[np.ndarray], float]


def open_problem(p: Problem) -> Coco:
    import cocoex

    cocoex.log_level("error")
    suite = cocoex.Suite(
        p.suite, f"instances: {p.instance}", f"dimensions: {p.dim} function_indices: {p.function}"
    )
    problem = next(iter(suite))
    # cocoex gives f_opt only through the optimum it writes to a file in the working folder
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        problem._best_parameter("print")
        x_opt = np.loadtxt("._bbob_problem_best_parameter.txt", ndmin=1)
    f_opt = float(problem(x_opt))
    n_int = int(problem.number_of_integer_variables)
    lower = np.array(problem.lower_bounds, dtype=float)
    upper = np.array(problem.upper_bounds, dtype=float)
    return Coco(lower, upper, n_int, f_opt, lambda x: float(problem(x)))


class Trace:
    """Best precision after each trial, and time spent in the objective."""

    def __init__(self, coco: Coco) -> None:
        self.coco = coco
        self.best = math.inf
        self.curve: list[float] = []
        self.objective_s = 0.0
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.points: list[tuple[float, ...]] = []

    def __call__(self, x: Sequence[float]) -> float:
        self.points.append(tuple(float(v) for v in x))
        start = time.perf_counter()
        value = self.coco.f(np.asarray(x, dtype=float))
        end = time.perf_counter()
        self.objective_s += end - start
        self.starts.append(start)
        self.ends.append(end)
        self.best = min(self.best, max(value - self.coco.f_opt, FLOOR))
        self.curve.append(self.best)
        return value

    def last_overhead_ms(self, n: int = 10) -> float:
        """Mean ms between one objective call's end and the next one's start, over the
        last ``n`` trials: what the method (ask, tell, bookkeeping) costs per trial there."""
        gaps = [b - a for a, b in zip(self.ends[-n - 1 : -1], self.starts[-n:], strict=True)]
        return statistics.fmean(gaps) * 1e3

    def at(self, budget: int) -> float:
        if not self.curve:
            return math.inf
        return self.curve[min(budget, len(self.curve)) - 1]


def run_auto(coco: Coco, budget: int, seed: int) -> tuple[Trace, str]:
    from tunegym.agents.auto import AutoAgent
    from tunegym.agents.base import AgentConfig
    from tunegym.env.function import FunctionEnv
    from tunegym.space import Continuous, SearchSpace

    trace = Trace(coco)
    d = len(coco.lower)
    names = [f"x{i}" for i in range(d)]
    space = SearchSpace(
        {
            n: Continuous(
                n,
                float(coco.lower[i]),
                float(coco.upper[i]),
                "int" if i < coco.n_int else "float",
            )
            for i, n in enumerate(names)
        }
    )

    def objective(params: dict[str, Any]) -> float:
        return -trace([params[n] for n in names])

    env = FunctionEnv(space, objective)
    agent = AutoAgent(env, AgentConfig(budget, seed))
    agent.run()
    return trace, agent.choice.method


def auto_at(
    coco: Coco, budgets: Sequence[int], seed: int
) -> tuple[dict[int, float], dict[int, str]]:
    """``auto``'s precision and choice at each budget. Its NGOpt arm reads the budget, so
    it runs once per budget; its Optuna arm (GP, then TPE after ``GP_TRIALS``) never
    does, so one run at the largest budget is read at each smaller one: the first ``b``
    trials of that run are the run at budget ``b`` (``--quick`` checks it)."""
    at: dict[int, float] = {}
    choices: dict[int, str] = {}
    top = max(budgets)
    trace, choice = run_auto(coco, top, seed)
    at[top], choices[top] = trace.at(top), choice
    for budget in sorted(budgets)[:-1]:
        if choice == "ngopt":
            short, choices[budget] = run_auto(coco, budget, seed)
            at[budget] = short.at(budget)
        else:
            at[budget], choices[budget] = trace.at(budget), choice
    return at, choices


def auto_prefix_is_exact(problem: Problem, short: int, long: int, seed: int = 0) -> bool:
    """Whether ``auto``'s Optuna arm run for ``short`` trials proposes exactly the first
    ``short`` trials of its run for ``long``: what :func:`auto_at` relies on."""
    coco = open_problem(problem)
    a, choice = run_auto(coco, short, seed)
    b, _ = run_auto(coco, long, seed)
    return choice != "ngopt" and a.points == b.points[:short]


def run_optuna(coco: Coco, sampler: str, budget: int, seed: int) -> Trace:
    import optuna
    from optuna import samplers

    trace = Trace(coco)
    d = len(coco.lower)
    made: dict[str, Callable[[], Any]] = {
        "tpe": lambda: samplers.TPESampler(seed=seed),
        "gp": lambda: samplers.GPSampler(seed=seed),
        "gp-det": lambda: samplers.GPSampler(seed=seed, deterministic_objective=True),
        "cmaes": lambda: samplers.CmaEsSampler(seed=seed),
        "qmc": lambda: samplers.QMCSampler(seed=seed),
        "random": lambda: samplers.RandomSampler(seed=seed),
        "nsga2": lambda: samplers.NSGAIISampler(seed=seed),
    }

    def objective(trial: optuna.Trial) -> float:
        x = [
            float(trial.suggest_int(f"x{i}", int(coco.lower[i]), int(coco.upper[i])))
            if i < coco.n_int
            else trial.suggest_float(f"x{i}", float(coco.lower[i]), float(coco.upper[i]))
            for i in range(d)
        ]
        return trace(x)

    study = optuna.create_study(sampler=made[sampler]())
    study.optimize(objective, n_trials=budget)
    return trace


def run_ngopt(coco: Coco, budget: int, seed: int) -> Trace:
    import nevergrad as ng

    from tunegym.agents.ngopt import numpy_compat

    numpy_compat()  # NGOpt's metamodel under NumPy >= 2.4 (it fails to ask otherwise)
    trace = Trace(coco)
    d = len(coco.lower)
    parts: list[Any] = []
    for i in range(d):
        scalar = ng.p.Scalar(lower=float(coco.lower[i]), upper=float(coco.upper[i]))
        parts.append(scalar.set_integer_casting() if i < coco.n_int else scalar)
    param = ng.p.Tuple(*parts)
    param.random_state = np.random.RandomState(seed)
    optimizer = ng.optimizers.NGOpt(parametrization=param, budget=budget)
    for _ in range(budget):
        candidate = optimizer.ask()
        optimizer.tell(candidate, trace([float(v) for v in candidate.value]))
    return trace


def task(args: tuple[Problem, str, int, int, tuple[int, ...]]) -> dict[str, Any]:
    """One method on one problem: precision at each budget (and auto's choices)."""
    problem, method, seed, gp_max, budgets = args
    warnings.simplefilter("ignore")
    logging.getLogger("optuna").setLevel(logging.ERROR)
    coco = open_problem(problem)
    out: dict[str, Any] = {"problem": problem, "method": method, "seed": seed, "at": {}}
    start = time.perf_counter()
    if method == "auto":
        out["at"], out["choice"] = auto_at(coco, budgets, seed)
    elif method == "ngopt":
        for budget in budgets:
            out["at"][budget] = run_ngopt(coco, budget, seed).at(budget)
    else:
        shown = [b for b in budgets if not method.startswith("gp") or b <= gp_max]
        top = max(shown, default=0)
        if top:
            trace = run_optuna(coco, method, top, seed)
            for budget in budgets:
                if budget <= top:
                    out["at"][budget] = trace.at(budget)
    out["seconds"] = time.perf_counter() - start
    return out


def load_result(line: str) -> dict[str, Any]:
    """A run of a --record file, as :func:`task` returned it."""
    data = json.loads(line)
    data["problem"] = Problem(**data["problem"])
    data["at"] = {int(b): v for b, v in data["at"].items()}
    data["choice"] = {int(b): c for b, c in data.get("choice", {}).items()}
    return data


def lines(path: str) -> list[str]:
    """The lines of a --record file, gzipped (``.gz``, as the repository keeps them) or not."""
    if path.endswith(".gz"):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return fh.read().splitlines()
    return Path(path).read_text(encoding="utf-8").splitlines()


def ranks(values: dict[str, float]) -> dict[str, float]:
    """1 = smallest; ties share the mean of their ranks."""
    order = sorted(values, key=lambda m: values[m])
    out: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def overhead(suite: str, budget: int, seed: int) -> tuple[float, float, str]:
    """ms per trial beyond the objective over the last 10 of ``budget`` trials (the cost
    of a trial at that history size), on f1 at d = 5: auto through tunegym, Optuna TPE
    direct."""
    coco = open_problem(Problem(suite, 1, 5, 1))
    trace, choice = run_auto(coco, budget, seed)
    auto_ms = trace.last_overhead_ms()
    tpe_ms = run_optuna(coco, "tpe", budget, seed).last_overhead_ms()
    return auto_ms, tpe_ms, choice


def _spans(values: Sequence[int]) -> str:
    """``0-5,7``: sorted integers as ranges."""
    out: list[str] = []
    for v in values:
        if out and int(out[-1].rpartition("-")[2]) == v - 1:
            out[-1] = f"{out[-1].partition('-')[0]}-{v}"
        else:
            out.append(str(v))
    return ",".join(out)


def parse_range(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--suites", default="bbob,bbob-mixint")
    parser.add_argument("--dims", default="2,5,10")
    parser.add_argument("--budgets", default="20,50,100,200")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds from this one")
    parser.add_argument("--functions", default="1-24")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--gp-max", type=int, default=100, help="largest budget optuna gp runs")
    parser.add_argument("--overhead-budget", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--record", help="append each run to this JSON-lines file")
    parser.add_argument(
        "--report", help="only report the runs of --record files (comma-separated; .gz too)"
    )
    parser.add_argument("--no-overhead", action="store_true", help="skip the overhead figure")
    parser.add_argument("--quick", action="store_true", help="a few seconds: the test's run")
    args = parser.parse_args(argv)
    if args.quick:
        args.dims, args.budgets, args.seeds, args.functions = "5", "10", 1, "1"
        args.overhead_budget, args.jobs = 15, 1
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    suites = [s for s in args.suites.split(",") if s]
    dims = parse_range(args.dims)
    budgets = tuple(sorted(parse_range(args.budgets)))
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(METHODS) - set(EXTRA))
    if unknown:
        known = ", ".join((*METHODS, *EXTRA))
        parser.error(f"unknown method(s) {', '.join(unknown)}; known: {known}")
    problems = [  # seed first: an unfinished --record run has every problem of its seeds
        Problem(suite, f, d, seed + 1)
        for seed in range(args.first_seed, args.first_seed + args.seeds)
        for suite in suites
        for d in dims
        if not (suite == "bbob-mixint" and d < 5)
        for f in parse_range(args.functions)
    ]
    tasks = [(p, m, p.instance - 1, args.gp_max, budgets) for p in problems for m in methods]
    start = time.perf_counter()
    results: list[dict[str, Any]] = []
    if args.report:  # the runs recorded by an earlier (maybe unfinished) --record run
        results = [load_result(line) for path in args.report.split(",") for line in lines(path)]
        tasks = []
    record = open(args.record, "a") if args.record else None  # noqa: SIM115
    with contextlib.ExitStack() as stack:
        if args.jobs > 1:
            pool = stack.enter_context(ProcessPoolExecutor(args.jobs))
            done = pool.map(task, tasks, chunksize=1)
        else:
            done = map(task, tasks)
        for i, result in enumerate(done, 1):
            results.append(result)
            if record is not None:
                record.write(json.dumps({**result, "problem": asdict(result["problem"])}) + "\n")
                record.flush()
            if i % 50 == 0:
                print(
                    f"  ... {i}/{len(tasks)} runs, {time.perf_counter() - start:.0f} s",
                    file=sys.stderr,
                    flush=True,
                )
    if record is not None:
        record.close()
    wall = time.perf_counter() - start
    report(results, suites, methods, budgets, args)
    print(
        f"wall time {wall:.0f} s with {args.jobs} process(es); CPU s per method: "
        + ", ".join(
            f"{m} {sum(r['seconds'] for r in results if r['method'] == m):.0f}" for m in methods
        )
    )
    if "auto" in methods and "tpe" in methods and not args.no_overhead:
        print(
            f"\nper-trial overhead at {args.overhead_budget} trials, f1 d=5 (ms per trial beyond "
            "the objective over the last 10 trials; auto through tunegym vs Optuna TPE direct)"
        )
        for suite in suites:
            auto_ms, tpe_ms, choice = overhead(suite, args.overhead_budget, 0)
            ratio = auto_ms / tpe_ms
            print(
                f"  {suite:<12} auto ({choice}) {auto_ms:7.2f}  tpe {tpe_ms:7.2f}  "
                f"ratio auto/tpe {ratio:5.2f}  target <= 2: {'met' if ratio <= 2 else 'MISSED'}"
            )
    if args.quick:  # what auto_at relies on, across GP's hand-over to TPE
        mixint = Problem("bbob-mixint", 1, 5, 1)
        for short, long in ((20, 64), (62, 64)):
            exact = auto_prefix_is_exact(mixint, short, long)
            print(
                f"auto prefix check, bbob-mixint f1 d=5: {short} trials = first {short} of "
                f"{long}: {'exact' if exact else 'DIFFERS'}"
            )
    return 0


def report(
    results: list[dict[str, Any]],
    suites: list[str],
    methods: list[str],
    budgets: tuple[int, ...],
    args: argparse.Namespace,
) -> None:
    ran: dict[tuple[Problem, int], set[str]] = defaultdict(set)
    for r in results:
        ran[(r["problem"], r["seed"])].add(r["method"])
    # an unfinished --record run: leave out the problem whose methods did not all run
    results = [r for r in results if ran[(r["problem"], r["seed"])] >= set(methods)]
    seeds = sorted({r["seed"] for r in results})
    cells: dict[tuple[Problem, int, int], dict[str, float]] = defaultdict(dict)
    choices: dict[tuple[str, int, int], list[str]] = defaultdict(list)
    for r in results:
        for budget, value in r["at"].items():
            cells[(r["problem"], r["seed"], budget)][r["method"]] = value
        for budget, choice in r.get("choice", {}).items():
            choices[(r["problem"].suite, r["problem"].dim, budget)].append(choice)
    rank_sum: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (problem, _, _), values in cells.items():
        for method, rank in ranks(values).items():
            rank_sum[(problem.suite, method)].append(rank)
            rank_sum[("overall", method)].append(rank)
    print(
        f"\nmean rank (1 = best) over cells (function x dimension x seed x budget); "
        f"{len(seeds)} seed(s) ({_spans(seeds)}), dims {args.dims}, "
        f"budgets {','.join(map(str, budgets))}, "
        f"functions {args.functions}; gp only up to {args.gp_max} trials"
    )
    print(f"{'suite':<14}" + "".join(f"{m:>8}" for m in methods) + "   best")
    verdicts: list[tuple[str, bool]] = []
    for suite in [*suites, "overall"]:
        means = {m: statistics.fmean(rank_sum[(suite, m)]) for m in methods if rank_sum[(suite, m)]}
        if not means:
            continue
        best = min(means, key=lambda m: means[m])
        print(
            f"{suite:<14}"
            + "".join(f"{means[m]:>8.2f}" if m in means else f"{'-':>8}" for m in methods)
            + f"   {best}"
        )
        if "auto" in means:
            others = {m: v for m, v in means.items() if m != "auto"}
            if suite == "overall" and others:
                ok = means["auto"] <= min(others.values())
                verdicts.append((f"overall: auto {means['auto']:.2f} is the best mean rank", ok))
            elif others:
                gap = means["auto"] - min(means.values())
                verdicts.append((f"{suite}: auto within 0.2 of the best ({gap:+.2f})", gap <= 0.2))
    by_cell: dict[tuple[str, int, int, str], list[float]] = defaultdict(list)
    for (problem, _, budget), values in cells.items():
        for method, rank in ranks(values).items():
            by_cell[(problem.suite, problem.dim, budget, method)].append(rank)
    print("\nmean rank per (suite, d, budget): where each method is strongest")
    print(f"{'suite':<12}{'d':>3}{'budget':>7}" + "".join(f"{m:>8}" for m in methods))
    for suite, dim, budget in sorted({k[:3] for k in by_cell}):
        row = [by_cell.get((suite, dim, budget, m)) for m in methods]
        print(
            f"{suite:<12}{dim:>3}{budget:>7}"
            + "".join(f"{statistics.fmean(r):>8.2f}" if r else f"{'-':>8}" for r in row)
        )
    for target in TARGETS:
        print(f"\nfraction of runs reaching f - f_opt <= {target:g}, by budget")
        print(f"{'suite':<12}{'budget':>7}" + "".join(f"{m:>8}" for m in methods))
        for suite in suites:
            for budget in budgets:
                row = []
                for m in methods:
                    got = [
                        v[m]
                        for (p, _, b), v in cells.items()
                        if p.suite == suite and b == budget and m in v
                    ]
                    row.append(
                        f"{sum(x <= target for x in got) / len(got):>8.2f}" if got else f"{'-':>8}"
                    )
                print(f"{suite:<12}{budget:>7}" + "".join(row))
    pairs = [(v["gp"], v["gp-det"]) for v in cells.values() if "gp" in v and "gp-det" in v]
    if pairs:
        diff = [math.log10(det) - math.log10(gp) for gp, det in pairs]
        worse = sum(d > 0 for d in diff) / len(diff)
        better = sum(d < 0 for d in diff) / len(diff)
        print(
            f"\ngp-det vs gp (deterministic_objective on vs off) over {len(pairs)} same-seed "
            f"cells: mean log10 precision {statistics.fmean(diff):+.3f} decades (positive: on "
            f"is worse); on worse in {worse:.0%}, better in {better:.0%}, tied in "
            f"{1 - worse - better:.0%}"
        )
    if choices:
        print(
            "\nauto's choice per (suite, d, budget): "
            + "; ".join(
                f"{s} d={d} B={b}: " + ",".join(sorted(set(c)))
                for (s, d, b), c in sorted(choices.items())
            )
        )
    for text, ok in verdicts:
        print(f"  target {'met ' if ok else 'MISSED'}  {text}")


if __name__ == "__main__":
    sys.exit(main())
