"""The ``sb3`` agent: PPO/A2C/DQN trained through the adapter, saved, loaded, evaluated."""

from __future__ import annotations

import csv
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.registry import available_agents, load_agent
from tunegym.errors import SpecError
from tunegym.gym.sb3 import SB3Agent
from tunegym.run import RunOptions, RunResult, run_scenario
from tunegym.spec import load

GYM_TESTS = Path(__file__).resolve().parents[1] / "gym"
TINY = {"policy_kwargs": {"net_arch": [8]}}


@pytest.fixture(autouse=True)
def servers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(GYM_TESTS))  # server = "live_servers:..."


@pytest.fixture
def run(
    write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path
) -> Callable[..., RunResult]:
    """Run a live sb3 workload quietly; keyword arguments update ``[agent]``."""

    def go(server: str = "RouteServer", name: str = "job", **agent: Any) -> RunResult:
        data = {
            "name": name,
            "mode": "live",
            "server": f"live_servers:{server}",
            "agent": {"type": "sb3", "seed": 0, **agent},
        }
        path = write_toml(f"{name}.toml", data)
        options = RunOptions(output=tmp_path / "runs", progress=False, verbosity=0)
        return run_scenario(load(path), options)

    return go


def _trajectory(result: RunResult, job: str = "job") -> list[dict[str, str]]:
    return list(csv.DictReader((result.run_dir / job / "0" / "trajectory.csv").open()))


def test_sb3_is_a_registered_agent() -> None:
    assert available_agents()["sb3"] == "tunegym.gym.sb3:SB3Agent"
    assert load_agent("sb3") is SB3Agent


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"algorithm": "SAC"}, r"agent.config.algorithm: .*'PPO', 'A2C' or 'DQN'"),
        ({"mode": "evaluate"}, r'agent.config: .*mode = "evaluate" needs model'),
        ({"learning_rate": 0.1}, r"agent.config.learning_rate: unknown option for agent 'sb3'"),
        (
            {"policy_kwargs": {"activation_fn": "swish"}},
            r"activation_fn: unknown activation 'swish'; known: relu, tanh",
        ),
    ],
)
def test_bad_config_is_a_spec_error(
    write_toml: Callable[[str, dict[str, Any]], Path], config: dict[str, Any], message: str
) -> None:
    path = write_toml(
        "w.toml",
        {
            "name": "w",
            "mode": "live",
            "server": "live_servers:RouteServer",
            "agent": {"type": "sb3", "config": config},
        },
    )
    with pytest.raises(SpecError, match=message):
        load(path)


def test_ppo_trains_for_exactly_max_steps_and_saves_the_model(
    run: Callable[..., RunResult],
) -> None:
    config = {**TINY, "kwargs": {"n_steps": 32, "batch_size": 32, "n_epochs": 1}}
    result = run(max_steps=80, config=config)
    (job,) = result.summary["jobs"]
    assert result.exit_code == 0 and job["status"] == "ok" and job["agent"] == "sb3"
    rows = _trajectory(result)
    assert [int(r["step"]) for r in rows] == list(range(1, 81))  # not a rollout more
    assert (result.run_dir / "job" / "0" / "model.zip").is_file()
    assert {json.loads(r["action"])["route"] for r in rows} <= {0, 1, 2}


def test_total_timesteps_below_max_steps_trains_that_many(run: Callable[..., RunResult]) -> None:
    config = {**TINY, "total_timesteps": 24, "kwargs": {"n_steps": 16, "batch_size": 16}}
    result = run(max_steps=100, config=config)
    assert len(_trajectory(result)) == 24


def test_a2c_trains_on_continuous_actions(run: Callable[..., RunResult]) -> None:
    config = {**TINY, "algorithm": "A2C", "kwargs": {"n_steps": 8}}
    result = run(server="BoxServer", max_steps=32, config=config)
    rows = _trajectory(result)
    assert len(rows) == 32 and all(r["status"] == "ok" for r in rows)
    actions = [json.loads(r["action"]) for r in rows]
    assert all(isinstance(a["n"], int) and 0 <= a["n"] <= 5 for a in actions)
    assert all(0.0 <= a["a"] <= 1.0 for a in actions)


def test_dqn_trains_on_one_discrete_action(run: Callable[..., RunResult]) -> None:
    kwargs = {"learning_starts": 8, "buffer_size": 64, "batch_size": 8, "train_freq": 4}
    config = {**TINY, "algorithm": "DQN", "kwargs": kwargs}
    result = run(max_steps=40, config=config)
    assert result.exit_code == 0 and len(_trajectory(result)) == 40


def test_evaluate_loads_a_saved_model_and_runs_it(run: Callable[..., RunResult]) -> None:
    kwargs = {"n_steps": 64, "batch_size": 64, "n_epochs": 10, "learning_rate": 0.01}
    trained = run(max_steps=640, config={**TINY, "kwargs": kwargs})
    model = trained.run_dir / "job" / "0" / "model.zip"
    config = {"mode": "evaluate", "model": str(model)}
    result = run(name="eval", max_steps=30, seed=99, config=config)
    (job,) = result.summary["jobs"]
    assert job["status"] == "ok" and job["trials"] == 30
    rows = _trajectory(result, "eval")
    assert not (result.run_dir / "eval" / "0" / "model.zip").exists()  # evaluation saves nothing
    # Greedy actions of a policy trained on a bandit where route 2 always pays.
    assert [json.loads(r["action"])["route"] for r in rows] == [2] * 30


def test_evaluate_without_the_model_file_names_the_path(
    run: Callable[..., RunResult], tmp_path: Path
) -> None:
    with pytest.raises(SpecError, match=r"agent.config.model: no such file: .*missing.zip"):
        run(max_steps=5, config={"mode": "evaluate", "model": "missing.zip"})


def test_evaluate_with_a_model_of_another_env_is_refused(run: Callable[..., RunResult]) -> None:
    trained = run(max_steps=16, config={**TINY, "kwargs": {"n_steps": 16, "batch_size": 16}})
    model = str(trained.run_dir / "job" / "0" / "model.zip")
    with pytest.raises(SpecError, match=r"is not a PPO model for this env: .*spaces do not match"):
        run(
            server="BoxServer",
            name="other",
            max_steps=5,
            config={"mode": "evaluate", "model": model},
        )


def test_a_bad_algorithm_argument_is_a_spec_error(run: Callable[..., RunResult]) -> None:
    # a name PPO does not take is refused when the file loads, naming it (sb3_kwargs.py);
    # a value SB3 refuses only when it builds the model is an agent.config error
    with pytest.raises(SpecError, match=r"kwargs\.n_stepz: PPO takes no option 'n_stepz'"):
        run(max_steps=5, config={"kwargs": {"n_stepz": 8}})
    with pytest.raises(SpecError, match=r"agent.config: cannot build PPO .*clip_range"):
        run(max_steps=5, config={"kwargs": {"clip_range": "wide"}})


def test_sb3_tunes_an_offline_workload_with_env_params(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    data = objective_workload(
        params={"x": [1, 2, 3, 4], "y": ["a", "b"], "z": [0, 1]},
        env_params={"z": {}},
        agent={
            "type": "sb3",
            "max_steps": 12,
            "config": {**TINY, "kwargs": {"n_steps": 6, "batch_size": 6}},
        },
    )
    path = write_toml("offline.toml", data)
    options = RunOptions(output=tmp_path / "runs", progress=False, verbosity=0)
    result = run_scenario(load(path), options)
    (job,) = result.summary["jobs"]
    assert job["status"] == "ok" and job["trials"] == 12
    folder = result.run_dir / "objective" / "0"
    env_rows = list(csv.DictReader((folder / "env.csv").open()))
    assert [r["step"] for r in env_rows] == [str(i) for i in range(1, 13)]
    assert (folder / "model.zip").is_file()


def test_a_resumed_sb3_run_trains_only_the_missing_steps(
    run: Callable[..., RunResult], tmp_path: Path
) -> None:
    config = {**TINY, "kwargs": {"n_steps": 16, "batch_size": 16}}
    first = run(max_steps=48, config=config)
    db = sqlite3.connect(first.run_dir / "trials.sqlite")
    with db:
        db.execute("DELETE FROM trials WHERE step > 20")
    db.close()
    path = tmp_path / "job.toml"  # the workload the fixture wrote
    options = RunOptions(
        output=tmp_path / "runs", progress=False, verbosity=0, resume=first.run_dir
    )
    resumed = run_scenario(load(path), options)
    (job,) = resumed.summary["jobs"]
    assert job["status"] == "ok" and job["trials"] == 48
    assert [int(r["step"]) for r in _trajectory(first)] == list(range(1, 49))


# -- flatten: the action space SB3 sees, chosen from the spec (issue 13) -----------------
def _space(params: dict[str, Any]) -> Any:
    from tunegym.space import SearchSpace
    from tunegym.spec.models import WorkloadSpec

    return SearchSpace.from_workload(
        WorkloadSpec.model_validate({"name": "w", "command": ["true"], "params": params})
    )


MIXED_INT = {"x": {"low": 1, "high": 4, "dtype": "int"}, "y": ["a", "b"]}


@pytest.mark.parametrize(
    ("options", "params", "expected"),
    [
        ({}, {"x": [1, 2], "y": ["a", "b"]}, True),  # all lists: MultiDiscrete
        ({}, {"x": {"low": 0.0, "high": 1.0}}, True),  # all ranges: Box
        ({}, MIXED_INT, "discrete"),  # mixed but finite: one Discrete
        ({"algorithm": "DQN"}, {"x": [1, 2]}, "discrete"),
        ({"flatten": "discrete"}, {"x": [1, 2], "y": ["a", "b"]}, "discrete"),
        ({"flatten": True}, {"x": [1, 2]}, True),
    ],
)
def test_flatten_is_resolved_from_the_options_and_the_space(
    options: dict[str, Any], params: dict[str, Any], expected: Any
) -> None:
    from tunegym.gym.sb3 import SB3Options, resolve_flatten

    assert resolve_flatten(SB3Options.model_validate(options), _space(params)) == expected


def test_a_mixed_space_too_large_for_auto_needs_an_explicit_choice() -> None:
    from tunegym.gym.sb3 import SB3Options, resolve_flatten

    space = _space({"x": {"low": 1, "high": 100_000, "dtype": "int"}, "y": ["a", "b"]})
    with pytest.raises(ValueError, match=r"200000 actions.*flatten = \"discrete\""):
        resolve_flatten(SB3Options(), space)
    assert resolve_flatten(SB3Options(flatten="discrete"), space) == "discrete"


def test_sb3_trains_on_a_mixed_space_through_the_cli(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    """Lists mixed with an int range: verify passes, the run trains on one Discrete space."""
    from tunegym.cli.main import main

    data = objective_workload(
        params=MIXED_INT,
        agent={
            "type": "sb3",
            "max_steps": 6,
            "config": {**TINY, "kwargs": {"n_steps": 6, "batch_size": 6}},
        },
    )
    path = write_toml("mixed.toml", data)
    assert main(["verify", str(path)]) == 0
    out = tmp_path / "runs"
    assert main(["run", str(path), "--output", str(out), "-q", "--no-progress"]) == 0
    (run_dir,) = out.iterdir()
    rows = list(csv.DictReader((run_dir / "objective" / "0" / "trajectory.csv").open()))
    assert len(rows) == 6 and all(r["status"] in ("ok", "cached") for r in rows)
