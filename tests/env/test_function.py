from __future__ import annotations

import math

import pytest

from tunegym.env.function import FunctionEnv
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.space import Categorical, Continuous, SearchSpace

SPACE = SearchSpace({"a": Categorical("a", (1, 2, 3))}, fixed={"k": 10})


def test_function_env_scores_params_including_fixed_and_env_params() -> None:
    env_params = EnvParams([EnvParamDim("e", (100,))])
    env = FunctionEnv(SPACE, lambda p: p["a"] * p["k"] + p["e"], env_params=env_params)
    obs, reward, done, info = env.step({"a": 2})
    assert obs == {"score": 120.0} and reward == 120.0 and not done
    assert info["step"] == 1 and info["env_params"] == {"e": 100}


def test_function_env_failures_are_data() -> None:
    def objective(p: dict) -> dict:
        if p["a"] == 3:
            raise ValueError("bad region")
        return {"score": float("nan")} if p["a"] == 2 else {"score": 1.0}

    env = FunctionEnv(SPACE, objective, penalty=-5.0)
    assert env.step({"a": 3})[3]["status"] == "failed"
    obs, reward, _, info = env.step({"a": 2})
    assert info["status"] == "metric_missing" and reward == -5.0 and math.isnan(obs["score"])
    assert env.step({"a": 1})[1] == 1.0
    assert [f.step for f in env.history] == [1, 2, 3]


def test_function_env_missing_metric_is_a_metric_missing_row() -> None:
    env = FunctionEnv(SPACE, lambda p: {"other": 1.0}, metrics=["score"], penalty=-3.0)
    obs, reward, _, info = env.step({"a": 1})
    assert info["status"] == "metric_missing" and reward == -3.0 and math.isnan(obs["score"])


def test_an_objective_that_returns_no_number_fails_that_trial_and_the_search_goes_on() -> None:
    def objective(params):
        if params["x"] < 0.5:
            return "fast"
        return {"score": None} if params["x"] < 0.8 else params["x"]

    env = FunctionEnv(SearchSpace({"x": Continuous("x", 0, 1)}), objective, penalty=-9.0)
    env.reset()
    errors = []
    for x in (0.2, 0.6, 0.9):
        _, reward, _, info = env.step({"x": x})
        errors.append((info["status"].value, reward, info["error"]))
    assert errors == [
        (
            "failed",
            -9.0,
            "the objective returned 'fast': expected a number or a mapping of "
            "metric names to numbers",
        ),
        (
            "failed",
            -9.0,
            "the objective returned {'score': None}: expected a number or a "
            "mapping of metric names to numbers",
        ),
        ("ok", 0.9, None),
    ]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"space": {"x": (0, 1)}}, r"^space must be a SearchSpace, got \{'x': \(0, 1\)\}$"),
        ({"objective": 5}, r"^objective must be callable, got 5$"),
        ({"metrics": "score"}, r"^metrics must be a list of metric names, got 'score'$"),
        ({"metrics": ["a", "a"]}, r"^metrics must be distinct, non-empty names"),
        ({"metrics": ["a", ""]}, r"^metrics must be distinct, non-empty names"),
        ({"penalty": math.nan}, r"^penalty must be a finite number, got nan$"),
        ({"parallel": 0}, r"^parallel must be a whole number in \[1, 4096\], got 0$"),
        (
            {"env_params": {"e": (1, 2)}},
            r"^env_params must be an EnvParams, got \{'e': \(1, 2\)\}$",
        ),
        (
            {"env_params": EnvParams([EnvParamDim("x", (100, 200))])},
            r"^env_params names both sampled and searched: \['x'\]$",
        ),
        (
            {
                "space": SearchSpace({"x": Continuous("x", 0, 1)}, fixed={"k": 1}),
                "env_params": EnvParams([EnvParamDim("k", (2, 3)), EnvParamDim("e", (4,))]),
            },
            r"^env_params names both sampled and fixed: \['k'\]$",
        ),
    ],
)
def test_arguments_that_cannot_work_are_refused_by_name(arguments, message) -> None:
    from tunegym.errors import UsageError

    given = {"space": SearchSpace({"x": Continuous("x", 0, 1)}), "objective": lambda p: 1.0}
    with pytest.raises(UsageError, match=message):
        FunctionEnv(**{**given, **arguments})


@pytest.mark.parametrize("parallel", [1, 2])
def test_a_closed_function_env_refuses_step_and_reset_before_running_anything(
    parallel: int,
) -> None:
    from gymnasium.error import ClosedEnvironmentError

    calls: list[dict] = []
    env = FunctionEnv(SPACE, lambda p: calls.append(p) or 1.0, parallel=parallel)
    env.step({"a": 1})
    env.close()
    with pytest.raises(ClosedEnvironmentError, match=r"^step\(\) after close\(\): Function"):
        env.step({"a": 2})
    with pytest.raises(ClosedEnvironmentError, match=r"^step\(\) after close\(\)"):
        env.submit({"a": 2})
    with pytest.raises(ClosedEnvironmentError, match=r"^reset\(\) after close\(\)"):
        env.reset()
    assert len(calls) == 1 and env.last_step == 1
