"""The sb3 agent's check of its algorithms' whole-number ``kwargs`` (sb3_kwargs.py), and
the agent running it on options given in code (a workload's are refused when it loads:
tests/cli/test_verify.py)."""

from __future__ import annotations

from typing import Any

import pytest

from tunegym.agents.base import AgentConfig
from tunegym.env.function import FunctionEnv
from tunegym.errors import SpecError
from tunegym.gym.sb3 import SB3Agent
from tunegym.gym.sb3_kwargs import algorithm_kwargs, kwargs_problems
from tunegym.space import Categorical, SearchSpace


@pytest.mark.parametrize(
    ("algorithm", "kwargs", "message"),
    [
        ("DQN", {"train_freq": 0}, "must be a whole number >= 1 for DQN, got 0"),
        ("DQN", {"train_freq": -3}, "got -3"),
        ("DQN", {"train_freq": 2.0}, "got 2.0"),
        ("DQN", {"train_freq": [0, "step"]}, "or [n, \"episode\"] with n >= 1, got [0, 'step']"),
        ("DQN", {"train_freq": [2, "steps"]}, "got [2, 'steps']"),
        ("DQN", {"train_freq": [2]}, "got [2]"),
        ("DQN", {"batch_size": 0}, "must be a whole number >= 1 for DQN, got 0"),
        ("DQN", {"gradient_steps": 1.5}, "must be a whole number for DQN, got 1.5"),
        ("DQN", {"buffer_size": "1e5"}, "must be a whole number for DQN, got '1e5'"),
        ("PPO", {"n_steps": 1}, "must be a whole number >= 2 for PPO, which normalises"),
        ("PPO", {"n_steps": True}, "got True"),
        ("PPO", {"batch_size": 0}, "must be a whole number >= 2 for PPO"),
        ("PPO", {"n_steps": 0, "normalize_advantage": False}, ">= 1 for PPO, got 0"),
        ("PPO", {"n_epochs": 0}, "must be a whole number >= 1 for PPO, got 0"),
        ("A2C", {"n_steps": 0}, "must be a whole number >= 1 for A2C, got 0"),
    ],
)
def test_a_whole_number_sb3_cannot_train_with_is_a_problem_naming_the_kwarg(
    algorithm: str, kwargs: dict[str, Any], message: str
) -> None:
    ((loc, said),) = kwargs_problems(algorithm, "train", kwargs)
    assert loc == ("config", "kwargs", next(iter(kwargs)))
    assert message in said


@pytest.mark.parametrize(
    ("algorithm", "kwargs"),
    [
        ("DQN", {"train_freq": 1, "batch_size": 1, "gradient_steps": -1, "buffer_size": 0}),
        ("DQN", {"train_freq": [2, "episode"], "gradient_steps": 0}),
        ("PPO", {"n_steps": 2, "batch_size": 2, "n_epochs": 1}),
        ("PPO", {"n_steps": 1, "batch_size": 1, "normalize_advantage": False}),
        ("A2C", {"n_steps": 1, "gae_lambda": 0.9}),
    ],
)
def test_what_sb3_can_train_with_is_no_problem(algorithm: str, kwargs: dict[str, Any]) -> None:
    assert kwargs_problems(algorithm, "train", kwargs) == []


def test_evaluate_builds_no_algorithm_so_its_kwargs_are_not_checked() -> None:
    assert kwargs_problems("DQN", "evaluate", {"train_freq": 0}) == []


def test_a_train_freq_list_becomes_the_tuple_sb3_takes() -> None:
    assert algorithm_kwargs({"train_freq": [2, "episode"], "gamma": 0.9}) == {
        "train_freq": (2, "episode"),
        "gamma": 0.9,
    }
    assert algorithm_kwargs({"train_freq": 4}) == {"train_freq": 4}


def test_options_given_in_code_are_refused_before_sb3_is_built() -> None:
    """No spec loader runs for them: the agent runs the same check before it trains."""
    pytest.importorskip("stable_baselines3")
    space = SearchSpace({"x": Categorical("x", (1, 2, 3))})
    env = FunctionEnv(space, lambda p: float(p["x"]))
    options = {"algorithm": "DQN", "kwargs": {"train_freq": 0}}
    agent = SB3Agent(env, AgentConfig(max_steps=4, seed=0, options=options))
    with pytest.raises(SpecError) as caught:
        agent.run()
    assert str(caught.value) == (
        "agent.config.kwargs.train_freq: must be a whole number >= 1 for DQN, got 0"
    )
    assert env.history == []


def test_the_option_names_are_those_the_installed_sb3_constructors_take() -> None:
    """CONSTRUCTOR_OPTIONS is SB3 2.9's list, kept without importing SB3 (torch) in
    verify; this test fails when an SB3 upgrade adds or drops an option."""
    sb3 = pytest.importorskip("stable_baselines3")
    import inspect

    from tunegym.gym.sb3_kwargs import CONSTRUCTOR_OPTIONS, SET_BY_THE_AGENT

    for algorithm, names in CONSTRUCTOR_OPTIONS.items():
        parameters = inspect.signature(getattr(sb3, algorithm).__init__).parameters
        taken = {n for n in parameters if n != "self" and not n.startswith("_")}
        assert names | set(SET_BY_THE_AGENT) == taken, algorithm
        assert not names & set(SET_BY_THE_AGENT)


def test_an_option_only_a_newer_installed_sb3_takes_is_accepted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tunegym.gym import sb3_kwargs

    monkeypatch.setattr(sb3_kwargs, "_installed_options", lambda algorithm: {"new_option"})
    assert kwargs_problems("PPO", "train", {"new_option": 1}) == []
    assert kwargs_problems("PPO", "train", {"old_typo": 1}) != []
