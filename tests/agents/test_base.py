"""AgentConfig and BaseAgent refuse, by name, what a Python caller can get wrong."""

from __future__ import annotations

from typing import Any

import pytest

from tunegym.agents.base import AgentConfig
from tunegym.agents.optuna import OptunaAgent
from tunegym.agents.random_search import RandomAgent
from tunegym.env.function import FunctionEnv
from tunegym.errors import UsageError
from tunegym.space import Continuous, SearchSpace


def _env() -> FunctionEnv:
    return FunctionEnv(SearchSpace({"x": Continuous("x", 0, 1)}), lambda p: p["x"])


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"max_steps": 0}, r"^max_steps must be a whole number in \[1, 1000000000\], got 0$"),
        ({"max_steps": 2.5}, r"^max_steps must be a whole number .* got 2\.5$"),
        ({"seed": -1}, r"^seed must be a whole number in \[0, 4294967295\], got -1$"),
        ({"seed": "7"}, r"^seed must be a whole number .* got '7'$"),
        ({"parallel": 0}, r"^parallel must be a whole number in \[1, 4096\], got 0$"),
        ({"repeats": 0}, r"^repeats must be a whole number in \[1, 1000000000\], got 0$"),
        ({"min_draws": False}, r"^min_draws must be a whole number .* got False$"),
        ({"objectives": "max"}, r'^objectives must be "max" or "min" per metric, got \'max\'$'),
        ({"objectives": ("max", "up")}, r'^objectives must be "max" or "min" per metric'),
    ],
)
def test_agent_config_refuses_a_field_that_cannot_work(
    fields: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        AgentConfig(**{"max_steps": 5, **fields})


def test_agent_config_takes_the_largest_seed_a_job_iteration_can_have() -> None:
    assert AgentConfig(5, 2**32 - 1).seed == 2**32 - 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"sampler": "nope"}, r"^agent 'optuna' options: sampler: unknown sampler 'nope'; known"),
        (
            {"smapler": "tpe"},
            r"^agent 'optuna' options: smapler: unknown key; did you mean 'sampler'\?$",
        ),
    ],
)
def test_options_that_do_not_validate_are_one_line_naming_the_agent_and_field(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        OptunaAgent(_env(), AgentConfig(3, 0, options))
    assert "\n" not in str(caught.value)


def test_an_agent_without_options_names_the_option_it_does_not_take() -> None:
    with pytest.raises(UsageError, match=r"^agent 'random' options: sampler: unknown key \(check"):
        RandomAgent(_env(), AgentConfig(3, 0, {"sampler": "tpe"}))
