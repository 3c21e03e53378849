"""``tunegym.make_env``: the env of a file, writing a run folder like ``tunegym run``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import tunegym
from tunegym.cli.main import main
from tunegym.devtools.reference import summary_schema
from tunegym.env.live import LiveEnv
from tunegym.env.workload import WorkloadEnv
from tunegym.errors import SpecError, UsageError
from tunegym.gym import GymnasiumAdapter
from tunegym.report.writing import regenerate
from tunegym.session.fingerprints import check_fingerprints
from tunegym.spec import load
from tunegym.trial.store import TrialDatabase


def test_make_env_builds_the_workload_env_and_its_run_folder(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    path = write_toml("w.toml", objective_workload())
    env = tunegym.make_env(path, output=tmp_path / "runs")
    assert isinstance(env, WorkloadEnv) and not isinstance(env, LiveEnv)
    run_dir = env.run_dir  # type: ignore[attr-defined]
    assert run_dir.parent == tmp_path / "runs" and (run_dir / "trials.sqlite").is_file()
    adapter = GymnasiumAdapter(env, flatten=True)
    adapter.reset(seed=0)
    adapter.step(adapter.encode_action({"x": 3, "y": "b"}))
    adapter.close()
    folder = run_dir / "objective" / "0"
    assert (folder / "1" / "stdout.txt").read_text().strip() == "score: 1.0"
    assert len((folder / "trajectory.csv").read_text().splitlines()) == 2
    summary = json.loads((run_dir / "summary.json").read_text())
    (job,) = summary["jobs"]
    assert job["trials"] == 1 and job["best"]["action"] == {"x": 3, "y": "b"}
    assert (run_dir / job["best_config"]).is_file()


def test_a_make_env_run_folder_is_like_a_tunegym_run_folder(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_toml("w.toml", objective_workload())
    env = tunegym.make_env(path, output=tmp_path / "runs")
    run_dir = env.run_dir  # type: ignore[attr-defined]
    env.step({"x": 3, "y": "b"})
    # While the env is open, the run and its job are running (not crashed).
    assert main(["report", str(run_dir)]) == 0
    out = capsys.readouterr().out
    assert "objective: running, 1 job(s), 1 trial(s)" in out
    assert "objective: running, 1 trial(s)" in out
    env.close()
    validator = jsonschema.Draft202012Validator(summary_schema())
    summary = json.loads((run_dir / "summary.json").read_text())
    validator.validate(summary)
    (job,) = summary["jobs"]
    assert summary["status"] == "ok" and job["status"] == "ok"
    assert job["agent"] == "external" and job["trials"] == 1
    assert (run_dir / "report.html").is_file()
    # Regenerated later (another process), it tells the same; the fingerprints are there.
    again = regenerate(run_dir)
    validator.validate(again)
    assert again["status"] == "ok"
    assert [(j["status"], j["agent"]) for j in again["jobs"]] == [("ok", "external")]
    db = TrialDatabase(run_dir / "trials.sqlite")
    try:
        check_fingerprints(db.meta()["jobs"], load(path))
        made_meta = db.meta()
    finally:
        db.close()
    # The same meta keys, and run info keys, as a run of the same file by ``tunegym run``.
    assert main(["run", str(path), "--output", str(tmp_path / "cli"), "--quiet"]) == 0
    (cli_dir,) = (tmp_path / "cli").iterdir()
    db = TrialDatabase(cli_dir / "trials.sqlite")
    try:
        cli_meta = db.meta()
    finally:
        db.close()
    assert set(made_meta) == set(cli_meta)
    assert set(made_meta["run"]) == set(cli_meta["run"])
    assert set(made_meta["result"]) == set(cli_meta["result"])


def test_a_closed_make_env_refuses_step_and_reset_before_running_a_trial(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    from gymnasium.error import ClosedEnvironmentError

    env = tunegym.make_env(write_toml("w.toml", objective_workload()), output=tmp_path / "runs")
    run_dir = env.run_dir  # type: ignore[attr-defined]
    env.reset()
    action = {"x": 1, "y": "a"}
    env.step(action)
    env.close()
    with pytest.raises(ClosedEnvironmentError, match=r"^step\(\) after close\(\): objective"):
        env.step(action)
    with pytest.raises(ClosedEnvironmentError, match=r"^reset\(\) after close\(\)"):
        env.reset()
    assert env.last_step == 1
    assert [p.name for p in (run_dir / "objective" / "0").iterdir() if p.is_dir()] == ["1"]


def test_a_make_env_closed_without_a_step_still_writes_valid_reports(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    env = tunegym.make_env(write_toml("w.toml", objective_workload()), output=tmp_path / "runs")
    run_dir = env.run_dir  # type: ignore[attr-defined]
    env.close()
    env.close()  # once only
    summary = json.loads((run_dir / "summary.json").read_text())
    jsonschema.Draft202012Validator(summary_schema()).validate(summary)
    assert summary["status"] == "ok" and summary["jobs"][0]["trials"] == 0
    assert (run_dir / "report.html").is_file()


def test_make_env_takes_the_first_agent_driven_job_of_a_scenario(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    write_toml("w.toml", objective_workload())
    scenario = write_toml(
        "s.toml",
        {
            "name": "two",
            "jobs": [
                {"workload": "w.toml", "name": "once", "params": {"x": 1, "y": "a"}},
                {"workload": "w.toml", "name": "tuned"},
            ],
        },
    )
    env = tunegym.make_env(scenario, output=tmp_path / "runs", seed=9)
    try:
        assert env.job.name == "tuned" and env.seed == 9
    finally:
        env.close()


def test_make_env_without_anything_to_choose_is_a_usage_error(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    path = write_toml("w.toml", objective_workload(params={"x": 1, "y": "a"}))
    with pytest.raises(UsageError, match=r"w.toml: no job has anything to choose"):
        tunegym.make_env(path, output=tmp_path / "runs")
    assert not (tmp_path / "runs").exists()


def test_make_env_reports_a_bad_file_as_a_spec_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"nope.toml: no such file"):
        tunegym.make_env(tmp_path / "nope.toml", output=tmp_path / "runs")


@pytest.mark.parametrize("seed", [-1, "7", 2.0, True, 2**31])
def test_make_env_and_register_refuse_a_seed_that_is_not_one(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
    seed: Any,
) -> None:
    path = write_toml("w.toml", objective_workload())
    message = rf"seed must be a whole number in \[0, 2147483647\], got {re.escape(repr(seed))}"
    with pytest.raises(UsageError, match=message):
        tunegym.make_env(path, output=tmp_path / "runs", seed=seed)
    assert not (tmp_path / "runs").exists()
    from tunegym.gym import register

    with pytest.raises(UsageError, match=message):
        register("tunegym/bad-seed-v0", path, output=tmp_path / "runs", seed=seed)


def test_make_env_builds_a_live_env(live_workload: Callable[..., Path], tmp_path: Path) -> None:
    env = tunegym.make_env(live_workload(), output=tmp_path / "runs")
    try:
        assert isinstance(env, LiveEnv)
        remade = env.remake()  # type: ignore[attr-defined]
        assert remade.run_dir != env.run_dir  # type: ignore[attr-defined]
        remade.close()
    finally:
        env.close()
    assert tunegym.make_env.__module__ == "tunegym"  # still the function, not a module


def test_import_tunegym_stays_light() -> None:
    code = (
        "import sys, tunegym, tunegym.gym, tunegym.gym.sb3, tunegym.env.live; "
        "heavy = [m for m in ('gymnasium', 'torch', 'stable_baselines3') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_make_env_that_cannot_open_leaves_an_error_run_like_tunegym_run(
    live_workload: Callable[..., Path], tmp_path: Path
) -> None:
    path = live_workload(server="live_servers:BadSpace", agent={"metrics": ["m"]})
    with pytest.raises(SpecError, match=r"BadSpace"):
        tunegym.make_env(path, output=tmp_path / "runs")
    (run_dir,) = (tmp_path / "runs").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "error" and summary["jobs"] == []
    assert (run_dir / "failure.txt").read_text().startswith("type: ServerError")
    assert regenerate(run_dir)["status"] == "error"


def test_the_rl_docs_ppo_example_runs_exactly_total_timesteps_trials(
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
) -> None:
    """docs/rl.md: with n_steps dividing total_timesteps, every SB3 step is one row."""
    pytest.importorskip("stable_baselines3")  # the rl extra (make test installs it)
    from stable_baselines3 import PPO

    env = GymnasiumAdapter(
        tunegym.make_env(write_toml("w.toml", objective_workload()), output=tmp_path / "runs"),
        flatten=True,
    )
    model = PPO("MlpPolicy", env, n_steps=20, batch_size=10, device="cpu", seed=0)
    model.learn(total_timesteps=40)
    run_dir = env.unwrapped.env.run_dir  # type: ignore[attr-defined]
    env.close()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["jobs"][0]["trials"] == 40


@pytest.mark.parametrize("via", ["make_adapter", "gymnasium.make"])
def test_an_adapter_that_cannot_wrap_the_env_closes_it_and_records_the_error(
    live_workload: Callable[..., Path], live_servers: Any, tmp_path: Path, via: str
) -> None:
    """EchoServer mixes a list and a range: flatten=True cannot wrap it. The env was never
    closed: the live server kept running and the run folder said 'running'."""
    import gymnasium

    from tunegym.gym import make_adapter, register

    path, output = live_workload(), tmp_path / "runs"
    with pytest.raises(ValueError, match="flatten needs all-categorical or all-continuous"):
        if via == "make_adapter":
            make_adapter(path, output=output, flatten=True)
        else:
            register("tunegym/mixed-v0", path, output=output, flatten=True)
            gymnasium.make("tunegym/mixed-v0")
    (server,) = live_servers.INSTANCES
    assert server.closed
    (run_dir,) = output.iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "error"
    assert [j["status"] for j in summary["jobs"]] == ["error"]
    assert "this space mixes categorical mode" in (run_dir / "failure.txt").read_text()
    assert regenerate(run_dir)["status"] == "error"  # not 'running', nor 'crashed'


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"bogus": 1}, TypeError, "GymnasiumAdapter: got an unexpected keyword argument 'bogus'"),
        ({"flatten": "bogus"}, ValueError, "flatten must be False, True or 'discrete'"),
    ],
)
def test_adapter_arguments_it_does_not_take_are_refused_before_a_run_folder_is_made(
    live_workload: Callable[..., Path],
    live_servers: Any,
    tmp_path: Path,
    kwargs: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    from tunegym.gym import make_adapter, register

    path, output = live_workload(), tmp_path / "runs"
    with pytest.raises(error, match=re.escape(message)):
        make_adapter(path, output=output, **kwargs)
    with pytest.raises(error, match=re.escape(message)):
        register("tunegym/bad-kwargs-v0", path, output=output, **kwargs)
    assert not output.exists() and live_servers.INSTANCES == []
