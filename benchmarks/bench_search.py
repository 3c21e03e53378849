"""How many trials each search strategy needs to come within 1% of a known optimum.

Six landscapes with known optima, each driven in process through ``BaseGym`` (a
``FunctionEnv``; no subprocess per trial):

* ``categorical``  4 categorical dims, 240 actions, additive with a small interaction
* ``interacting``  3 categorical dims, 180 actions: b must match a, c depends on a
* ``mixed``        a categorical, a float and an int log range (the float's best depends
                   on the categorical)
* ``noisy``        12 arms, Gaussian noise (sd 5 on means 60..100); cache off
* ``env_params``   16 actions under a sampled load (3 values, weighted); the best action
                   on average differs from the best at the most likely load
* ``multi``        64 actions, maximise throughput and minimise power; 15 on the front

Strategies: ``grid``, ``random``, ``default`` (the rule used when ``agent.type`` is
omitted: grid if categorical and it fits in the budget, else optuna TPE), ``optuna-tpe``,
``optuna-gp``, ``bandit`` (finite single-objective landscapes), and ``optuna-direct``
(Optuna's ``TPESampler`` driven by ``study.optimize`` on the same objective and budget,
what a user would write without tunegym).

"Within 1%": the recommended action's true (noise-free, expected over env params) value
is at least 99% of the optimum (all optima are positive). The recommendation after t
trials is the best measured action so far; under noise and env params, the action with
the best *mean* over its measurements (ties: more measurements), and the count is the
first t from which it stays within 1% to the end of the budget. Multi-objective: the
hypervolume of the measured front reaches 99% of the true front's. A run that never gets
there counts as budget + 1 in the median (shown as ">B").

Envs cache like ``WorkloadEnv`` with its default ``cache = true`` (a repeated
``(action, env params)`` is answered from the cache and still costs a step), except on
the noisy landscape (``cache = false``). Optuna used directly has no cache: a repeated
proposal is a trial.

Targets (issue 3): on the categorical landscapes (whose grids do not fit the budget, so
the default is optuna TPE) the default agent needs at most a quarter of the grid size,
and it is never worse than Optuna used directly by more than one trial in the median.

Run: .venv/bin/python benchmarks/bench_search.py [--seeds 20] [--jobs 2]
     [--landscapes categorical,...] [--agents grid,...] [--gp-budget 40] [--quick]

``--quick`` (what the test runs): one seed of ``default``, ``random`` and
``optuna-direct`` on every landscape with budgets cut to 20, in this process.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunegym.agents.base import AgentConfig, BaseAgent
from tunegym.agents.registry import default_agent_reason, load_agent
from tunegym.analysis.robust import hypervolume_2d, pareto_front
from tunegym.env.function import FunctionEnv
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.space import Categorical, Continuous, SearchSpace, cache_key
from tunegym.trial.store import TrialRow

AGENTS = ("grid", "random", "default", "optuna-tpe", "optuna-gp", "bandit", "optuna-direct")


# -- landscapes ----------------------------------------------------------------------------
@dataclass
class Landscape:
    name: str
    space: SearchSpace
    budget: int
    score: Callable[[Mapping[str, Any], np.random.Generator], dict[str, float]]
    """Measured metrics of one trial (params include env params)."""
    true_value: Callable[[Mapping[str, Any]], float] | None = None
    """Noise-free value of an action, expected over env params (single objective)."""
    env_params: list[EnvParamDim] = field(default_factory=list)
    cache: bool = True
    noisy: bool = False
    metrics: tuple[str, ...] = ("score",)
    objectives: tuple[str, ...] | None = None
    optimum: float = 0.0
    reference: tuple[float, float] = (0.0, 0.0)

    @property
    def robust(self) -> bool:
        """Whether the recommendation needs means (noise or env params)."""
        return self.noisy or bool(self.env_params)

    def finish(self) -> Landscape:
        if self.objectives is None:
            assert self.true_value is not None and self.space.size is not None
            self.optimum = max(self.true_value(a) for a in self.space.grid())
        else:
            rows = [
                TrialRow(i, a, {}, self.score(a, np.random.default_rng(0)), 0.0, "ok")
                for i, a in enumerate(self.space.grid())
            ]
            front = pareto_front(rows, self.metrics, self.objectives)  # type: ignore[arg-type]
            self.optimum = hypervolume_2d(
                [tuple(m.objectives.values()) for m in front], self.reference, self.objectives
            )  # type: ignore[arg-type]
        return self


def categorical() -> Landscape:
    weights = {"compiler": 40, "threads": 25, "block": 20, "mode": 15}
    factors = {
        "compiler": {"gcc": 0.7, "clang": 0.85, "icc": 1.0, "tcc": 0.3, "zig": 0.9},
        "threads": {1: 0.4, 2: 0.7, 4: 1.0, 8: 0.88},
        "block": {16: 0.6, 32: 0.85, 64: 1.0, 128: 0.9},
        "mode": {"safe": 0.8, "fast": 1.0, "debug": 0.2},
    }
    space = SearchSpace({n: Categorical(n, tuple(v)) for n, v in factors.items()})

    def value(p: Mapping[str, Any]) -> float:
        base = sum(w * factors[n][p[n]] for n, w in weights.items())
        return base * (1.0 if p["threads"] * p["block"] <= 256 else 0.97)

    return Landscape("categorical", space, 120, lambda p, rng: {"score": value(p)}, value).finish()


def interacting() -> Landscape:
    space = SearchSpace(
        {
            "a": Categorical("a", tuple(range(6))),
            "b": Categorical("b", tuple(range(6))),
            "c": Categorical("c", ("p", "q", "r", "s", "t")),
        }
    )

    def value(p: Mapping[str, Any]) -> float:
        match = math.exp(-((p["a"] + p["b"] - 7) ** 2) / 3.0)
        wanted = "pqrst"[p["a"] % 5]
        return 10.0 + 90.0 * match * (1.0 if p["c"] == wanted else 0.75)

    return Landscape("interacting", space, 90, lambda p, rng: {"score": value(p)}, value).finish()


def mixed() -> Landscape:
    space = SearchSpace(
        {
            "algo": Categorical("algo", ("a", "b", "c", "d")),
            "x": Continuous("x", -5.0, 5.0),
            "n": Continuous("n", 1, 64, "int", log=True),
        }
    )
    gain = {"a": 0.8, "b": 0.9, "c": 1.0, "d": 0.85}
    centre = {"a": -2.0, "b": 0.0, "c": 1.5, "d": 3.0}

    def value(p: Mapping[str, Any]) -> float:
        shape = math.exp(-((p["x"] - centre[p["algo"]]) ** 2) / 4.5)
        size = 1.0 - 0.1 * (math.log2(p["n"]) - 4.0) ** 2 / 16.0
        return 100.0 * gain[p["algo"]] * shape * size

    land = Landscape("mixed", space, 80, lambda p, rng: {"score": value(p)}, value)
    land.optimum = 100.0
    return land


def noisy() -> Landscape:
    means = [60, 72, 80, 85, 88, 90, 91, 93, 94, 95, 97, 100]
    space = SearchSpace(
        {
            "kernel": Categorical("kernel", ("k1", "k2", "k3", "k4")),
            "tile": Categorical("tile", (8, 16, 32)),
        }
    )
    order = np.random.default_rng(42).permutation(len(means))
    table = {tuple(a.values()): float(means[order[i]]) for i, a in enumerate(space.grid())}

    def value(p: Mapping[str, Any]) -> float:
        return table[(p["kernel"], p["tile"])]

    def score(p: Mapping[str, Any], rng: np.random.Generator) -> dict[str, float]:
        return {"score": value(p) + float(rng.normal(0.0, 5.0))}

    return Landscape("noisy", space, 60, score, value, cache=False, noisy=True).finish()


def env_params() -> Landscape:
    space = SearchSpace(
        {
            "route": Categorical("route", ("direct", "queue", "batch", "hybrid")),
            "batch": Categorical("batch", (1, 4, 16, 64)),
        }
    )
    loads = {"low": 0.5, "mid": 0.3, "high": 0.2}
    # 'direct' is best at the likeliest load but bad at high load; 'hybrid' is steady.
    route_fit = {
        "direct": {"low": 100, "mid": 60, "high": 20},
        "queue": {"low": 70, "mid": 85, "high": 80},
        "batch": {"low": 50, "mid": 80, "high": 100},
        "hybrid": {"low": 85, "mid": 90, "high": 85},
    }
    best_batch = {"low": 16, "mid": 16, "high": 64}

    def at(p: Mapping[str, Any], load: str) -> float:
        miss = abs(math.log2(p["batch"]) - math.log2(best_batch[load])) / 2.0
        return route_fit[p["route"]][load] * (1.0 - 0.1 * miss)

    def value(p: Mapping[str, Any]) -> float:
        return sum(w * at(p, load) for load, w in loads.items())

    dims = [EnvParamDim("load", tuple(loads), tuple(loads.values()))]
    return Landscape(
        "env_params", space, 48, lambda p, rng: {"score": at(p, p["load"])}, value, dims
    ).finish()


def multi() -> Landscape:
    # 8 core counts x 8 modes; a mode's (speed, cost) decides the trade-off: 15 of the 64
    # actions are on the front.
    speed = (1.0, 0.9, 1.3, 1.2, 0.7, 0.6, 1.0, 0.5)
    cost = (1.0, 1.2, 1.6, 1.7, 0.6, 0.65, 1.1, 0.8)
    space = SearchSpace(
        {
            "cores": Categorical("cores", tuple(range(1, 9))),
            "mode": Categorical("mode", tuple("ABCDEFGH")),
        }
    )

    def score(p: Mapping[str, Any], rng: np.random.Generator) -> dict[str, float]:
        m = "ABCDEFGH".index(p["mode"])
        return {
            "throughput": p["cores"] ** 0.9 * speed[m],
            "power": 1.0 + p["cores"] * cost[m],
        }

    return Landscape(
        "multi",
        space,
        48,
        score,
        metrics=("throughput", "power"),
        objectives=("max", "min"),
        reference=(0.0, 16.0),
    ).finish()


LANDSCAPES: dict[str, Callable[[], Landscape]] = {
    "categorical": categorical,
    "interacting": interacting,
    "mixed": mixed,
    "noisy": noisy,
    "env_params": env_params,
    "multi": multi,
}


# -- measuring -----------------------------------------------------------------------------
class Reached(Exception):
    """The target is reached and can no longer be lost: stop the run early."""


class Tracker:
    """Turns the sequence of measurements into 'trials needed'."""

    def __init__(self, land: Landscape) -> None:
        self.land = land
        self.t = 0
        self.best = -math.inf
        self.needed: int | None = None
        self.points: list[tuple[float, float]] = []
        self.seen: set[str] = set()
        self.draws: dict[str, list[float]] = {}
        self.actions: dict[str, dict[str, Any]] = {}
        self.within: list[bool] = []

    def record(
        self, action: Mapping[str, Any], env: Mapping[str, Any], obs: Mapping[str, float]
    ) -> None:
        land = self.land
        self.t += 1
        key = cache_key(action, env)
        repeat = land.cache and key in self.seen  # answered from the cache: no new draw
        self.seen.add(key)
        if land.objectives is not None:
            self.points.append((obs[land.metrics[0]], obs[land.metrics[1]]))
            volume = hypervolume_2d(self.points, land.reference, land.objectives)  # type: ignore[arg-type]
            if self.needed is None and volume >= 0.99 * land.optimum - 1e-12:
                self.needed = self.t
                raise Reached
            return
        reward = obs["score"]
        if not land.robust:
            assert land.true_value is not None
            if reward > self.best:
                self.best = reward
                if self.needed is None and land.true_value(action) >= 0.99 * land.optimum:
                    self.needed = self.t
                    raise Reached
            return
        akey = cache_key(action, {})
        self.actions[akey] = dict(action)
        if not repeat:
            self.draws.setdefault(akey, []).append(reward)
        pick = max(self.draws, key=lambda k: (statistics.fmean(self.draws[k]), len(self.draws[k])))
        assert land.true_value is not None
        self.within.append(land.true_value(self.actions[pick]) >= 0.99 * land.optimum)

    def result(self) -> int | None:
        if not self.land.robust or self.land.objectives is not None:
            return self.needed
        if not self.within or not self.within[-1]:
            return None
        t = len(self.within)
        while t > 0 and self.within[t - 1]:
            t -= 1
        return t + 1


class BenchEnv(FunctionEnv):
    """A FunctionEnv that records each trial into a tracker and caches like WorkloadEnv."""

    def __init__(self, land: Landscape, seed: int, tracker: Tracker) -> None:
        rng = np.random.default_rng(10_000 + seed)
        self._memo: dict[str, dict[str, float]] = {}
        dims = land.env_params

        def objective(params: dict[str, Any]) -> dict[str, float]:
            if not land.cache:
                return land.score(params, rng)
            key = cache_key(params, {})
            if key not in self._memo:
                self._memo[key] = land.score(params, rng)
            return self._memo[key]

        super().__init__(
            land.space,
            objective,
            metrics=list(land.metrics),
            env_params=EnvParams(dims, seed) if dims else None,
        )
        self._caches = land.cache
        self.tracker = tracker

    @property
    def caches_results(self) -> bool:
        return self._caches

    def step(self, action: Mapping[str, Any]) -> tuple[Any, float, bool, dict[str, Any]]:
        out = super().step(action)
        info = out[3]
        self.tracker.record(info["feedback"].action, info["env_params"], out[0])
        return out


def default_type(land: Landscape, budget: int) -> str:
    """The agent the default rule picks for ``land`` (``agent.type`` omitted)."""
    agent_type, _ = default_agent_reason(land.space, budget, deterministic=not land.robust)
    return agent_type


def run_agent(land: Landscape, name: str, seed: int, gp_budget: int) -> int | None:
    tracker = Tracker(land)
    budget = land.budget
    options: dict[str, Any] = {}
    agent_type = name
    if name == "default":
        agent_type = default_type(land, budget)
    elif name.startswith("optuna-"):
        agent_type = "optuna"
        options = {"sampler": name.removeprefix("optuna-")}
        if name == "optuna-gp":
            budget = min(budget, gp_budget)
    if name == "optuna-direct":
        return run_direct(land, seed, tracker)
    cls = load_agent(agent_type)
    objectives = land.objectives if cls.supports_multi_objective else None
    env = BenchEnv(land, seed, tracker)
    agent: BaseAgent = cls(env, AgentConfig(budget, seed, options, objectives=objectives))
    with contextlib.suppress(Reached):
        agent.run()
    return tracker.result()


def run_direct(land: Landscape, seed: int, tracker: Tracker) -> int | None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # stopping raises inside a trial
    rng = np.random.default_rng(10_000 + seed)
    env_params = EnvParams(land.env_params, seed) if land.env_params else None
    tracker.land = Landscape(**{**land.__dict__, "cache": False})  # no cache when used directly

    def objective(trial: optuna.Trial) -> float | tuple[float, float]:
        action: dict[str, Any] = {}
        for name, dim in land.space.dimensions.items():
            if isinstance(dim, Categorical):
                action[name] = trial.suggest_categorical(name, list(dim.values))
            elif dim.dtype == "int":
                action[name] = trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
            else:
                action[name] = trial.suggest_float(name, dim.low, dim.high, log=dim.log)
        env = env_params.sample(trial.number + 1) if env_params else {}
        obs = land.score({**action, **env}, rng)
        tracker.record(action, env, obs)
        if land.objectives is not None:
            return obs[land.metrics[0]], obs[land.metrics[1]]
        return obs["score"]

    directions = ["maximize"] if land.objectives is None else ["maximize", "minimize"]
    study = optuna.create_study(
        sampler=optuna.samplers.TPESampler(seed=seed), directions=directions
    )
    with contextlib.suppress(Reached):
        study.optimize(objective, n_trials=land.budget)
    return tracker.result()


def applies(land: Landscape, agent: str) -> bool:
    if agent == "grid":
        return land.space.size is not None
    if agent == "bandit":
        return land.space.size is not None and land.objectives is None
    return True


def task(args: tuple[str, str, int, int, int]) -> tuple[str, str, int, int | None, float]:
    land_name, agent, seed, gp_budget, budget = args
    warnings.simplefilter("ignore")
    logging.getLogger("optuna").setLevel(logging.ERROR)  # e.g. "greenlet is unavailable"
    start = time.perf_counter()
    land = LANDSCAPES[land_name]()
    land.budget = budget  # --quick cuts it
    needed = run_agent(land, agent, seed, gp_budget)
    return land_name, agent, seed, needed, time.perf_counter() - start


def median_cell(values: Sequence[int | None], budget: int) -> tuple[float, str]:
    filled = sorted(v if v is not None else budget + 1 for v in values)
    med = statistics.median(filled)
    hits = sum(v is not None for v in values)
    shown = f">{budget}" if med > budget else f"{med:g}"
    return med, f"{shown} ({hits}/{len(values)})"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--landscapes", default=",".join(LANDSCAPES))
    parser.add_argument("--agents", default=",".join(AGENTS))
    parser.add_argument(
        "--gp-budget", type=int, default=40, help="trial cap for optuna-gp (it is slow)"
    )
    parser.add_argument("--quick", action="store_true", help="1 seed, 3 strategies, 1 process")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.jobs, args.agents = 1, 1, "default,random,optuna-direct"
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torch (GP) on one thread per process
    lands = {n: LANDSCAPES[n]() for n in args.landscapes.split(",")}
    if args.quick:  # seconds, not minutes: the budgets shrink (targets are not judged)
        for land in lands.values():
            land.budget = min(land.budget, 20)
    agents = [a for a in args.agents.split(",") if a]
    tasks = [
        (n, a, s, args.gp_budget, land.budget)
        for n, land in lands.items()
        for a in agents
        if applies(land, a)
        for s in range(args.seeds)
    ]
    start = time.perf_counter()
    results: dict[tuple[str, str], list[int | None]] = {}
    seconds: dict[str, float] = {}
    with contextlib.ExitStack() as stack:
        if args.jobs > 1:
            pool = stack.enter_context(ProcessPoolExecutor(args.jobs))
            done = pool.map(task, tasks, chunksize=4)
        else:
            done = map(task, tasks)
        for land_name, agent, _, needed, took in done:
            results.setdefault((land_name, agent), []).append(needed)
            seconds[agent] = seconds.get(agent, 0.0) + took
    wall = time.perf_counter() - start

    print(
        f"median trials to within 1% of the optimum over {args.seeds} seeds "
        "(runs that got there / seeds); '-' = not applicable"
    )
    width = 16
    print(f"{'landscape':<22}" + "".join(f"{a:>{width}}" for a in agents))
    medians: dict[tuple[str, str], float] = {}
    for name, land in lands.items():
        size = land.space.size
        label = f"{name} ({size if size is not None else 'inf'}; B={land.budget})"
        cells = []
        for agent in agents:
            if (name, agent) not in results:
                cells.append("-")
                continue
            budget = min(land.budget, args.gp_budget) if agent == "optuna-gp" else land.budget
            medians[(name, agent)], text = median_cell(results[(name, agent)], budget)
            cells.append(text)
        print(f"{label:<22}" + "".join(f"{c:>{width}}" for c in cells))
    print(
        "default agent: "
        + ", ".join(f"{n}={default_type(land, land.budget)}" for n, land in lands.items())
    )
    print(
        f"optuna-gp capped at {args.gp_budget} trials; wall time {wall:.0f} s "
        f"with {args.jobs} processes; CPU s per strategy: "
        + ", ".join(f"{a} {s:.0f}" for a, s in seconds.items())
    )
    verdicts = []
    for name, land in lands.items():
        if (
            "default" in agents
            and "optuna-direct" in agents
            and (name, "default") in medians
            and (name, "optuna-direct") in medians
        ):
            gap = medians[(name, "default")] - medians[(name, "optuna-direct")]
            verdicts.append((f"{name}: default - direct = {gap:+g} (<= 1)", gap <= 1))
        size = land.space.size
        if (
            land.space.is_categorical
            and size is not None
            and size > land.budget
            and (name, "default") in medians
            and not land.robust
            and land.objectives is None
        ):
            quarter = size / 4
            med = medians[(name, "default")]
            verdicts.append((f"{name}: default {med:g} <= grid/4 = {quarter:g}", med <= quarter))
    for text, ok in verdicts:
        print(f"  target {'met ' if ok else 'MISSED'}  {text}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
