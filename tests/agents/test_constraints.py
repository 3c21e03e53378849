"""No trial spent on a known-infeasible action: built-in agents propose only actions
whose constraints over the action and fixed values hold (issue 15, item 3)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.base import AgentConfig
from tunegym.agents.optuna import OptunaAgent
from tunegym.cli.main import main
from tunegym.env.workload import EnvSettings, WorkloadEnv
from tunegym.run import open_env
from tunegym.runners import LocalRunner
from tunegym.spec import load
from tunegym.trial import TrialDatabase, TrialStore
from tunegym.trial.rows import Feedback

# Half the space breaks the constraint: x in 5..8 (either y).
HALF = ["x <= 4"]


@pytest.fixture
def make_env(
    tmp_path: Path, write_toml: Callable[[str, dict[str, Any]], Path]
) -> Iterator[Callable[[dict[str, Any]], WorkloadEnv]]:
    """A WorkloadEnv of a workload dict, recording into tmp_path/run."""
    opened: list[tuple[WorkloadEnv, TrialDatabase]] = []

    def make(data: dict[str, Any]) -> WorkloadEnv:
        (job,) = load(write_toml("env.toml", data)).jobs
        db = TrialDatabase(tmp_path / "trials.sqlite")
        store = TrialStore(db, job.name, 0, tmp_path / "run" / job.name / "0", [])
        env = open_env(job, store, LocalRunner(), EnvSettings())
        opened.append((env, db))
        return env

    yield make
    for env, db in opened:
        env.close()
        db.close()


def _run(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    agent: dict[str, Any],
    params: dict[str, Any] | None = None,
    constraints: list[str] = HALF,
) -> dict[str, Any]:
    data = objective_workload(
        params=params or {"x": [1, 2, 3, 4, 5, 6, 7, 8], "y": ["a", "b"]},
        constraints=constraints,
        agent={"metrics": ["score"], **agent},
    )
    path = write_toml("workload.toml", data)
    out = tmp_path / "runs"
    assert main(["run", str(path), "--output", str(out), "-q"]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    return job


@pytest.mark.parametrize(
    "agent",
    [
        {"type": "grid", "max_steps": 16},
        {"type": "random", "max_steps": 10, "seed": 3},
        {"type": "bandit", "max_steps": 12, "seed": 1},
        {"type": "optuna", "max_steps": 12, "seed": 2},
        {"type": "optuna", "max_steps": 10, "config": {"sampler": "random"}},
        {"type": "optuna", "max_steps": 10, "config": {"sampler": "qmc"}},
        {"type": "auto", "max_steps": 10, "seed": 2},
    ],
    ids=["grid", "random", "bandit", "optuna-tpe", "optuna-random", "optuna-qmc", "auto"],
)
def test_built_in_agents_spend_no_trial_on_a_known_infeasible_action(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    agent: dict[str, Any],
) -> None:
    job = _run(write_toml, objective_workload, tmp_path, agent)
    assert job["counts"]["constraint_failed"] == 0
    assert job["counts"]["ok"] + job["counts"].get("cached", 0) == job["trials"] > 0
    assert job["best"]["action"]["x"] <= 4
    if agent["type"] == "grid":  # the 8 feasible actions, then the grid is done
        assert job["trials"] == 8


@pytest.mark.parametrize("agent", ["random", "optuna", "auto"])
def test_a_range_space_resamples_until_feasible(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    agent: str,
) -> None:
    params = {"x": {"low": 0.0, "high": 8.0}, "y": ["a", "b"]}
    job = _run(
        write_toml, objective_workload, tmp_path, {"type": agent, "max_steps": 14}, params=params
    )
    assert job["counts"]["constraint_failed"] == 0 and job["trials"] == 14


def test_a_constraint_over_env_params_is_still_recorded(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """A constraint that reads an env param (here ``y``, drawn per trial) is not known
    before the trial: it still arrives as a ``constraint_failed`` row, as today."""
    data = objective_workload(
        params={"x": [1, 2, 3, 4], "y": ["a", "b"]},
        constraints=["x <= 2 and y in ('a', 'b')"],
        env_params={"y": {}},
        agent={"type": "grid", "metrics": ["score"], "max_steps": 4, "min_draws": 1},
    )
    out = tmp_path / "runs"
    assert main(["run", str(write_toml("workload.toml", data)), "--output", str(out), "-q"]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    assert job["trials"] == 4  # nothing skipped: whether it holds depends on the draw
    assert job["counts"]["constraint_failed"] == 2  # x = 3 and x = 4, under any draw


def _feedback(action: dict[str, Any], reward: float, status: str) -> Feedback:
    return Feedback(1, action, {}, {"score": reward}, reward, status)


def test_optuna_learns_constraint_failures_as_infeasible_trials(
    make_env: Callable[..., Any], objective_workload: Callable[..., dict[str, Any]]
) -> None:
    """Rows that arrive as ``constraint_failed`` are told to the study as infeasible
    (a positive constraint value), the others as feasible."""
    env = make_env(objective_workload(constraints=["x != 4"]))
    agent = OptunaAgent(env, AgentConfig(max_steps=10, seed=0))
    first = agent.select_action({})
    assert first is not None
    agent.learn(_feedback(first, 1.0, "ok"))
    agent.learn(_feedback({"x": 2, "y": "b"}, -1e9, "constraint_failed"))  # not proposed
    trials = agent.study.trials
    constraints = [list(t.constraints.values()) for t in trials if t.state.name == "COMPLETE"]
    assert constraints[0] == [0.0] and constraints[-1] == [1.0]


def test_optuna_without_constraints_keeps_an_unconstrained_study(
    make_env: Callable[..., Any], objective_workload: Callable[..., dict[str, Any]]
) -> None:
    env = make_env(objective_workload())
    agent = OptunaAgent(env, AgentConfig(max_steps=10, seed=0))
    action = agent.select_action({})
    assert action is not None
    agent.learn(_feedback(action, 1.0, "ok"))
    assert all(not t.constraints for t in agent.study.trials)


def test_optuna_stops_when_no_feasible_action_is_left(
    make_env: Callable[..., Any], objective_workload: Callable[..., dict[str, Any]]
) -> None:
    env = make_env(objective_workload(constraints=["x > 100"]))
    agent = OptunaAgent(env, AgentConfig(max_steps=10, seed=0))
    assert agent.select_action({}) is None
    assert sys.modules.get("optuna") is not None


def test_auto_on_float_ranges_asks_nevergrad_again_for_an_infeasible_action(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Only float ranges: auto runs NGOpt, which is told refused candidates, not run."""
    params = {"x": {"low": 0.0, "high": 8.0}, "y": "a"}
    job = _run(
        write_toml, objective_workload, tmp_path, {"type": "auto", "max_steps": 14}, params=params
    )
    assert job["search"]["method"] == "ngopt"
    assert job["counts"]["constraint_failed"] == 0 and job["trials"] == 14


def test_auto_finds_a_narrow_feasible_region_nevergrad_misses_and_keeps_its_notes_quiet(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """NGOpt's small-budget optimizer (Cobyla) can stay outside a narrow feasible region;
    uniform draws find it, and Nevergrad's and SciPy's warnings stay off the terminal."""
    params = {"x": {"low": 0.5, "high": 10.0}, "y": "a"}
    job = _run(
        write_toml,
        objective_workload,
        tmp_path,
        {"type": "auto", "max_steps": 12},
        params=params,
        constraints=["x > 9.7"],
    )
    assert job["search"]["method"] == "ngopt"
    assert job["trials"] == 12 and job["counts"]["ok"] == 12
    assert job["best"]["action"]["x"] > 9.7
    assert "Warning" not in capfd.readouterr().err


@pytest.mark.parametrize("agent", ["random", "optuna", "auto"])
def test_constraints_no_action_of_a_range_space_meets_fail_the_job_and_say_so(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    agent: str,
) -> None:
    data = objective_workload(
        params={"x": {"low": 0.0, "high": 8.0}, "y": "a"},
        constraints=["x > 100"],
        agent={"type": agent, "metrics": ["score"], "max_steps": 5},
    )
    out = tmp_path / "runs"
    assert main(["run", str(write_toml("workload.toml", data)), "--output", str(out)]) == 1
    assert "no feasible action was found" in capsys.readouterr().out
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    assert job["status"] == "agent_failed" and job["trials"] == 0
    assert "broke the workload's constraints" in job["message"]


@pytest.mark.parametrize("agent", ["grid", "random", "optuna"])
def test_a_constraint_on_a_conditional_param_applies_only_where_it_is_active(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    agent: str,
) -> None:
    """``x`` exists only for ``y = "b"``: ``x <= 2`` leaves ``{"y": "a"}`` feasible (it
    was dropped, as the constraint could not be evaluated without ``x``)."""
    data = objective_workload(
        when={"x": "y == 'b'"},
        constraints=["x <= 2"],
        agent={"type": agent, "metrics": ["score"], "max_steps": 10, "seed": 1},
    )
    data["params"] = {"y": ["a", "b"], "x": [1, 2, 3, 4]}  # y first: x's condition reads it
    out = tmp_path / "runs"
    assert main(["run", str(write_toml("workload.toml", data)), "--output", str(out), "-q"]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    rows = TrialDatabase(run_dir / "trials.sqlite").rows("objective", 0)
    measured = {json.dumps(r.action, sort_keys=True) for r in rows if r.status == "ok"}
    assert measured == {'{"y": "a"}', '{"x": 1, "y": "b"}', '{"x": 2, "y": "b"}'}
    assert all(r.status in ("ok", "cached") for r in rows)


@pytest.mark.parametrize(
    ("agent", "high", "says"),
    [
        ("grid", 200_000, "none of the 200001 actions of the space meets the workload's"),
        ("random", 200_000, "none of the 200001 actions of the space meets the workload's"),
        ("optuna", 200_000, "none of the 200001 actions of the space meets the workload's"),
        ("auto", 200_000, "none of the 200001 actions of the space meets the workload's"),
        # Too large to permute: it drew without end (73 s at 3 million actions) before.
        ("random", 3_000_000, "10000 candidate actions in a row broke the workload's"),
    ],
)
def test_constraints_no_action_of_a_large_finite_space_meets_fail_the_job_and_say_so(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    agent: str,
    high: int,
    says: str,
) -> None:
    # Past verify's 100,000-action check, the job ended "ok, 0 trial(s)" with exit 0.
    data = objective_workload(
        params={"x": {"low": 0, "high": high, "dtype": "int"}, "y": "a"},
        constraints=["x < 0"],
        agent={"type": agent, "metrics": ["score"], "max_steps": 3},
    )
    out = tmp_path / "runs"
    assert main(["run", str(write_toml("workload.toml", data)), "--output", str(out)]) == 1
    assert says in capsys.readouterr().out
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    assert job["status"] == "agent_failed" and job["trials"] == 0
    assert job["message"].startswith("stopped: ")


@pytest.mark.parametrize("agent", ["random", "grid"])
def test_random_draws_work_in_spaces_past_int64(
    write_toml: Callable[[str, dict[str, Any]], Path],
    objective_workload: Callable[..., dict[str, Any]],
    tmp_path: Path,
    agent: str,
) -> None:
    # 10**21 actions: "internal error: ValueError: high is out of bounds for int64".
    wide = {"low": 0, "high": 10_000_000, "dtype": "int"}
    data = objective_workload(
        command=[sys.executable, "-c", "print('score: 1')", "{x}{y}{z}"],
        params={"x": wide, "y": wide, "z": wide},
        agent={"type": agent, "metrics": ["score"], "max_steps": 3, "seed": 3}
        | ({"config": {"start": "random"}} if agent == "grid" else {}),
    )
    out = tmp_path / "runs"
    assert main(["run", str(write_toml("workload.toml", data)), "--output", str(out)]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    assert job["counts"]["ok"] == 3
    assert all(0 <= job["best"]["action"][name] <= 10_000_000 for name in "xyz")


def test_random_index_is_uniform_past_int64() -> None:
    import numpy as np

    from tunegym.space import random_index

    rng = np.random.default_rng(0)
    size = 3 * 2**64
    draws = [random_index(rng, size) for _ in range(3000)]
    assert all(0 <= d < size for d in draws)
    thirds = [sum(1 for d in draws if k * 2**64 <= d < (k + 1) * 2**64) for k in range(3)]
    assert all(850 < count < 1150 for count in thirds), thirds  # 1000 each, +-5 sigma
