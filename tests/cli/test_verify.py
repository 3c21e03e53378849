"""``tunegym verify`` on live jobs: the server is imported and checked, nothing runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegym.cli.main import main

LIVE = Path(__file__).resolve().parents[2] / "examples" / "live-loadbalancer" / "workload.toml"


def test_verify_describes_a_live_job(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", str(LIVE)]) == 0
    out = capsys.readouterr().out
    assert f"{LIVE}: ok" in out
    assert "live, server loadbalancer:LoadBalancer" in out and "agent sb3" in out


def test_verify_rejects_a_live_server_that_does_not_import(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "workload.toml"
    bad.write_text(LIVE.read_text().replace('"loadbalancer:', '"nosuchmodule:'))
    assert main(["verify", str(bad)]) == 2
    captured = capsys.readouterr()
    assert "ok" not in captured.out
    assert f"{bad}: server:" in captured.err and "nosuchmodule" in captured.err


SERVER = """
class Counter:
    def action_space(self):
        return {"x": [0, 1, 2]}

    def observation_space(self):
        return ["value"]

    def reset(self, seed=None, options=None):
        return {"value": 0.0}, {}

    def step(self, params):
        return {"value": float(params["x"])}, float(params["x"]), False, False, {}
"""

PROBE = """
import sys
from tunegym.cli.main import main
code = main(["run", sys.argv[1], "--output", sys.argv[2], "--runner", "ray", "-q"])
print(code, "ray" in sys.modules)
"""


def test_a_live_job_builds_no_runner_even_when_one_is_asked_for(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "counter_server.py").write_text(SERVER)
    workload = tmp_path / "live.toml"
    workload.write_text(
        'name = "live"\nmode = "live"\nserver = "counter_server:Counter"\n'
        '[agent]\ntype = "random"\nmax_steps = 3\nmetrics = ["value"]\n'
    )
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(workload), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.stdout.split()[-2:] == ["0", "False"], probe.stderr  # ran; Ray never imported


def test_verify_says_why_the_default_agent_was_chosen(
    write_toml, objective_workload, capsys: pytest.CaptureFixture[str]
) -> None:
    data = objective_workload(runner="slurm", slurm={"batch": True})
    del data["agent"]["type"]
    batch = write_toml("batch.toml", data)
    plain = write_toml("plain.toml", {**data, "runner": "local", "slurm": {}})
    assert main(["verify", str(batch), str(plain)]) == 0
    out = capsys.readouterr().out.splitlines()
    jobs = [line for line in out if line.startswith("  job ")]
    assert "agent grid (default: slurm batch mode submits the whole grid" in jobs[0]
    assert "agent grid (default: categorical, all 8 actions fit" in jobs[1]


@pytest.mark.parametrize(
    ("max_steps", "budget_s", "noted"),
    [(10_000, 60.0, True), (10_000, None, False), (50, 60.0, False)],
    ids=["large-max-steps-and-budget", "no-time-budget", "max-steps-that-fit"],
)
def test_verify_notes_when_ngopt_plans_for_more_trials_than_a_time_budget_allows(
    write_toml,
    capsys: pytest.CaptureFixture[str],
    max_steps: int,
    budget_s: float | None,
    noted: bool,
) -> None:
    agent: dict[str, object] = {"max_steps": max_steps, "reward": "negative"}
    if budget_s is not None:
        agent["budget_s"] = budget_s
    path = write_toml(
        "ranges.toml",
        {
            "name": "ranges",
            "command": ["python", "-c", "print('loss=1')", "{lr}", "{reg}"],
            "params": {"lr": {"low": 1e-3, "high": 1.0, "log": True}, "reg": {"low": 0, "high": 1}},
            "metrics": [{"name": "loss", "regex": r"loss=(\S+)"}],
            "agent": agent,
        },
    )
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out
    assert "auto runs ngopt" in out
    note = (
        f"    note: NGOpt picks its algorithm for max_steps = {max_steps} evaluations, but "
        f"budget_s = 60 may end the job long before; set max_steps near the number of trials"
    )
    assert (note in out) is noted, out


@pytest.mark.parametrize(
    ("pruner", "noted"),
    [
        ({"type": "median"}, "from a trial's first step (n_warmup_steps = 0)"),
        ({"type": "percentile", "percentile": 25.0, "n_warmup_steps": 0}, "n_warmup_steps = 0"),
        ({"type": "median", "n_warmup_steps": 5}, None),
        ({"type": "successive_halving"}, "1% of the first trial's steps (min_resource = 'auto')"),
        ({"type": "successive_halving", "min_resource": 1}, "first rung at step 1"),
        ({"type": "successive_halving", "min_resource": 5}, None),
        ({"type": "hyperband"}, "first rung at step 1"),
        ({"type": "hyperband", "min_resource": 4}, None),
        ({"type": "none"}, None),
    ],
    ids=lambda value: value if isinstance(value, str) or value is None else value["type"],
)
def test_verify_notes_a_pruner_that_may_stop_trials_from_their_first_step(
    write_toml,
    capsys: pytest.CaptureFixture[str],
    pruner: dict[str, object],
    noted: str | None,
) -> None:
    path = write_toml(
        "pruned.toml",
        {
            "name": "pruned",
            "command": ["python", "-c", "print('loss=1')", "{lr}"],
            "params": {"lr": {"low": 1e-3, "high": 1.0, "log": True}},
            "metrics": [{"name": "loss", "regex": r"loss=(\S+)", "progress": r"e(\d+) (\S+)"}],
            "agent": {"type": "optuna", "reward": "negative", "pruner": pruner},
        },
    )
    assert main(["verify", str(path)]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "pruner judges" in line]
    if noted is None:
        assert notes == []
    else:
        (note,) = notes
        assert noted in note and f"the {pruner['type']} pruner judges" in note
        assert "about a fifth of a trial's steps" in note


def _ray_pruned_workload(write_toml, shared_fs: bool) -> Path:  # type: ignore[no-untyped-def]
    return write_toml(
        "ray-pruned.toml",
        {
            "name": "ray-pruned",
            "command": ["python", "-c", "print('e1 1.0')", "{lr}"],
            "params": {"lr": [0.1, 0.2, 0.3]},
            "metrics": [{"name": "loss", "progress": r"e(\d+) (\S+)"}],
            "runner": "ray",
            "ray": {"address": "local", "shared_fs": shared_fs},
            "agent": {
                "type": "grid",
                "reward": "negative",
                "pruner": {"type": "median", "n_warmup_steps": 2},
            },
        },
    )


@pytest.mark.parametrize("shared_fs", [False, True])
def test_verify_notes_a_pruner_that_can_stop_no_ray_trial_without_a_shared_filesystem(
    write_toml, capsys: pytest.CaptureFixture[str], shared_fs: bool
) -> None:
    # Without shared_fs a Ray trial's progress comes back when it ends: nothing is pruned,
    # which verify and run used to leave unsaid.
    assert main(["verify", str(_ray_pruned_workload(write_toml, shared_fs))]) == 0
    notes = [line for line in capsys.readouterr().out.splitlines() if "stops no trial" in line]
    if shared_fs:
        assert notes == []
    else:
        (note,) = notes
        assert "the median pruner stops no trial on Ray with shared_fs = false" in note
        assert "set [ray] shared_fs = true" in note


def test_run_warns_of_a_pruner_that_can_stop_no_ray_trial(
    write_toml, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _ray_pruned_workload(write_toml, shared_fs=False)
    args = ["run", str(path), "--output", str(tmp_path / "out"), "--dry-run", "--no-progress"]
    assert main(args) == 0
    warned = [line for line in capsys.readouterr().err.splitlines() if "stops no trial" in line]
    assert warned == [
        "tunegym: warning: job ray-pruned: the median pruner stops no trial on Ray with "
        "shared_fs = false: a trial's progress comes back only when it ends (its curve is "
        "still recorded); set [ray] shared_fs = true with the run folder on a filesystem "
        "every node shares"
    ]


@pytest.mark.parametrize(
    ("agent", "noted"),
    [
        ({"budget_grace_s": 5.0}, "budget_grace_s has no effect without budget_s"),
        ({"budget_grace_s": 5.0, "budget_s": 60.0}, None),
        ({"budget_s": 60.0}, None),
    ],
)
def test_verify_notes_budget_settings_that_do_nothing(
    write_toml, capsys: pytest.CaptureFixture[str], agent: dict[str, object], noted: str | None
) -> None:
    path = write_toml(
        "budget.toml",
        {
            "name": "budget",
            "command": ["python", "-c", "print('loss=1')", "{lr}"],
            "params": {"lr": {"low": 1e-3, "high": 1.0, "log": True}},
            "metrics": [{"name": "loss", "regex": r"loss=(\S+)"}],
            "agent": {"type": "optuna", "reward": "negative", **agent},
        },
    )
    assert main(["verify", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    notes = [line for line in out if "note:" in line and "budget" in line]
    if noted is None:
        assert notes == []
    else:
        (note,) = notes
        assert noted in note


def test_verify_refuses_a_metric_listed_twice_in_agent_metrics(
    write_toml, objective_workload, capsys: pytest.CaptureFixture[str]
) -> None:
    """``metrics = ["score", "score"]`` with ``objectives = ["max", "min"]`` was accepted:
    verify printed "objectives score max, score min" and the report dropped one."""
    path = write_toml(
        "w.toml",
        objective_workload(agent={"metrics": ["score", "score"], "objectives": ["max", "min"]}),
    )
    assert main(["verify", str(path)]) == 2
    captured = capsys.readouterr()
    assert "ok" not in captured.out
    (line,) = captured.err.strip().splitlines()
    assert line == (
        f"tunegym: error: {path}: agent.metrics: 'score' listed more than once; "
        "name each metric once"
    )


@pytest.mark.parametrize(
    ("low", "high", "ok"),
    [(0, 2**62, True), (0, 2**62 + 1, False), (-(2**62) - 1, 0, False), (-(2**62), 5, True)],
)
def test_verify_holds_int_range_bounds_within_2_to_the_62(
    write_toml,
    objective_workload,
    capsys: pytest.CaptureFixture[str],
    low: int,
    high: int,
    ok: bool,
) -> None:
    """``high = 2**62 + 1`` was accepted (as a float it rounds to 2**62), though the README
    says an int range's bounds are within +-2^62."""
    param = {"low": low, "high": high, "dtype": "int"}
    path = write_toml("w.toml", objective_workload(params={"x": param, "y": ["a"]}, agent={}))
    assert main(["verify", str(path)]) == (0 if ok else 2)
    err = capsys.readouterr().err.strip()
    if not ok:
        assert err == (
            f'tunegym: error: {path}: params.x: dtype = "int" bounds must be within +-2^62 '
            f"(what samplers draw), got low = {low}, high = {high}"
        )


@pytest.mark.parametrize("reward", ["expr: score / 0", "expr: 1 / (score - score)"])
def test_verify_and_run_refuse_a_reward_no_metric_value_computes(
    tmp_path: Path, write_toml, objective_workload, capsys: pytest.CaptureFixture[str], reward: str
) -> None:
    """``reward = "expr: score / 0"`` passed verify, then every trial was metric_missing
    (a constraint that cannot be evaluated for any action is refused up front)."""
    path = write_toml("w.toml", objective_workload(agent={"reward": reward}))
    for argv in (["verify", str(path)], ["run", str(path), "--output", str(tmp_path / "out")]):
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line == (
            f"tunegym: error: {path}: agent.reward: {reward!r} cannot be computed for any "
            f"value of its metrics tried (score): expression {reward[6:]!r}: division by "
            "zero; every trial would be metric_missing"
        )
    assert not (tmp_path / "out").exists()
    path = write_toml("w.toml", objective_workload(agent={"reward": "expr: 1 / (score - 3)"}))
    assert main(["verify", str(path)]) == 0  # fails at one value only: fine


SB3_REFUSED = [
    ("DQN", {"train_freq": 0}, "train_freq", "must be a whole number >= 1 for DQN, got 0"),
    ("DQN", {"train_freq": -1}, "train_freq", "must be a whole number >= 1 for DQN, got -1"),
    (
        "DQN",
        {"train_freq": [0, "episode"]},
        "train_freq",
        'must be a whole number >= 1, or [n, "step"] or [n, "episode"] with n >= 1, '
        "got [0, 'episode']",
    ),
    ("DQN", {"batch_size": -1}, "batch_size", "must be a whole number >= 1 for DQN, got -1"),
    ("DQN", {"gradient_steps": 2.5}, "gradient_steps", "must be a whole number for DQN, got 2.5"),
    (
        "PPO",
        {"n_steps": 1},
        "n_steps",
        "must be a whole number >= 2 for PPO, which normalises advantages over it (1 with "
        "normalize_advantage = false), got 1",
    ),
    ("PPO", {"batch_size": 0}, "batch_size", "must be a whole number >= 2 for PPO"),
    ("PPO", {"n_epochs": 0}, "n_epochs", "must be a whole number >= 1 for PPO, got 0"),
    ("A2C", {"n_steps": 0}, "n_steps", "must be a whole number >= 1 for A2C, got 0"),
    # names: each passed verify; run then built nothing (exit 2, no file named)
    ("PPO", {"seed": 3}, "seed", "set by the sb3 agent itself; use agent.seed"),
    ("PPO", {"device": "cpu"}, "device", "set by the sb3 agent itself; use agent.config.device"),
    (
        "DQN",
        {"policy_kwargs": {}},
        "policy_kwargs",
        "set by the sb3 agent itself; use agent.config.policy_kwargs",
    ),
    ("A2C", {"batch_size": 8}, "batch_size", "A2C takes no option 'batch_size'; PPO/DQN takes"),
    ("PPO", {"n_stepz": 8}, "n_stepz", "PPO takes no option 'n_stepz'; did you mean 'n_steps'?"),
    ("A2C", {"n_epochs": 3}, "n_epochs", "A2C takes no option 'n_epochs'; PPO takes it, not A2C"),
]


@pytest.mark.parametrize(("algorithm", "kwargs", "field", "message"), SB3_REFUSED)
def test_verify_and_run_refuse_sb3_kwargs_the_algorithm_cannot_train_with(
    tmp_path: Path,
    write_toml,
    objective_workload,
    capsys: pytest.CaptureFixture[str],
    algorithm: str,
    kwargs: dict,
    field: str,
    message: str,
) -> None:
    """DQN's ``train_freq = 0`` (and PPO's ``n_steps = 1``, A2C's ``n_steps = 0``, ...)
    passed verify; run then exited 2 once SB3 built or trained the algorithm. Both now
    refuse the file with one line naming it and the field, and run starts nothing."""
    config = {"algorithm": algorithm, "kwargs": kwargs}
    path = write_toml("w.toml", objective_workload(agent={"type": "sb3", "config": config}))
    for argv in (["verify", str(path)], ["run", str(path), "--output", str(tmp_path / "out")]):
        assert main(argv) == 2
        (line,) = capsys.readouterr().err.strip().splitlines()
        assert line.startswith(f"tunegym: error: {path}: agent.config.kwargs.{field}: {message}")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "config",
    [
        {"algorithm": "DQN", "kwargs": {"train_freq": [2, "episode"], "gradient_steps": -1}},
        {"algorithm": "PPO", "kwargs": {"n_steps": 1, "normalize_advantage": False}},
        {"algorithm": "DQN", "mode": "evaluate", "model": "m.zip", "kwargs": {"train_freq": 0}},
    ],
)
def test_verify_accepts_sb3_kwargs_the_algorithm_can_use(
    write_toml, objective_workload, config: dict
) -> None:
    path = write_toml("w.toml", objective_workload(agent={"type": "sb3", "config": config}))
    assert main(["verify", str(path)]) == 0
