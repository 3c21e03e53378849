from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tunegym.agents.base import AgentConfig
from tunegym.agents.random_search import RandomAgent
from tunegym.env.function import FunctionEnv
from tunegym.space import Categorical, Continuous, SearchSpace

SPACE = SearchSpace({"a": Categorical("a", tuple(range(5))), "b": Categorical("b", ("x", "y"))})


def _visit(space: SearchSpace, seed: int, steps: int) -> list[dict]:
    env = FunctionEnv(space, lambda p: 1.0)
    RandomAgent(env, AgentConfig(steps, seed)).run()
    return [f.action for f in env.history]


def test_random_is_reproducible_with_a_seed_and_differs_across_seeds() -> None:
    assert _visit(SPACE, 1, 6) == _visit(SPACE, 1, 6)
    assert _visit(SPACE, 1, 6) != _visit(SPACE, 2, 6)


def test_random_samples_without_replacement_and_stops_when_exhausted() -> None:
    steps = _visit(SPACE, 0, 100)
    assert len(steps) == 10
    assert sorted(map(str, steps)) == sorted(map(str, SPACE.grid()))


def test_random_over_float_ranges_stays_in_bounds() -> None:
    space = SearchSpace({"f": Continuous("f", 0.5, 2.0), "n": Continuous("n", 1, 64, "int", True)})
    steps = _visit(space, 0, 50)
    assert len(steps) == 50
    assert all(
        0.5 <= s["f"] <= 2.0 and isinstance(s["n"], int) and 1 <= s["n"] <= 64 for s in steps
    )


class _OddOnly(FunctionEnv):
    """A ``FunctionEnv`` whose constraint refuses every even ``n``."""

    def infeasible(self, action: Mapping[str, Any]) -> str | None:
        return "n is even" if action["n"] % 2 == 0 else None


LOG_SPACE = SearchSpace(
    {"n": Continuous("n", 1, 64, "int", log=True), "c": Categorical("c", ("u", "v"))}
)


def test_random_draws_a_finite_log_range_log_uniformly() -> None:
    # Half the log-uniform mass of 1..10**6 is at most 1000 (0.1% of the values): drawn
    # uniformly, about 0.2 of 200 draws land there (P(>= 50) is astronomically small);
    # log-uniformly without replacement about 0.38 of them do (0.34..0.43 over seeds 0-7).
    space = SearchSpace({"rows": Continuous("rows", 1, 10**6, "int", log=True)})
    steps = _visit(space, 0, 200)
    assert len({s["rows"] for s in steps}) == 200  # no action twice
    assert 0.25 <= sum(s["rows"] <= 1000 for s in steps) / 200 <= 0.6


def test_random_over_a_finite_log_space_is_reproducible_and_exhausts_it_once() -> None:
    assert _visit(LOG_SPACE, 4, 20) == _visit(LOG_SPACE, 4, 20)
    assert _visit(LOG_SPACE, 4, 20) != _visit(LOG_SPACE, 5, 20)
    steps = _visit(LOG_SPACE, 0, 500)
    assert len(steps) == LOG_SPACE.size == 128
    assert sorted(map(str, steps)) == sorted(map(str, LOG_SPACE.grid()))


def test_random_over_a_finite_log_space_skips_infeasible_actions() -> None:
    env = _OddOnly(LOG_SPACE, lambda p: 1.0)
    agent = RandomAgent(env, AgentConfig(500, 0))
    assert agent.run() == 0 and agent.gave_up is None
    assert sorted(map(str, (f.action for f in env.history))) == sorted(
        str(a) for a in LOG_SPACE.grid() if a["n"] % 2
    )


def test_random_draws_a_log_space_past_int64() -> None:
    # 10**21 actions, too many to permute: draws from the distribution, none twice.
    wide = {name: Continuous(name, 1, 10**7, "int", log=True) for name in "xyz"}
    steps = _visit(SearchSpace(wide), 0, 50)
    assert len({str(s) for s in steps}) == 50
    assert all(1 <= s[name] <= 10**7 for s in steps for name in "xyz")
    assert sum(s["x"] <= 10**3 for s in steps) >= 10  # 0 expected if uniform
