"""Robust best under env params and the Pareto front: pure functions, then summary.json."""

from __future__ import annotations

import csv
import json
import textwrap
import tomllib
from pathlib import Path

import pytest

from tunegym.analysis.robust import (
    action_stats,
    context_bests,
    dominates,
    hypervolume_2d,
    pareto_front,
    robust_best,
    robust_choice,
    robust_summary,
)
from tunegym.env_params import EnvParamDim, combinations, required_draws
from tunegym.outputs.toml import dumps
from tunegym.run import RunOptions, run_scenario
from tunegym.spec import load
from tunegym.trial.store import TrialRow


def row(step: int, a: str, reward: float | None, status: str = "ok", **env: object) -> TrialRow:
    return TrialRow(step, {"a": a}, dict(env), {"score": reward or 0.0}, reward, status)


# -- robust best ---------------------------------------------------------------------------
def test_robust_best_is_the_highest_mean_not_the_luckiest_draw() -> None:
    rows = [
        row(1, "lucky", 10.0, load="low"),
        row(2, "lucky", 0.0, load="high"),
        row(3, "lucky", 0.0, load="high"),
        row(4, "steady", 4.0, load="low"),
        row(5, "steady", 4.0, load="high"),
    ]
    best = robust_best(rows)
    assert best is not None
    assert best.action == {"a": "steady"} and best.mean_reward == 4.0 and best.count == 2
    lucky = next(s for s in action_stats(rows) if s.action == {"a": "lucky"})
    assert lucky.count == 3 and lucky.mean_reward == pytest.approx(10 / 3)
    assert lucky.max_reward == 10.0 and lucky.min_reward == 0.0


def test_robust_ties_go_to_more_draws_then_the_earliest_step() -> None:
    rows = [row(1, "once", 2.0), row(2, "twice", 2.0), row(3, "twice", 2.0), row(4, "late", 2.0)]
    assert [s.action["a"] for s in action_stats(rows)] == ["twice", "once", "late"]


def test_cached_rows_do_not_count_as_new_draws_and_failures_never_count() -> None:
    rows = [
        row(1, "x", 1.0, load="low"),
        row(2, "x", 1.0, status="cached", load="low"),
        row(3, "x", -1e9, status="failed", load="high"),
        row(4, "y", None, status="timeout"),
    ]
    (stats,) = action_stats(rows)
    assert stats.action == {"a": "x"} and stats.count == 1 and stats.mean_reward == 1.0
    # An action known only from cache hits (e.g. carried over) still counts once per row.
    only_cached = [row(1, "z", 3.0, status="cached"), row(2, "z", 5.0, status="cached")]
    assert action_stats(only_cached)[0].count == 2


def test_context_bests_can_differ_per_context() -> None:
    rows = [
        row(1, "a", 1.0, load="low"),
        row(2, "b", 0.0, load="low"),
        row(3, "a", 0.0, load="high"),
        row(4, "b", 2.0, load="high"),
        row(5, "b", 1.0, load="high"),
    ]
    by_context = {c.env_params["load"]: c for c in context_bests(rows)}
    assert by_context["low"].best.action == {"a": "a"}
    assert by_context["high"].best.action == {"a": "b"}
    assert by_context["high"].best.mean_reward == 1.5 and by_context["high"].best.count == 2
    assert by_context["high"].actions == 2 and by_context["high"].count == 3
    summary = robust_summary(action_stats(rows), context_bests(rows))
    assert summary["best"]["action"] == {"a": "b"}  # (0+2+1)/3 = 1.0 > (1+0)/2 = 0.5
    assert [c["best_action"] for c in summary["contexts"]] == [{"a": "b"}, {"a": "a"}]


# -- Pareto front --------------------------------------------------------------------------
def mo_row(step: int, a: str, throughput: float, latency: float, status: str = "ok") -> TrialRow:
    obs = {"throughput": throughput, "latency": latency}
    return TrialRow(step, {"a": a}, {}, obs, throughput, status)


def test_pareto_front_of_a_known_problem() -> None:
    # Maximise throughput, minimise latency. Front: p (10, 5), q (8, 2), r (3, 1).
    rows = [
        mo_row(1, "p", 10, 5),
        mo_row(2, "q", 8, 2),
        mo_row(3, "d1", 7, 3),  # dominated by q
        mo_row(4, "r", 3, 1),
        mo_row(5, "d2", 10, 6),  # dominated by p (same throughput, worse latency)
        mo_row(6, "bad", 100, 0, status="failed"),  # failures never enter the front
    ]
    front = pareto_front(rows, ["throughput", "latency"], ["max", "min"])
    assert [m.action["a"] for m in front] == ["p", "q", "r"]
    assert front[1].objectives == {"throughput": 8.0, "latency": 2.0}
    assert front[1].first_step == 2 and front[1].count == 1
    # Flip both directions: the front becomes the other corner.
    flipped = pareto_front(rows[:5], ["throughput", "latency"], ["min", "max"])
    assert [m.action["a"] for m in flipped] == ["r", "d1", "d2"]


def test_pareto_front_uses_the_mean_of_repeated_measurements() -> None:
    rows = [mo_row(1, "p", 10, 5), mo_row(2, "p", 6, 5), mo_row(3, "q", 7, 5)]
    front = pareto_front(rows, ["throughput", "latency"], ["max", "min"])
    # p's mean throughput is 8 > 7 at the same latency: p dominates q.
    assert [(m.action["a"], m.count, m.objectives["throughput"]) for m in front] == [("p", 2, 8.0)]


def test_pareto_front_mean_decides_membership() -> None:
    rows = [mo_row(1, "p", 10, 5), mo_row(2, "p", 4, 5), mo_row(3, "q", 8, 5)]
    front = pareto_front(rows, ["throughput", "latency"], ["max", "min"])
    # p's mean throughput is 7 < 8 at the same latency: q dominates p.
    assert [(m.action["a"], m.count) for m in front] == [("q", 1)]


def test_dominance_and_hypervolume() -> None:
    assert dominates([2, 1], [1, 1], ["max", "min"])
    assert not dominates([1, 1], [1, 1], ["max", "min"])
    assert not dominates([2, 2], [1, 1], ["max", "min"])
    # Maximise both from reference (0, 0): points (1, 3) and (3, 1) cover 3 + 3 - 1 = 5.
    assert hypervolume_2d([(1, 3), (3, 1)], (0, 0), ["max", "max"]) == pytest.approx(5.0)
    assert hypervolume_2d([(1, 3), (3, 1), (1, 1)], (0, 0), ["max", "max"]) == 5.0
    # Minimise both from reference (4, 4): (1, 2) covers 3 * 2 = 6.
    assert hypervolume_2d([(1, 2), (5, 0)], (4, 4), ["min", "min"]) == pytest.approx(6.0)


# -- summary.json --------------------------------------------------------------------------
BENCH = textwrap.dedent(
    """
    import argparse, json
    p = argparse.ArgumentParser()
    p.add_argument("--mode")
    p.add_argument("--load", default="low")
    a = p.parse_args()
    # 'fast' is best at low load only; 'steady' is best on average.
    table = {("fast", "low"): 10.0, ("fast", "high"): 0.0,
             ("steady", "low"): 6.0, ("steady", "high"): 5.0,
             ("slow", "low"): 1.0, ("slow", "high"): 1.0}
    score = table[(a.mode, a.load)]
    latency = {"fast": 1.0, "steady": 2.0, "slow": 3.0}[a.mode] * (2 if a.load == "high" else 1)
    print(json.dumps({"score": score, "latency": latency}))
    """
)


def write_workload(tmp_path: Path, **overrides: object) -> Path:
    script = tmp_path / "bench.py"
    script.write_text(BENCH)
    data: dict[str, object] = {
        "name": "robust",
        "command": ["{python}", str(script), "--mode={mode}", "--load={load}"],
        "params": {"mode": ["fast", "steady", "slow"], "load": ["low", "high"]},
        "env_params": {"load": {}},
        "metrics": [
            {"name": "score", "json": "stdout:score"},
            {"name": "latency", "json": "stdout:latency"},
        ],
        "agent": {"type": "grid", "max_steps": 3, "metrics": ["score"], "seed": 3},
        **overrides,
    }
    path = tmp_path / "robust.toml"
    path.write_text(dumps(data))
    return path


def run(path: Path, tmp_path: Path) -> dict:
    result = run_scenario(load(path), RunOptions(output=tmp_path / "runs", progress=False))
    assert result.exit_code == 0
    return json.loads((result.run_dir / "summary.json").read_text())


def test_summary_gives_the_robust_best_and_writes_it_as_best_config(tmp_path: Path) -> None:
    # The bandit pulls each arm, then keeps pulling: arms see both loads (env params).
    path = write_workload(
        tmp_path, agent={"type": "bandit", "max_steps": 14, "metrics": ["score"], "seed": 3}
    )
    summary = run(path, tmp_path)
    (job,) = summary["jobs"]
    (folder,) = (tmp_path / "runs").iterdir()
    # Expected, computed independently from the CSV files: executed rows only.
    trajectory = list(csv.DictReader((folder / job["trajectory"]).open()))
    env_rows = {r["step"]: r for r in csv.DictReader((folder / "robust/0/env.csv").open())}
    draws: dict[str, list[float]] = {}
    per_context: dict[tuple[str, str], list[float]] = {}
    for r in trajectory:
        if r["status"] != "ok":
            continue
        mode = json.loads(r["action"])["mode"]
        draws.setdefault(mode, []).append(float(r["reward"]))
        per_context.setdefault((env_rows[r["step"]]["load"], mode), []).append(float(r["reward"]))
    means = {mode: sum(v) / len(v) for mode, v in draws.items()}
    robust = job["robust"]
    assert {s["action"]["mode"]: (s["mean_reward"], s["count"]) for s in robust["actions"]} == {
        mode: (pytest.approx(means[mode]), len(draws[mode])) for mode in draws
    }
    expected = max(draws, key=lambda m: (means[m], len(draws[m])))
    assert robust["best"]["action"] == {"mode": expected}
    for context in robust["contexts"]:
        load_ = context["env_params"]["load"]
        candidates = {m: v for (c, m), v in per_context.items() if c == load_}
        best_here = max(candidates, key=lambda m: sum(candidates[m]) / len(candidates[m]))
        assert context["best_action"] == {"mode": best_here}
    assert job["counts"]["cached"] > 0  # repeated (mode, load) pairs came from the cache
    best_config = tomllib.loads((folder / job["best_config"]).read_text())
    assert best_config["params"]["mode"] == expected
    assert "robust best" in (folder / job["best_config"]).read_text()


def test_summary_lists_the_pareto_front_and_one_best_config_per_member(tmp_path: Path) -> None:
    path = write_workload(
        tmp_path,
        params={"mode": ["fast", "steady", "slow"], "load": "low"},
        env_params={},
        agent={
            "type": "grid",
            "max_steps": 3,
            "metrics": ["score", "latency"],
            "objectives": ["max", "min"],
        },
    )
    summary = run(path, tmp_path)
    (job,) = summary["jobs"]
    assert job["objectives"] == {"score": "max", "latency": "min"}
    front = job["pareto_front"]
    # fast: (10, 1) dominates steady (6, 2) and slow (1, 3).
    assert [m["action"] for m in front] == [{"mode": "fast"}]
    assert front[0]["objectives"] == {"score": 10.0, "latency": 1.0}
    (folder,) = (tmp_path / "runs").iterdir()
    written = tomllib.loads((folder / front[0]["best_config"]).read_text())
    assert front[0]["best_config"].endswith("best_config_0.toml")
    assert written["params"]["mode"] == "fast"
    assert not list((folder / "robust" / "0").glob("best_config_1.toml"))


def test_pareto_front_with_a_tradeoff_writes_every_member(tmp_path: Path) -> None:
    # Minimise latency too, but maximise "score" only at high load: a real trade-off.
    path = write_workload(
        tmp_path,
        params={"mode": ["fast", "steady", "slow"], "load": "high"},
        env_params={},
        agent={
            "type": "grid",
            "max_steps": 3,
            "metrics": ["score", "latency"],
            "objectives": ["max", "min"],
        },
    )
    (job,) = run(path, tmp_path)["jobs"]
    # high load: fast (0, 2), steady (5, 4), slow (1, 6) -> front: steady, fast.
    assert [m["action"]["mode"] for m in job["pareto_front"]] == ["steady", "fast"]
    (folder,) = (tmp_path / "runs").iterdir()
    for i, member in enumerate(job["pareto_front"]):
        path_i = folder / "robust" / "0" / f"best_config_{i}.toml"
        assert tomllib.loads(path_i.read_text())["params"]["mode"] == member["action"]["mode"]


# -- evidence: a minimum of draws ----------------------------------------------------------
def test_the_robust_best_needs_the_minimum_draws_and_shows_its_standard_error() -> None:
    """A count-1 action is not chosen over one measured in every context (issue 15)."""
    rows = [
        row(1, "once", 9.0, load="low"),
        row(2, "steady", 5.0, load="low"),
        row(3, "steady", 6.0, load="high"),
        row(4, "steady", 7.0, load="mid"),
    ]
    choice = robust_choice(action_stats(rows), required=3, min_draws=3, combinations=3)
    assert choice.best is not None and choice.best.action == {"a": "steady"}
    assert choice.met and choice.note is None
    assert choice.best.sem == pytest.approx(1.0 / 3**0.5)  # sample std 1, over sqrt(3)
    assert action_stats(rows)[0].action == {"a": "once"} and action_stats(rows)[0].sem is None
    entry = robust_summary(action_stats(rows), context_bests(rows), choice=choice)
    assert entry["best"]["action"] == {"a": "steady"} and entry["min_draws_met"] is True
    assert entry["required_draws"] == 3 and "evidence_note" not in entry


def test_without_an_action_at_the_minimum_the_most_measured_is_chosen_and_it_says_so() -> None:
    rows = [row(1, "once", 9.0, load="low"), row(2, "twice", 5.0), row(3, "twice", 6.0)]
    choice = robust_choice(action_stats(rows), required=3, min_draws=3, combinations=4)
    assert choice.best is not None and choice.best.action == {"a": "twice"}
    assert not choice.met
    assert choice.note is not None and "rests on 2 draw(s)" in choice.note
    assert robust_summary(action_stats(rows), [], choice=choice)["min_draws_met"] is False


def test_fewer_combinations_than_min_draws_require_every_combination() -> None:
    dims = [EnvParamDim("load", ("low", "high"))]
    assert required_draws(3, dims) == 2 and required_draws(1, dims) == 1
    weighted = [EnvParamDim("load", ("low", "high", "never"), (0.5, 0.5, 0.0))]
    assert combinations(weighted) == 2
    choice = robust_choice(action_stats([row(1, "x", 1.0), row(2, "x", 2.0)]), 2, 3, 2)
    assert choice.met and choice.note is not None and "2 draws cover every one" in choice.note
