from __future__ import annotations

import pytest

from tunegym.agents.grid import GridAgent
from tunegym.agents.registry import (
    available_agents,
    default_agent_reason,
    default_max_steps,
    load_agent,
    register_agent,
    unregister_agent,
)
from tunegym.errors import SpecError
from tunegym.space import Categorical, Continuous, SearchSpace


def test_builtin_agents_are_listed_and_load() -> None:
    assert {"grid", "random"} <= set(available_agents())
    assert load_agent("grid") is GridAgent


def test_unknown_agent_lists_the_known_ones() -> None:
    with pytest.raises(SpecError, match=r"unknown agent type 'nope'; known agents: .*grid.*random"):
        load_agent("nope")


def test_registered_agent_loads_and_builtins_cannot_be_replaced() -> None:
    register_agent("grid2", "tunegym.agents.grid:GridAgent")
    try:
        assert load_agent("grid2") is GridAgent
    finally:
        unregister_agent("grid2")
    with pytest.raises(ValueError, match="built-in"):
        register_agent("grid", "x:y")


def test_default_agent_is_grid_for_small_categorical_spaces_else_auto() -> None:
    small = SearchSpace({"a": Categorical("a", (1, 2, 3))})
    mixed = SearchSpace({"a": Categorical("a", (1, 2)), "f": Continuous("f", 0, 1)})
    assert default_agent_reason(small, None)[0] == "grid"
    assert default_agent_reason(small, 2)[0] == "auto"
    assert default_agent_reason(mixed, None)[0] == "auto"
    assert default_max_steps(small) == 3
    assert default_max_steps(mixed) == 100
