"""Conditional params (``[when]``): an inactive param is absent from the action, the
command, the env and the cache key; agents search only active ones (issue 15, item 4)."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.cli.main import main
from tunegym.errors import SpecError
from tunegym.space import SearchSpace, cache_key
from tunegym.spec import load

SCRIPT = textwrap.dedent(
    """
    import argparse, json
    p = argparse.ArgumentParser()
    p.add_argument("--codec")
    p.add_argument("--level", type=int)
    p.add_argument("--threads", type=int, default=None)
    a = p.parse_args()
    speed = {"none": 1.0, "zstd": 2.0}[a.codec] * a.level
    if a.threads is not None:
        speed *= a.threads ** 0.5
    print(f"score: {speed}")
    """
)


def _workload(tmp_path: Path, agent: dict[str, Any], **extra: Any) -> dict[str, Any]:
    script = tmp_path / "codec.py"
    script.write_text(SCRIPT)
    data: dict[str, Any] = {
        "name": "codec",
        "command": [
            sys.executable,
            str(script),
            "--codec={codec}",
            "--level={level}",
            "--threads={threads}",
        ],
        "params": {"codec": ["none", "zstd"], "level": [1, 2], "threads": [1, 2, 4]},
        "when": {"threads": "codec == 'zstd'"},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"metrics": ["score"], **agent},
    }
    data.update(extra)
    return data


def _run(write_toml: Callable[[str, dict[str, Any]], Path], data: dict, out: Path) -> Path:
    assert main(["run", str(write_toml("workload.toml", data)), "--output", str(out), "-q"]) == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return run_dir


def _trials(run_dir: Path) -> list[dict[str, Any]]:
    folder = run_dir / "codec" / "0"
    return [
        json.loads((d / "trial.json").read_text())
        for d in sorted(folder.iterdir(), key=lambda p: p.name)
        if d.is_dir()
    ]


def test_a_conditional_space_counts_and_keys_only_active_params(
    write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path
) -> None:
    (job,) = load(write_toml("w.toml", _workload(tmp_path, {}))).jobs
    space = SearchSpace.from_workload(job.workload)
    assert space.is_conditional and space.size == 2 * (1 + 3)  # level x (none | zstd x 3)
    assert space.canonicalize({"codec": "none", "level": 1, "threads": 4}) == {
        "codec": "none",
        "level": 1,
    }
    none_a = space.canonicalize({"codec": "none", "level": 1, "threads": 1})
    none_b = space.canonicalize({"codec": "none", "level": 1, "threads": 4})
    assert cache_key(none_a, {}) == cache_key(none_b, {})  # threads is not in the key
    with pytest.raises(ValueError, match=r"missing \['threads'\] \(active\)"):
        space.canonicalize({"codec": "zstd", "level": 1})
    actions = list(space.grid())
    assert len(actions) == len({cache_key(a, {}) for a in actions}) == 8
    assert all(("threads" in a) == (a["codec"] == "zstd") for a in actions)
    assert [space.index_of(a) for a in actions] == list(range(8))


@pytest.mark.parametrize(
    "agent",
    [
        {"type": "grid"},
        {"type": "optuna", "max_steps": 10, "seed": 1},
        {"type": "random", "max_steps": 8, "seed": 2},
        {"type": "bandit", "max_steps": 10, "seed": 3},
    ],
    ids=["grid", "optuna", "random", "bandit"],
)
def test_inactive_params_are_absent_from_argv_env_and_rows(
    write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path, agent: dict[str, Any]
) -> None:
    run_dir = _run(write_toml, _workload(tmp_path, agent), tmp_path / "runs")
    trials = _trials(run_dir)
    assert trials
    for trial in trials:
        zstd = trial["action"]["codec"] == "zstd"
        assert ("threads" in trial["action"]) == zstd
        assert ("threads" in trial["params"]) == zstd
        assert any(a.startswith("--threads=") for a in trial["argv"]) == zstd
    (job,) = json.loads((run_dir / "summary.json").read_text())["jobs"]
    assert job["counts"]["failed"] == 0 and job["counts"]["metric_missing"] == 0
    assert job["best"]["action"] == {"codec": "zstd", "level": 2, "threads": 4} or agent[
        "type"
    ] in ("random", "bandit")
    if agent["type"] == "grid":
        assert job["trials"] == 8  # not 12: the three threads of codec none are one action


def test_optuna_samples_define_by_run(
    write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path
) -> None:
    from tunegym.agents.base import AgentConfig
    from tunegym.agents.optuna import OptunaAgent
    from tunegym.env.function import FunctionEnv

    (job,) = load(write_toml("w.toml", _workload(tmp_path, {}))).jobs
    space = SearchSpace.from_workload(job.workload)
    env = FunctionEnv(space, lambda p: {"score": p["level"] * p.get("threads", 1)})
    agent = OptunaAgent(env, AgentConfig(max_steps=12, seed=0))
    agent.run()
    for trial in agent.study.trials:
        assert ("threads" in trial.params) == (trial.params["codec"] == 1)  # index of zstd


def test_a_best_config_of_an_inactive_param_leaves_it_out(
    write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path
) -> None:
    """The best config fixes an inactive param to a value but keeps its condition, so a
    rerun leaves it out of the command as the search did."""
    data = _workload(tmp_path, {"type": "grid"})
    data["params"]["codec"] = ["none"]  # threads is never active
    data["params"]["level"] = [1, 2]
    run_dir = _run(write_toml, data, tmp_path / "runs")
    best = load(run_dir / "codec" / "0" / "best_config.toml")
    (job,) = best.jobs
    space = SearchSpace.from_workload(job.workload)
    assert space.is_empty and space.inactive({}) == {"threads"}
    assert "threads" not in space.params({}, {})


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ({"nope": "codec == 'zstd'"}, "when.nope: 'nope' is not a param"),
        ({"codec": "threads > 1"}, "'threads > 1' reads threads, declared after 'codec'"),
        ({"threads": "threads > 1"}, "when.threads: 'threads > 1' reads 'threads' itself"),
        ({"threads": "codec ==="}, "when.threads: expression 'codec ===': bad syntax"),
        ({"threads": "mode == 1"}, "reads mode, which is not a param declared before 'threads'"),
    ],
)
def test_bad_conditions_are_clear_errors(
    write_toml: Callable[[str, dict[str, Any]], Path],
    tmp_path: Path,
    when: dict[str, str],
    message: str,
) -> None:
    data = _workload(tmp_path, {"type": "grid"}, when=when)
    with pytest.raises(SpecError) as caught:
        load(write_toml("bad.toml", data))
    assert message in str(caught.value) and "bad.toml" in str(caught.value)


def test_a_condition_on_an_env_param_is_refused(
    write_toml: Callable[[str, dict[str, Any]], Path], tmp_path: Path
) -> None:
    data = _workload(tmp_path, {"type": "grid"}, env_params={"threads": {}})
    with pytest.raises(SpecError, match="'threads' is an env param"):
        load(write_toml("bad.toml", data))
