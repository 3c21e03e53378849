"""WorkloadEnv: one trial per step, exactly as DESIGN.md's flow says."""

from __future__ import annotations

import csv
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tunegym.env.workload import WorkloadEnv


def _trajectory(env: WorkloadEnv) -> list[dict[str, str]]:
    return list(csv.DictReader(env.store.trajectory_path.open()))


def test_step_runs_the_trial_and_scores_it(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    env = make_env(objective_workload())
    obs, reward, done, info = env.step({"x": 3, "y": "b"})
    assert obs == {"score": 1.0}
    assert reward == 1.0 and done is False
    assert info["step"] == 1 and info["status"] == "ok"
    trial_dir = env.sweep.root / "1"
    payload = json.loads((trial_dir / "trial.json").read_text())
    assert payload["step"] == 1 and payload["params"] == {"x": 3, "y": "b"}
    assert (trial_dir / "stdout.txt").read_text().strip() == "score: 1.0"
    # The workload sees each param as TUNEGYM_PARAM_<NAME> and runs in its trial folder.
    assert json.loads((trial_dir / "result.json").read_text())["env"] == "3"


def test_step_is_monotonic_across_resets(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    env = make_env(objective_workload())
    steps = []
    for _ in range(5):
        env.reset(seed=1)
        steps.append(env.step({"x": 1, "y": "a"})[3]["step"])
    assert steps == [1, 2, 3, 4, 5]
    assert [r["step"] for r in _trajectory(env)] == ["1", "2", "3", "4", "5"]


def test_cache_hit_records_a_row_without_running(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    env = make_env(objective_workload())
    env.step({"x": 2, "y": "a"})
    _, reward, _, info = env.step({"x": 2.0, "y": "a"})  # 2.0 and 2 are the same candidate
    assert info["status"] == "cached" and info["cached"] is True and reward == -1.0
    assert not (env.sweep.root / "2").exists()
    assert [r["status"] for r in _trajectory(env)] == ["ok", "cached"]


def test_int_range_treats_one_and_one_point_zero_as_the_same_trial(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    env = make_env(objective_workload(params={"x": {"low": 0, "high": 5, "dtype": "int"}}))
    env.step({"x": 1, "y": "a"})
    assert env.step({"x": 1.0, "y": "a"})[3]["status"] == "cached"


def test_cache_can_be_disabled(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    env = make_env(objective_workload(), cache=False)
    env.step({"x": 2, "y": "a"})
    assert env.step({"x": 2, "y": "a"})[3]["status"] == "ok"
    assert (env.sweep.root / "2").is_dir()


def test_constraint_failure_is_a_penalty_row(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    data = objective_workload(
        constraints=["x <= 2 or y == 'a'"], agent={"penalties": {"constraint_failure": -42.0}}
    )
    env = make_env(data)
    _, reward, _, info = env.step({"x": 3, "y": "b"})
    assert info["status"] == "constraint_failed" and reward == -42.0
    assert info["row"].error == "constraint \"x <= 2 or y == 'a'\" is false"
    assert not (env.sweep.root / "1").exists()
    assert env.step({"x": 3, "y": "a"})[3]["status"] == "ok"
    assert [r["step"] for r in _trajectory(env)] == ["1", "2"]


def test_failing_command_is_data_not_an_error(
    make_env: Callable[..., WorkloadEnv], objective_script: Path
) -> None:
    data = {
        "name": "fails",
        "command": [sys.executable, str(objective_script), "--fail={fail}"],
        "params": {"fail": ["yes", "no"]},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"penalties": {"metric_failure": -7.0}},
    }
    env = make_env(data)
    _, reward, _, info = env.step({"fail": "yes"})
    assert info["status"] == "failed" and reward == -7.0
    assert info["row"].returncode == 3 and info["row"].error == "exit code 3"
    assert env.store.rows()[0].error == "exit code 3"  # kept in the trial store
    assert "boom" in (env.sweep.root / "1" / "stderr.txt").read_text()
    assert env.step({"fail": "no"})[3]["status"] == "ok"


def test_timeout_is_recorded(make_env: Callable[..., WorkloadEnv], objective_script: Path) -> None:
    data = {
        "name": "slow",
        "command": [sys.executable, str(objective_script), "--sleep={sleep}"],
        "params": {"sleep": [30, 0]},
        "timeout_s": 0.5,
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
    }
    env = make_env(data)
    _, reward, _, info = env.step({"sleep": 30})
    assert info["status"] == "timeout" and reward == -1e9
    assert info["row"].error == "timed out after 0.5 s"


def test_missing_metric_gives_metric_missing(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    data = objective_workload(metrics=[{"name": "score", "regex": r"never printed: (\S+)"}])
    env = make_env(data)
    obs, reward, _, info = env.step({"x": 1, "y": "a"})
    assert info["status"] == "metric_missing" and reward == -1e9
    assert math.isnan(obs["score"])
    assert info["row"].error == "metric(s) not found in the trial's output: score"


def test_json_metric_and_expression_reward(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    data = objective_workload(
        metrics=[{"name": "score", "json": "result.json:score"}],
        agent={"reward": "expr: 10 - score"},
    )
    env = make_env(data)
    _, reward, _, _ = env.step({"x": 1, "y": "a"})
    assert reward == 14.0  # score = -(1-3)^2 = -4


def test_env_params_are_drawn_per_trial_and_logged(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    data = objective_workload(
        params={"x": [1, 2], "y": ["a", "b", "c"]}, env_params={"y": {"weights": [0.2, 0.3, 0.5]}}
    )
    env = make_env(data)
    assert env.action_space.names == ["x"]
    _, info = env.reset()
    first_draw = info["env_params"]
    infos = [env.step({"x": 1})[3] for _ in range(6)]
    assert infos[0]["env_params"] == first_draw
    env_rows = list(csv.DictReader(env.store.env_path.open()))
    assert [r["y"] for r in env_rows] == [i["env_params"]["y"] for i in infos]
    # Same action, same env params -> cache hit; a different draw runs again.
    seen: set[str] = set()
    for info in infos:
        y = info["env_params"]["y"]
        assert info["status"] == ("cached" if y in seen else "ok")
        seen.add(y)


def test_dry_run_writes_command_and_runs_nothing(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    env = make_env(objective_workload(), dry_run=True)
    _, reward, _, info = env.step({"x": 2, "y": "a"})
    command = (env.sweep.root / "1" / "command.txt").read_text()
    assert "--x=2" in command and "--y=a" in command
    assert not (env.sweep.root / "1" / "result.json").exists()
    assert info["status"] == "dry_run" and math.isnan(reward)  # issue 18: dry_run, not ok


def test_arguments_arrive_verbatim(make_env: Callable[..., WorkloadEnv], tmp_path: Path) -> None:
    echo = tmp_path / "echo.py"
    echo.write_text(
        "import json, sys\njson.dump(sys.argv[1:], open('argv.json', 'w'))\nprint('ok: 1')\n"
    )
    nasty = ["a b", "it's", 'say "hi"', "x; rm -rf /", "$HOME", "*"]
    data = {
        "name": "echo",
        "command": [sys.executable, str(echo), "--v={v}", "{{literal}}", "{step}"],
        "params": {"v": nasty},
        "metrics": [{"name": "ok", "regex": r"ok: (\d+)"}],
    }
    env = make_env(data)
    for step, value in enumerate(nasty, start=1):
        env.step({"v": value})
        argv = json.loads((env.sweep.root / str(step) / "argv.json").read_text())
        assert argv == [f"--v={value}", "{literal}", str(step)]


def test_observers_see_every_step(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    env = make_env(objective_workload())
    events: list[tuple[str, int]] = []

    class Recorder:
        def before_step(self, env: Any, step: int, action: Any, env_params: Any) -> None:
            events.append(("before", step))

        def after_step(self, env: Any, row: Any) -> None:
            events.append(("after", row.step))

    env.observers.append(Recorder())
    env.step({"x": 1, "y": "a"})
    env.step({"x": 1, "y": "a"})
    assert events == [("before", 1), ("after", 1), ("before", 2), ("after", 2)]


def test_invalid_action_is_a_clear_value_error(
    make_env: Callable[..., WorkloadEnv], objective_workload: Callable[..., dict]
) -> None:
    import pytest

    env = make_env(objective_workload())
    with pytest.raises(ValueError, match="not one of the candidates"):
        env.step({"x": 99, "y": "a"})
    with pytest.raises(ValueError, match="missing \\['y'\\]"):
        env.step({"x": 1})
