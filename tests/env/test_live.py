"""LiveEnv: live-mode steps go to an in-process GymServer and are recorded like trials."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.base import AgentConfig
from tunegym.agents.random_search import RandomAgent
from tunegym.cli.main import main
from tunegym.env.live import LiveEnv
from tunegym.env_params import EnvParams
from tunegym.errors import SpecError
from tunegym.gym import ServerArgsWarning, ServerError
from tunegym.spec import load
from tunegym.trial.store import TrialDatabase

GYM_TESTS = Path(__file__).resolve().parents[1] / "gym"


@pytest.fixture
def servers(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``tests/gym/live_servers.py``, importable as ``server = "live_servers:Class"``."""
    monkeypatch.syspath_prepend(str(GYM_TESTS))
    import live_servers  # type: ignore[import-not-found]

    live_servers.INSTANCES.clear()
    return live_servers


def _workload(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "live",
        "mode": "live",
        "server": "live_servers:EchoServer",
        "agent": {"metrics": ["value"], "seed": 3},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return data


@pytest.fixture
def live_env(servers: Any, make_env: Callable[..., Any]) -> Callable[..., LiveEnv]:
    """A LiveEnv over EchoServer from a workload dict (keyword arguments update it)."""

    def build(**overrides: Any) -> LiveEnv:
        env = make_env(_workload(**overrides))
        assert isinstance(env, LiveEnv)
        return env

    return build


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


# -- through tunegym run ---------------------------------------------------------------
def test_live_job_runs_through_tunegym_run_with_rows_and_env_params_aligned(
    servers: Any, write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path
) -> None:
    path = write_toml(
        "live.toml",
        _workload(
            params={"load": [1, 2, 3], "mode": ["a", "b"]},
            env_params={"load": {"weights": [0.2, 0.3, 0.5]}},
            server_args={"episode_length": 4},
            agent={"type": "random", "max_steps": 10, "seed": 1},
        ),
    )
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--no-progress"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    (job,) = summary["jobs"]
    assert job["status"] == "ok" and job["agent"] == "random" and job["trials"] == 10
    assert job["counts"]["ok"] == 10
    folder = run_dir / "live" / "0"
    trajectory, env_rows = _rows(folder / "trajectory.csv"), _rows(folder / "env.csv")
    steps = [str(s) for s in range(1, 11)]
    assert [r["step"] for r in trajectory] == [r["step"] for r in env_rows] == steps
    (server,) = servers.INSTANCES
    draws = EnvParams.from_workload(load(path).jobs[0].workload, seed=1)
    for step, env_row, call in zip(range(1, 11), env_rows, server.calls, strict=True):
        assert int(env_row["load"]) == call["load"] == draws.sample(step)["load"]
        assert call["level"] == 3 and call["mode"] in ("a", "b")
    # Episodes of 4 steps: the loop reset after steps 4 and 8; the counter kept counting.
    assert server.resets == [1, None, None]
    rewards = [float(r["reward"]) for r in trajectory]
    assert rewards == [json.loads(r["observation"])["value"] for r in trajectory]
    assert server.closed is True


def test_a_server_that_does_not_import_stops_the_run_before_anything_runs(
    servers: Any,
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("live.toml", _workload(server="live_servers_missing_xyz:Server"))
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "live.toml: server: server 'live_servers_missing_xyz:Server'" in err
    assert "No module named 'live_servers_missing_xyz'" in err
    assert not (tmp_path / "out").exists()


def test_a_server_missing_protocol_methods_exits_2(
    servers: Any,
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("live.toml", _workload(server="live_servers:NoStep"))
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 2
    assert "missing method(s): observation_space, reset, step" in capsys.readouterr().err


def test_a_wrongly_declared_action_space_exits_2_naming_the_server(
    servers: Any,
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml(
        "live.toml", _workload(server="live_servers:BadSpace", agent={"metrics": None})
    )
    assert main(["run", str(path), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "server 'live_servers:BadSpace': action_space() is not valid: x: low (5)" in err


# -- steps -----------------------------------------------------------------------------
def test_a_none_reward_is_computed_with_the_workload_reward(
    live_env: Callable[..., LiveEnv],
) -> None:
    env = live_env(agent={"reward": "expr: 10 * value"})
    env.reset(seed=0)
    observation, reward, done, info = env.step({"x": 0.5, "mode": "b"})
    assert observation == {"value": 1.5} and reward == 15.0 and done is False
    assert info["status"] == "ok" and info["feedback"].reward == 15.0
    assert info["row"].observation["t"] == 1.0 and "duration_s" in info["row"].observation


def test_a_reward_from_the_server_is_used_as_is(live_env: Callable[..., LiveEnv]) -> None:
    env = live_env(server_args={"reward": "value"}, agent={"reward": "negative"})
    _, reward, _, _ = env.step({"x": 0.25, "mode": "a"})
    assert reward == 0.25


def test_a_non_finite_server_reward_is_a_penalty_row(live_env: Callable[..., LiveEnv]) -> None:
    env = live_env(server_args={"reward": "nan"}, agent={"penalties": {"metric_failure": -7.0}})
    _, reward, _, info = env.step({"x": 0.25, "mode": "a"})
    assert reward == -7.0 and info["status"] == "metric_missing"


def test_a_missing_metric_with_no_reward_is_a_penalty_row(
    live_env: Callable[..., LiveEnv],
) -> None:
    env = live_env(server_args={"omit": "value"}, agent={"penalties": {"metric_failure": -3.0}})
    observation, reward, _, info = env.step({"x": 0.25, "mode": "a"})
    assert reward == -3.0 and info["status"] == "metric_missing"
    assert math.isnan(observation["value"])
    assert _rows(env.store.trajectory_path)[0]["status"] == "metric_missing"


@pytest.mark.parametrize("truncate", [False, True])
def test_episode_end_resets_the_server_and_the_counter_keeps_counting(
    live_env: Callable[..., LiveEnv], truncate: bool
) -> None:
    env = live_env(server_args={"episode_length": 3, "truncate": truncate})
    agent = RandomAgent(env, AgentConfig(max_steps=7, seed=4))
    assert agent.run() == 0
    assert [f.step for f in agent.history] == [1, 2, 3, 4, 5, 6, 7]
    assert env.server.resets == [4, None, None]
    assert [r["step"] for r in _rows(env.store.trajectory_path)] == list("1234567")


def test_done_reports_terminated_and_truncated_separately(
    live_env: Callable[..., LiveEnv],
) -> None:
    env = live_env(server_args={"episode_length": 1, "truncate": True})
    _, _, done, info = env.step({"x": 0.0, "mode": "a"})
    assert done is True and info["truncated"] is True and info["terminated"] is False
    assert info["server_info"] == {"t": 1}


def test_a_step_without_reset_starts_an_episode(live_env: Callable[..., LiveEnv]) -> None:
    env = live_env(agent={"seed": 11})
    _, _, _, info = env.step({"x": 0.0, "mode": "a"})
    # The first reset carries the job's seed (reproducible); later unseeded ones go on.
    assert info["step"] == 1 and env.server.resets == [11]
    env.reset()
    env.reset(seed=5)
    assert env.server.resets == [11, None, 5]


def test_reset_tells_the_env_params_of_the_next_step(live_env: Callable[..., LiveEnv]) -> None:
    env = live_env(params={"load": [1, 2, 3]}, env_params={"load": {}})
    for _ in range(3):
        observation, info = env.reset(seed=8)
        assert observation == {"value": 0.0}
        assert info["server_info"] == {"episode": len(env.server.resets)}
        announced = info["env_params"]
        _, _, _, step_info = env.step({"x": 0.1, "mode": "c"})
        assert step_info["env_params"] == announced
        assert env.server.calls[-1]["load"] == announced["load"]


def test_params_are_fixed_values_then_action_then_env_params(
    live_env: Callable[..., LiveEnv],
) -> None:
    env = live_env(params={"extra": 5, "load": [1, 2]}, env_params={"load": {}})
    _, _, _, info = env.step({"x": 0.5, "mode": "c"})
    assert env.server.calls == [info["params"]]
    assert info["params"] == {
        "level": 3,
        "extra": 5,
        "x": 0.5,
        "mode": "c",
        "load": info["env_params"]["load"],
    }


def test_a_bad_action_uses_no_step(live_env: Callable[..., LiveEnv]) -> None:
    env = live_env()
    with pytest.raises(ValueError, match=r"mode: 'q' is not one of the candidates"):
        env.step({"x": 0.5, "mode": "q"})
    assert env.sweep.step == 0 and env.server.calls == []


def test_close_closes_the_server(live_env: Callable[..., LiveEnv]) -> None:
    env = live_env()
    env.close()
    assert env.server.closed is True


# -- the space: the server's declaration with the workload's overrides ---------------
def test_the_action_space_comes_from_the_server(live_env: Callable[..., LiveEnv]) -> None:
    env = live_env()
    assert env.action_space.names == ["x", "mode"]
    assert env.action_space.fixed == {"level": 3}
    assert env.observation_space == ["value"]
    assert live_env(agent={"metrics": None}).observation_space == ["value", "t"]


def test_workload_params_pin_and_narrow_server_dimensions(
    live_env: Callable[..., LiveEnv],
) -> None:
    env = live_env(params={"x": 0.25, "mode": ["a", "c"]})
    assert env.action_space.names == ["mode"]
    assert env.action_space.dimensions["mode"].values == ("a", "c")
    assert env.action_space.fixed == {"level": 3, "x": 0.25}
    narrowed = live_env(params={"x": {"low": 0.5, "high": 0.75}})
    assert narrowed.action_space.dimensions["x"].low == 0.5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"params": {"x": 2.0}}, r"params.x: outside the server's action space: x: 2.0 is outside"),
        ({"params": {"mode": ["a", "z"]}}, r"params.mode: .*'z' is not one of the candidates"),
        (
            {"params": {"mode": {"low": 0, "high": 1}}},
            r"params.mode: .*a range cannot narrow the categorical dimension mode",
        ),
        (
            {"params": {"x": {"low": 0, "high": 1, "dtype": "int"}}},
            r"params.x: .*dtype 'int' differs from the server's 'float'",
        ),
        ({"params": {"level": 4}}, r"params.level: the server fixes level = 3; got 4"),
        (
            {"params": {"mode": ["a", "b"]}, "env_params": {"mode": {}}},
            r"params.mode: 'mode' is a dimension of the server's action space and cannot",
        ),
        ({"agent": {"metrics": ["nope"]}}, r"agent.metrics\[0\]: 'nope' is not a metric of server"),
        (
            {"agent": {"metrics": None, "reward": "expr: speed"}},
            r"agent.reward: reward 'expr: speed' uses undeclared metric\(s\) 'speed'",
        ),
    ],
)
def test_a_workload_that_does_not_fit_the_server_is_refused(
    live_env: Callable[..., LiveEnv], overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ServerError, match=message) as caught:
        live_env(**overrides)
    assert "live.toml" in str(caught.value)


def test_server_args_the_server_does_not_take_are_reported(
    live_env: Callable[..., LiveEnv],
) -> None:
    with pytest.warns(ServerArgsWarning, match=r"server_args colour ignored"):
        env = live_env(
            server="live_servers:NeedsArgs",
            server_args={"rate": 2, "colour": 1},
            agent={"metrics": None},
        )
    assert env.server.rate == 2


@pytest.mark.parametrize(
    ("result", "message"),
    [
        (({"m": 0.0}, 0.0, False, {}), r"step\(\) must return \(observation, reward, terminated"),
        (([1.0], 0.0, False, False, {}), r"step\(\) must return the observation as a dict"),
        (({"m": "high"}, 0.0, False, False, {}), r"step\(\) observation\['m'\] must be a number"),
    ],
)
def test_a_server_returning_the_wrong_shape_is_a_clear_error(
    live_env: Callable[..., LiveEnv], result: Any, message: str
) -> None:
    env = live_env(
        server="live_servers:BadSpace",
        server_args={"space": {"x": [1, 2]}},
        agent={"metrics": None},
    )
    env.server.step = lambda params: result
    with pytest.raises(ServerError, match=rf"server 'live_servers:BadSpace': {message}"):
        env.step({"x": 1})


# -- spec checks -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"server": "live_servers.EchoServer"}, r"server: expected 'package.module:Class'"),
        ({"metrics": [{"name": "value", "regex": "v: (.*)"}]}, r"metrics: live mode takes its"),
        ({"params": {"a": [1, 2]}, "constraints": ["a > 1"]}, r"constraints: live mode does not"),
    ],
)
def test_live_spec_checks(
    write_toml: Callable[[str, dict[str, Any]], Path], overrides: dict[str, Any], message: str
) -> None:
    path = write_toml("live.toml", _workload(**overrides))
    with pytest.raises(SpecError, match=message):
        load(path)


def test_live_agent_metrics_and_reward_are_checked_when_the_server_starts(
    write_toml: Callable[[str, dict[str, Any]], Path],
) -> None:
    # The spec cannot know the server's metrics: these load, and LiveEnv checks them.
    path = write_toml("live.toml", _workload(agent={"metrics": None, "reward": "expr: -latency"}))
    (job,) = load(path).jobs
    assert job.workload.agent.reward == "expr: -latency"
    bad = write_toml("bad.toml", _workload(agent={"metrics": None, "reward": "expr: (("}))
    with pytest.raises(SpecError, match=r"agent.reward"):
        load(bad)


# -- resume ----------------------------------------------------------------------------
def test_a_resumed_live_run_continues_after_its_recorded_steps(
    servers: Any, write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path
) -> None:
    from tunegym.run import RunOptions, run_scenario

    path = write_toml("live.toml", _workload(agent={"type": "random", "max_steps": 6, "seed": 2}))
    options = RunOptions(output=tmp_path / "out", progress=False, verbosity=0)
    first = run_scenario(load(path), options)
    db = sqlite3.connect(first.run_dir / "trials.sqlite")
    with db:
        db.execute("DELETE FROM trials WHERE step > 3")  # as if it crashed after step 3
    db.close()
    resumed = run_scenario(load(path), replace(options, resume=first.run_dir))
    (job,) = resumed.summary["jobs"]
    assert job["status"] == "ok" and job["trials"] == 6
    steps = [r["step"] for r in _rows(first.run_dir / "live" / "0" / "trajectory.csv")]
    assert steps == list("123456")
    assert len(servers.INSTANCES[-1].calls) == 3  # only the missing steps ran


def test_a_dry_run_records_rows_without_stepping_the_server(
    servers: Any, write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path
) -> None:
    path = write_toml(
        "live.toml",
        _workload(
            params={"load": [1, 2]},
            env_params={"load": {}},
            agent={"type": "random", "max_steps": 4},
        ),
    )
    out = tmp_path / "out"
    assert main(["run", str(path), "--output", str(out), "--dry-run", "-q"]) == 0
    (server,) = servers.INSTANCES
    assert server.calls == [] and server.resets == []
    folder = next(out.iterdir()) / "live" / "0"
    assert [r["step"] for r in _rows(folder / "trajectory.csv")] == list("1234")
    assert [r["step"] for r in _rows(folder / "env.csv")] == list("1234")


def test_episodes_are_recorded_and_an_rl_run_reads_as_rl(
    servers: Any,
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml(
        "live.toml",
        _workload(
            server_args={"episode_length": 4, "reward": "value"},
            agent={"type": "random", "max_steps": 10, "seed": 5},
        ),
    )
    out = tmp_path / "out"
    assert main(["run", str(path), "--output", str(out)]) == 0
    (run_dir,) = out.iterdir()
    db = TrialDatabase(run_dir / "trials.sqlite")
    try:
        episodes = db.episodes("live", 0)
        rows = db.rows("live", 0)
    finally:
        db.close()
    assert [(e.index, e.first_step, e.last_step, e.steps) for e in episodes] == [
        (0, 1, 4, 4),
        (1, 5, 8, 4),
    ]  # steps 9-10 are an episode still open at the end: not counted
    assert episodes[0].seed == 5 and episodes[1].seed is None and episodes[0].terminated
    by_step = {r.step: r.reward for r in rows}
    assert episodes[1].total_reward == pytest.approx(sum(by_step[s] for s in range(5, 9)))
    summary = json.loads((run_dir / "summary.json").read_text())
    rl = summary["jobs"][0]["rl"]
    assert rl["seed"] == 5 and rl["episodes"] == 2 and rl["reward"]["n"] == 10
    assert rl["episode_length"] == {"mean": 4.0, "std": 0.0, "n": 2}
    assert rl["last"]["n"] == 1 and rl["last"]["mean"] == pytest.approx(by_step[10])
    out_text = capsys.readouterr().out
    assert "policy (seed 5): reward per step" in out_text and "2 episode(s): return" in out_text
    assert "\n  best reward" not in out_text  # no best action for a policy
    html = (run_dir / "report.html").read_text()
    assert "<h3>Policy</h3>" in html and "<h3>Best trial</h3>" not in html
