"""``repeats = k`` feeds the agent the mean of k measurements; ``cache = false`` reruns."""

from __future__ import annotations

import csv
import json
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tunegym.agents.base import Action, AgentConfig, BaseAgent, Feedback
from tunegym.agents.registry import build_agent
from tunegym.agents.repeats import aggregate
from tunegym.env.function import FunctionEnv
from tunegym.outputs.toml import dumps
from tunegym.run import RunOptions, run_scenario
from tunegym.space import Categorical, SearchSpace
from tunegym.spec import load

SPACE = SearchSpace({"a": Categorical("a", ("p", "q", "r"))})


class Recorder(BaseAgent):
    """Proposes the grid in order; records what ``update_policy`` is taught."""

    name = "recorder"

    def __init__(self, env: Any, config: AgentConfig) -> None:
        super().__init__(env, config)
        self.taught: list[Feedback] = []
        self.proposed = 0

    def select_action(self, observation: Mapping[str, float]) -> Action | None:
        if self.proposed >= SPACE.size:  # type: ignore[operator]
            return None
        self.proposed += 1
        return SPACE.action_at(self.proposed - 1)

    def update_policy(self, feedback: Feedback) -> None:
        self.taught.append(feedback)


class BatchRecorder(Recorder):
    """Overrides ``select_actions`` (a native batch proposer, as parallel agents do)."""

    def select_actions(self, n: int, observation: Mapping[str, float]) -> list[Action]:
        out = []
        for _ in range(n):
            action = Recorder.select_action(self, observation)
            if action is None:
                break
            out.append(action)
        return out


def counting_objective() -> Any:
    """Each call of an action returns 1, 2, 3, ... for that action (a drifting, noisy result)."""
    calls: dict[str, int] = {}

    def objective(p: Mapping[str, Any]) -> float:
        calls[p["a"]] = calls.get(p["a"], 0) + 1
        return float(calls[p["a"]]) * {"p": 1, "q": 10, "r": 100}[p["a"]]

    return objective


def test_repeats_measure_each_proposal_k_times_and_teach_the_mean() -> None:
    env = FunctionEnv(SPACE, counting_objective())
    agent = build_agent(Recorder, env, AgentConfig(max_steps=9, repeats=3))
    assert agent.run() == 0
    assert [f.action["a"] for f in env.history] == ["p"] * 3 + ["q"] * 3 + ["r"] * 3
    assert len(agent.history) == 9 and agent.proposed == 3  # every repeat is a trial
    assert [(f.action["a"], f.reward) for f in agent.taught] == [
        ("p", 2.0),
        ("q", 20.0),
        ("r", 200.0),
    ]
    assert agent.taught[1].observation == {"score": 20.0}
    assert [f.reward for f in agent.taught[1].samples] == [10.0, 20.0, 30.0]
    assert [f.step for f in agent.taught[1].samples] == [4, 5, 6]


def test_a_proposal_cut_short_by_the_budget_is_not_taught() -> None:
    env = FunctionEnv(SPACE, counting_objective())
    agent = build_agent(Recorder, env, AgentConfig(max_steps=5, repeats=2))
    agent.run()
    assert [f.action["a"] for f in env.history] == ["p", "p", "q", "q", "r"]
    assert [f.action["a"] for f in agent.taught] == ["p", "q"]


def test_repeats_work_with_a_native_batch_proposer() -> None:
    env = FunctionEnv(SPACE, counting_objective())
    agent = build_agent(BatchRecorder, env, AgentConfig(max_steps=6, repeats=2))
    batch = agent.select_actions(3, {})
    assert [a["a"] for a in batch] == ["p", "p", "q"]
    assert [a["a"] for a in agent.select_actions(3, {})] == ["q", "r", "r"]
    for action in batch:
        agent.update_policy(env.step(action)[3]["feedback"])
    assert [(f.action["a"], f.reward) for f in agent.taught] == [("p", 1.5)]


def test_feedback_that_was_not_proposed_passes_straight_through() -> None:
    agent = build_agent(
        Recorder, FunctionEnv(SPACE, counting_objective()), AgentConfig(4, repeats=3)
    )
    outside = Feedback(1, {"a": "r"}, {}, {"score": 7.0}, 7.0, "ok")
    agent.update_policy(outside)
    assert agent.taught == [outside]


def fb(reward: float | None, status: str = "ok", cached: bool = False, **env: Any) -> Feedback:
    return Feedback(1, {"a": "p"}, env, {"score": reward or 0.0, "t": 1.0}, reward, status, cached)


def test_aggregate_means_successes_only_and_keeps_every_sample() -> None:
    mean = aggregate([fb(1.0, load=1), fb(-1e9, "failed", load=2), fb(3.0, load=1)])
    assert mean.reward == 2.0 and mean.status == "ok" and not mean.cached
    assert mean.observation == {"score": 2.0, "t": 1.0}
    assert mean.env_params == {}  # the repeats saw different env params
    assert len(mean.samples) == 3
    assert aggregate([fb(1.0, load=1), fb(2.0, load=1)]).env_params == {"load": 1}
    all_failed = aggregate([fb(None, "timeout"), fb(-1e9, "failed")])
    assert all_failed.status == "failed" and all_failed.reward == -1e9
    cached = aggregate([fb(5.0, "cached", True), fb(5.0, "cached", True)])
    assert cached.status == "cached" and cached.cached
    with pytest.raises(ValueError):
        aggregate([])


# -- end to end: cache = false and repeats through `tunegym run` ---------------------------
NOISY = textwrap.dedent(
    """
    import argparse, os, pathlib
    p = argparse.ArgumentParser()
    p.add_argument("--mode")
    p.add_argument("--log")
    a = p.parse_args()
    log = pathlib.Path(a.log)
    with log.open("a") as fh:
        fh.write(a.mode + "\\n")
    runs = log.read_text().split().count(a.mode)
    # Drifts with each run, as a noisy benchmark would: the same mode gives new values.
    print(f"score: {({'fast': 10, 'slow': 1}[a.mode]) + runs}")
    """
)


def run_noisy(
    tmp_path: Path, source: str = NOISY, modes: tuple[str, ...] = ("fast", "slow"), **changes: Any
) -> tuple[dict, Path, list[str]]:
    script = tmp_path / "noisy.py"
    script.write_text(source)
    log = tmp_path / "runs.log"
    data = {
        "name": "noisy",
        "command": ["{python}", str(script), "--mode={mode}", f"--log={log}"],
        "params": {"mode": list(modes)},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        **changes,
    }
    path = tmp_path / "noisy.toml"
    path.write_text(dumps(data))
    result = run_scenario(load(path), RunOptions(output=tmp_path / "out", progress=False))
    assert result.exit_code == 0
    summary = json.loads((result.run_dir / "summary.json").read_text())
    executed = log.read_text().split() if log.exists() else []
    return summary, result.run_dir, executed


def test_cache_on_answers_repeated_pulls_from_the_cache(tmp_path: Path) -> None:
    summary, _, executed = run_noisy(tmp_path, agent={"type": "bandit", "max_steps": 6})
    (job,) = summary["jobs"]
    assert sorted(executed) == ["fast", "slow"]  # each mode ran once
    assert job["counts"]["ok"] == 2 and job["counts"]["cached"] == 4


def test_cache_false_reruns_every_trial_and_rows_stay_aligned(tmp_path: Path) -> None:
    summary, run_dir, executed = run_noisy(
        tmp_path, cache=False, agent={"type": "bandit", "max_steps": 6}
    )
    (job,) = summary["jobs"]
    assert len(executed) == 6 and job["counts"]["ok"] == 6 and job["counts"]["cached"] == 0
    rows = list(csv.DictReader((run_dir / job["trajectory"]).open()))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert [json.loads(r["action"])["mode"] for r in rows] == executed
    assert all(r["cached"] == "0" for r in rows)
    fast = [float(r["reward"]) for r in rows if json.loads(r["action"])["mode"] == "fast"]
    assert fast == [10.0 + i for i in range(1, len(fast) + 1)]  # fresh results each run


def test_repeats_run_end_to_end_and_every_repeat_is_a_row(tmp_path: Path) -> None:
    summary, run_dir, executed = run_noisy(
        tmp_path, cache=False, agent={"type": "grid", "max_steps": 6, "repeats": 3}
    )
    (job,) = summary["jobs"]
    assert executed == ["fast"] * 3 + ["slow"] * 3
    assert job["trials"] == 6 and job["counts"]["ok"] == 6
    rows = list(csv.DictReader((run_dir / job["trajectory"]).open()))
    assert [float(r["reward"]) for r in rows] == [11.0, 12.0, 13.0, 2.0, 3.0, 4.0]


# steady measures 12 every time; lucky 20 once, then 5 (a mean of 10).
LUCKY = NOISY.replace(
    "({'fast': 10, 'slow': 1}[a.mode]) + runs",
    "12 if a.mode == 'steady' else (20 if runs == 1 else 5)",
)


def test_with_repeats_the_best_config_is_the_best_mean_not_the_luckiest_repeat(
    tmp_path: Path,
) -> None:
    summary, run_dir, _ = run_noisy(
        tmp_path,
        LUCKY,
        ("lucky", "steady"),
        cache=False,
        agent={"type": "grid", "max_steps": 6, "repeats": 3},
    )
    (job,) = summary["jobs"]
    assert job["best"]["action"] == {"mode": "lucky"} and job["best"]["reward"] == 20.0
    robust = job["robust"]
    assert robust["over"] == "repeats"
    assert robust["best"]["action"] == {"mode": "steady"} and robust["best"]["count"] == 3
    best_config = (run_dir / "noisy" / "0" / "best_config.toml").read_text()
    assert "mean reward 12.0" in best_config and "over 3 measurement(s)" in best_config
    assert 'mode = "steady"' in best_config


def test_an_unset_max_steps_gives_every_action_its_repeats(tmp_path: Path) -> None:
    # The default budget was the space's size: a grid of 3 actions with repeats = 4 ran 3
    # trials, all of the first action, and called it the robust best.
    (tmp_path / "w.toml").write_text(
        textwrap.dedent(
            """
            name = "rep"
            command = ["python3", "-c", "print('score', {x})"]
            cache = false
            [params]
            x = [1, 2, 3]
            [[metrics]]
            name = "score"
            regex = 'score (\\S+)'
            [agent]
            type = "grid"
            repeats = 4
            """
        )
    )
    result = run_scenario(load(tmp_path / "w.toml"), RunOptions(output=tmp_path / "runs"))
    assert result.exit_code == 0
    with (result.run_dir / "rep" / "0" / "trajectory.csv").open() as fh:
        actions = [json.loads(row["action"])["x"] for row in csv.DictReader(fh)]
    assert sorted(actions) == [1] * 4 + [2] * 4 + [3] * 4
    job = json.loads((result.run_dir / "summary.json").read_text())["jobs"][0]
    assert job["robust"]["best"]["action"] == {"x": 3}
