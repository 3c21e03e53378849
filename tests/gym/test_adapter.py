"""GymnasiumAdapter: spaces, encode/decode, the env checkers, and the trial counter."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env, data_equivalence
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import tunegym
from tunegym.env.base import BaseGym
from tunegym.env.function import FunctionEnv
from tunegym.env_params import EnvParamDim, EnvParams
from tunegym.gym import GymnasiumAdapter, register
from tunegym.space import Categorical, Continuous, SearchSpace
from tunegym.spec.models import _candidate_key


def _space() -> SearchSpace:
    return SearchSpace(
        {
            "mode": Categorical("mode", ("a", "b", "c")),
            "only": Categorical("only", (7,)),
            "x": Continuous("x", 0.0, 2.5),
            "n": Continuous("n", 1, 9, "int"),
        },
        fixed={"size": 64},
    )


def _env(space: SearchSpace | None = None, env_params: EnvParams | None = None) -> FunctionEnv:
    def objective(params: dict[str, Any]) -> dict[str, float]:
        return {"score": float(len(params)), "other": 1.0}

    return FunctionEnv(space or _space(), objective, ["score", "other"], env_params)


def _categorical_space() -> SearchSpace:
    return SearchSpace({"a": Categorical("a", (1, 2, 3)), "b": Categorical("b", ("x", "y"))})


# -- spaces ----------------------------------------------------------------------------
def test_dict_action_space_exposes_multi_valued_dimensions_only() -> None:
    adapter = GymnasiumAdapter(_env())
    space = adapter.action_space
    assert isinstance(space, spaces.Dict)
    assert set(space.spaces) == {"mode", "x", "n"}  # "only" is injected, "size" is fixed
    assert space["mode"] == spaces.Discrete(3)
    assert isinstance(space["x"], spaces.Box) and space["x"].dtype == np.float32
    assert space["x"].shape == (1,) and float(space["x"].high[0]) == 2.5
    assert float(space["n"].low[0]) == 1.0 and float(space["n"].high[0]) == 9.0


def test_single_value_and_fixed_params_are_injected_on_every_step() -> None:
    adapter = GymnasiumAdapter(_env())
    adapter.reset(seed=0)
    *_, info = adapter.step({"mode": 1, "x": np.array([0.5], np.float32), "n": np.array([3.2])})
    assert info["params"] == {"size": 64, "mode": "b", "only": 7, "x": 0.5, "n": 3}


def test_flatten_all_categorical_gives_multidiscrete() -> None:
    adapter = GymnasiumAdapter(_env(_categorical_space()), flatten=True)
    assert adapter.action_space == spaces.MultiDiscrete([3, 2])
    assert adapter.decode_action(np.array([2, 1])) == {"a": 3, "b": "y"}


def test_flatten_all_continuous_gives_one_box() -> None:
    space = SearchSpace({"x": Continuous("x", -1, 1), "k": Continuous("k", 0, 4, "int")})
    adapter = GymnasiumAdapter(_env(space), flatten=True)
    assert isinstance(adapter.action_space, spaces.Box)
    assert adapter.action_space.shape == (2,)
    assert adapter.decode_action(np.array([0.25, 2.6], np.float32)) == {"x": 0.25, "k": 3}


def test_flatten_discrete_gives_one_discrete_over_every_combination() -> None:
    adapter = GymnasiumAdapter(_env(_categorical_space()), flatten="discrete")
    assert adapter.action_space == spaces.Discrete(6)
    decoded = [adapter.decode_action(i) for i in range(6)]
    assert decoded == list(_categorical_space().grid())  # same order as the grid


def test_flatten_discrete_takes_int_ranges_too() -> None:
    space = SearchSpace(
        {
            "n": Continuous("n", 2, 4, "int"),
            "only": Categorical("only", (7,)),
            "mode": Categorical("mode", ("a", "b")),
        }
    )
    adapter = GymnasiumAdapter(_env(space), flatten="discrete")
    assert adapter.action_space == spaces.Discrete(6)
    decoded = [adapter.decode_action(i) for i in range(6)]
    assert decoded == list(space.grid())  # the single-value "only" has radix 1
    assert [int(adapter.encode_action(a)) for a in decoded] == list(range(6))
    assert adapter.encode_action({"n": 3, "only": 7, "mode": "b"}) == space.index_of(
        {"n": 3, "only": 7, "mode": "b"}
    )
    adapter.reset()
    *_, info = adapter.step(np.int64(5))
    assert info["params"] == {"n": 4, "only": 7, "mode": "b"}


def test_flattening_a_mixed_space_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"mixes categorical mode with continuous x, n"):
        GymnasiumAdapter(_env(), flatten=True)
    with pytest.raises(ValueError, match=r"flatten='discrete' needs finite dimensions.*x is a"):
        GymnasiumAdapter(
            _env(SearchSpace({"x": Continuous("x", 0, 1), "n": Continuous("n", 0, 2, "int")})),
            flatten="discrete",
        )


def test_a_space_with_nothing_to_choose_is_refused() -> None:
    space = SearchSpace({"only": Categorical("only", ("a",))})
    with pytest.raises(ValueError, match=r"nothing for a policy to choose.*\['only'\]"):
        GymnasiumAdapter(_env(space))


def test_observation_is_a_float32_box_over_the_metrics_without_env_params() -> None:
    adapter = GymnasiumAdapter(_env())
    assert isinstance(adapter.observation_space, spaces.Box)
    assert adapter.observation_space.shape == (2,)
    obs, info = adapter.reset(seed=1)
    assert obs.dtype == np.float32 and obs.tolist() == [0.0, 0.0]  # NaN (no trial yet) -> 0
    assert info["env_params"] == {}
    obs, *_ = adapter.step(adapter.action_space.sample())
    assert obs.tolist() == [5.0, 1.0]


def _env_params() -> EnvParams:
    return EnvParams([EnvParamDim("load", ("low", "mid", "high")), EnvParamDim("r", (1, 2))])


def test_structured_observation_appears_only_with_env_params() -> None:
    plain = GymnasiumAdapter(_env())
    assert not isinstance(plain.observation_space, spaces.Dict)
    adapter = GymnasiumAdapter(_env(env_params=_env_params()))
    space = adapter.observation_space
    assert isinstance(space, spaces.Dict)
    assert set(space.spaces) == {"observation", "context"}
    assert space["context"] == spaces.Dict({"load": spaces.Discrete(3), "r": spaces.Discrete(2)})
    obs, info = adapter.reset(seed=0)
    assert obs in space
    # The context is the env params of the step the next action runs under.
    expected = {"load": ("low", "mid", "high").index(info["env_params"]["load"])}
    assert int(obs["context"]["load"]) == expected["load"]
    for _ in range(4):
        obs, *_, info = adapter.step(adapter.action_space.sample())
        upcoming = adapter.env.env_params.sample(info["step"] + 1)
        assert int(obs["context"]["r"]) == (1, 2).index(upcoming["r"])
        assert obs in space


class _ScriptedEnvParams(BaseGym):
    """An env whose env params follow a script it alone knows (not ``sample(step + 1)``),
    and whose ``info`` carries no step number."""

    def __init__(self) -> None:
        self.action_space = _categorical_space()
        self.observation_space = ["score"]
        self.env_params = _env_params()
        self.script = [{"load": "high", "r": 2}, {"load": "low", "r": 1}, {"load": "mid", "r": 2}]
        self.steps = 0
        self.asked = 0

    def next_env_params(self) -> dict[str, Any]:
        self.asked += 1
        return dict(self.script[self.steps % len(self.script)])

    def reset(self, seed: Any = None, options: Any = None) -> Any:
        return {"score": 0.0}, {"env_params": self.next_env_params()}

    def step(self, action: Any) -> Any:
        self.steps += 1
        return {"score": float(self.steps)}, 1.0, False, {"params": dict(action)}


def test_the_context_after_a_step_is_what_the_env_says_comes_next() -> None:
    env = _ScriptedEnvParams()
    adapter = GymnasiumAdapter(env)
    adapter.reset()
    contexts = []
    for _ in range(4):
        obs, *_ = adapter.step(adapter.action_space.sample())
        contexts.append({k: int(v) for k, v in obs["context"].items()})
    loads, rs = ("low", "mid", "high"), (1, 2)
    expected = [env.script[i % 3] for i in range(1, 5)]
    assert contexts == [{"load": loads.index(e["load"]), "r": rs.index(e["r"])} for e in expected]
    assert env.asked == 1 + 4  # once per reset and once per step


def test_flat_observation_puts_env_params_in_one_hot_blocks() -> None:
    adapter = GymnasiumAdapter(_env(_categorical_space(), _env_params()), flatten=True)
    space = adapter.observation_space
    assert isinstance(space, spaces.Box) and space.shape == (2 + 3 + 2,)
    obs, info = adapter.reset(seed=0)
    load = ("low", "mid", "high").index(info["env_params"]["load"])
    r = (1, 2).index(info["env_params"]["r"])
    assert obs[2:5].tolist() == [1.0 if i == load else 0.0 for i in range(3)]
    assert obs[5:].tolist() == [1.0 if i == r else 0.0 for i in range(2)]


def test_step_returns_python_bools_and_a_float_reward() -> None:
    adapter = GymnasiumAdapter(_env())
    adapter.reset()
    _, reward, terminated, truncated, info = adapter.step(adapter.action_space.sample())
    assert type(reward) is float and reward == 5.0
    assert terminated is False and truncated is False
    assert info["status"] == "ok" and info["feedback"].reward == 5.0


def test_a_closed_env_refuses_reset_and_step_before_running_anything() -> None:
    """``step()`` after ``close()`` ran the trial, then failed recording it (a raw SQLite
    error), and ``reset()`` after it worked: Gymnasium's error, and no trial run."""
    from gymnasium.error import ClosedEnvironmentError

    calls: list[dict[str, Any]] = []

    def objective(params: dict[str, Any]) -> dict[str, float]:
        calls.append(params)
        return {"score": 1.0, "other": 1.0}

    adapter = GymnasiumAdapter(FunctionEnv(_space(), objective, ["score", "other"]))
    adapter.reset()
    adapter.step(adapter.action_space.sample())
    adapter.close()
    with pytest.raises(ClosedEnvironmentError, match=r"^step\(\) after close\(\)"):
        adapter.step(adapter.action_space.sample())
    with pytest.raises(ClosedEnvironmentError, match=r"^reset\(\) after close\(\)"):
        adapter.reset()
    assert len(calls) == 1
    adapter.close()  # closing again is fine


# -- encode / decode -------------------------------------------------------------------
def test_decode_rounds_and_clamps_continuous_values() -> None:
    adapter = GymnasiumAdapter(_env())
    decoded = adapter.decode_action({"mode": 0, "x": np.array([9.0]), "n": np.array([-4.0])})
    assert decoded == {"only": 7, "mode": "a", "x": 2.5, "n": 1}
    assert adapter.decode_action({"mode": 2, "x": -1, "n": 4.5})["n"] == 4  # half to even


def test_encode_gives_the_gymnasium_action() -> None:
    adapter = GymnasiumAdapter(_env())
    encoded = adapter.encode_action({"mode": "c", "only": 7, "x": 0.5, "n": 4})
    assert encoded.keys() == {"mode", "x", "n"}
    assert encoded["mode"] == 2 and isinstance(encoded["mode"], np.integer)
    assert encoded["x"].dtype == np.float32 and encoded["x"].tolist() == [0.5]
    assert encoded in adapter.action_space


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ({"mode": 0, "x": 0.1}, r"action: missing key\(s\) \['n'\]"),
        ({"mode": 0, "x": 0.1, "n": 2, "zzz": 1}, r"unknown key\(s\) \['zzz'\]"),
        ({"mode": 3, "x": 0.1, "n": 2}, r"action\['mode'\]: index 3 is out of range for 3"),
        ({"mode": -1, "x": 0.1, "n": 2}, r"action\['mode'\]: index -1 is out of range"),
        ({"mode": 1.5, "x": 0.1, "n": 2}, r"action\['mode'\]: expected one integer index"),
        ({"mode": 0, "x": np.array([np.nan]), "n": 2}, r"action\['x'\]: nan is not a finite"),
        ({"mode": 0, "x": np.array([0.1, 0.2]), "n": 2}, r"action\['x'\]: expected one number"),
        ({"mode": 0, "x": "big", "n": 2}, r"action\['x'\]: expected one number"),
        ([0, 1, 2], r"action: expected a dict over"),
    ],
)
def test_decode_errors_name_the_key(action: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GymnasiumAdapter(_env()).decode_action(action)


@pytest.mark.parametrize(
    ("flatten", "action", "message"),
    [
        (True, np.array([0]), r"expected shape \(2,\), one entry per dimension \['a', 'b'\]"),
        (True, np.array([0, 2]), r"action\['b'\]: index 2 is out of range for 2 candidates"),
        (True, np.array([3, 0]), r"action\['a'\]: index 3 is out of range"),
        ("discrete", 6, r"action: index 6 is out of range for 6 actions"),
        ("discrete", np.array([1, 2]), r"action: expected one integer index"),
    ],
)
def test_flat_decode_errors_name_the_key(flatten: Any, action: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GymnasiumAdapter(_env(_categorical_space()), flatten=flatten).decode_action(action)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mode": "a", "only": 7, "x": 0.1}, r"params: missing key\(s\) \['n'\]"),
        ({"mode": "a", "x": 0.1, "n": 2}, r"params: missing key\(s\) \['only'\]"),
        ({"mode": "a", "only": 7, "x": 0.1, "n": 2, "q": 0}, r"unknown key\(s\) \['q'\]"),
        ({"mode": "z", "only": 7, "x": 0.1, "n": 2}, r"mode: 'z' is not one of the candidates"),
        ({"mode": "a", "only": 8, "x": 0.1, "n": 2}, r"only: 8 is not one of the candidates"),
        ({"mode": "a", "only": 7, "x": 3.0, "n": 2}, r"x: 3.0 is outside \[0, 2.5\]"),
        ({"mode": "a", "only": 7, "x": 0.1, "n": 2.5}, r"n: expected an integer"),
    ],
)
def test_encode_errors_name_the_key(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        GymnasiumAdapter(_env()).encode_action(params)


# A random search space, its flatten mode, and a params dict in it whose floats are exact
# in float32 (the gymnasium side of the boundary).
_SCALARS = st.one_of(
    st.integers(-1000, 1000),
    st.booleans(),
    st.text(min_size=1, max_size=4),
    st.floats(-1e6, 1e6, width=32),
)


@st.composite
def _dimension(draw: st.DrawFn, name: str) -> Categorical | Continuous:
    kind = draw(st.sampled_from(["categorical", "float", "int", "log"]))
    if kind == "categorical":
        values = draw(st.lists(_SCALARS, min_size=1, max_size=5, unique_by=_candidate_key))
        return Categorical(name, tuple(values))
    if kind == "int":
        low = draw(st.integers(-50, 50))
        return Continuous(name, low, low + draw(st.integers(1, 60)), "int")
    low = draw(st.floats(0.125, 10, width=32) if kind == "log" else st.floats(-100, 100, width=32))
    high = float(np.float32(low + draw(st.floats(0.5, 100, width=32))))
    return Continuous(name, float(low), high, "float", log=kind == "log")


@st.composite
def _space_and_params(draw: st.DrawFn) -> tuple[SearchSpace, Any, dict[str, Any]]:
    count = draw(st.integers(1, 4))
    dims = {f"d{i}": draw(_dimension(f"d{i}")) for i in range(count)}
    exposed = [d for d in dims.values() if not (isinstance(d, Categorical) and d.size == 1)]
    if not exposed:
        dims["extra"] = Categorical("extra", (0, 1))
        exposed = [dims["extra"]]
    modes: list[Any] = [False]
    if all(d.size is not None for d in exposed):  # lists and int ranges
        modes.append("discrete")
    kinds = {type(d) for d in exposed}
    if len(kinds) == 1:  # all categorical or all continuous
        modes.append(True)
    flatten = draw(st.sampled_from(modes))
    params: dict[str, Any] = {}
    for name, dim in dims.items():
        if isinstance(dim, Categorical):
            params[name] = draw(st.sampled_from(dim.values))
        elif dim.dtype == "int":
            params[name] = draw(st.integers(int(dim.low), int(dim.high)))
        else:
            params[name] = float(draw(st.floats(dim.low, dim.high, width=32)))
    return SearchSpace(dims), flatten, params


def _identical(a: Any, b: Any) -> bool:
    return a.keys() == b.keys() and all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_space_and_params(), st.integers(0, 2**31 - 1))
def test_encode_and_decode_are_exact_inverses(case: Any, seed: int) -> None:
    space, flatten, params = case
    adapter = GymnasiumAdapter(_env(space), flatten=flatten)
    encoded = adapter.encode_action(params)
    assert encoded in adapter.action_space
    assert _identical(adapter.decode_action(encoded), params)
    assert data_equivalence(adapter.encode_action(adapter.decode_action(encoded)), encoded, True)
    # Any action the space can sample decodes into the search space, and decoding is
    # idempotent through encode (rounding and clamping happen once).
    adapter.action_space.seed(seed)
    sampled = adapter.action_space.sample()
    decoded = adapter.decode_action(sampled)
    assert space.contains(decoded)
    assert _identical(adapter.decode_action(adapter.encode_action(decoded)), decoded)


# -- step_raw --------------------------------------------------------------------------
def test_step_raw_takes_the_dimensions_plus_the_fixed_values() -> None:
    adapter = GymnasiumAdapter(_env())
    adapter.reset()
    *_, info = adapter.step_raw({"mode": "b", "only": 7, "x": 1.0, "n": 2, "size": 64})
    assert info["params"] == {"size": 64, "mode": "b", "only": 7, "x": 1.0, "n": 2}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"mode": "b", "only": 7, "x": 1.0, "n": 2}, r"params: missing key\(s\) \['size'\]"),
        (
            {"mode": "b", "only": 7, "x": 1.0, "n": 2, "size": 32},
            r"params\['size'\]: size is fixed to 64, got 32",
        ),
        (
            {"mode": "b", "only": 7, "x": 1.0, "n": 2, "size": 64, "load": "low"},
            r"unknown key\(s\) \['load'\].*env params are sampled",
        ),
        ({"mode": "q", "only": 7, "x": 1.0, "n": 2, "size": 64}, r"mode: 'q' is not one of"),
    ],
)
def test_step_raw_errors_name_the_key(params: dict[str, Any], message: str) -> None:
    adapter = GymnasiumAdapter(_env(env_params=_env_params()))
    adapter.reset()
    with pytest.raises(ValueError, match=message):
        adapter.step_raw(params)
    assert adapter.env.step_count == 0  # a refused step uses no trial number


# -- env checkers and the trial counter, on envs built from files ---------------------
@pytest.fixture
def workloads(
    live_workload: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    write_toml: Callable[[str, dict[str, Any]], Path],
) -> dict[str, Path]:
    offline = objective_workload(
        params={"x": [1, 2, 3, 4], "y": ["a", "b", "c"], "z": [5, 6]},
        env_params={"z": {}},
    )
    return {
        "offline": write_toml("offline.toml", offline),
        "live": live_workload(
            params={"mode": ["a", "b"], "x": 0.5, "load": [1, 2, 3]},
            env_params={"load": {}},
            server_args={"episode_length": 4},
        ),
    }


@pytest.mark.parametrize("kind", ["offline", "live"])
def test_gymnasium_env_checker_passes(
    kind: str, workloads: dict[str, Path], tmp_path: Path
) -> None:
    adapter = GymnasiumAdapter(tunegym.make_env(workloads[kind], output=tmp_path / "runs"))
    assert adapter.spec is not None and adapter.spec.nondeterministic is True
    check_env(adapter)  # includes spec.make() + double close: env.remake() builds a fresh one
    adapter.close()


@pytest.mark.parametrize("kind", ["offline", "live"])
def test_stable_baselines3_env_checker_passes_flattened(
    kind: str, workloads: dict[str, Path], tmp_path: Path
) -> None:
    env = tunegym.make_env(workloads[kind], output=tmp_path / "runs")
    adapter = GymnasiumAdapter(env, flatten=True)
    sb3_check_env(adapter, warn=True)
    check_env(adapter)
    adapter.close()


def test_env_checker_passes_on_an_env_built_in_python() -> None:
    # check_env's close check builds a second env with spec.make(): a FunctionEnv could
    # not be rebuilt, so check_env failed unless told skip_close_check=True.
    env = _env(env_params=_env_params())
    adapter = GymnasiumAdapter(env, flatten_observation=True)
    check_env(adapter)
    again = adapter.spec.make()  # type: ignore[union-attr]
    inner = again.unwrapped  # gymnasium's wrappers around a new adapter
    assert isinstance(inner, GymnasiumAdapter) and inner.env is not env
    assert inner.flatten_observation is True and inner.env.objective is env.objective
    again.reset(seed=0)
    assert again.step(again.action_space.sample())[-1]["step"] == 1  # its own trials
    assert env.step_count > 1  # check_env's steps were the first env's


def test_an_env_that_cannot_be_rebuilt_says_how_to_get_one_that_can() -> None:
    class Unmakeable(BaseGym):
        action_space = _space()
        observation_space = ["score"]

        def reset(self, seed: Any = None, options: Any = None) -> Any:
            return {"score": 0.0}, {"step": 0}

        def step(self, action: Any) -> Any:
            return {"score": 1.0}, 1.0, True, {"step": 1}

    adapter = GymnasiumAdapter(Unmakeable())
    with pytest.raises(gymnasium.error.Error, match=r"built in Python.*tunegym.make_env"):
        adapter.spec.make()  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["offline", "live"])
def test_steps_are_monotonic_across_resets_through_the_adapter(
    kind: str, workloads: dict[str, Path], tmp_path: Path
) -> None:
    env = tunegym.make_env(workloads[kind], output=tmp_path / "runs", seed=5)
    adapter = GymnasiumAdapter(env, flatten=True)
    steps, announced, used = [], [], []
    for _ in range(5):
        _, info = adapter.reset(seed=11)
        announced.append(info["env_params"])
        *_, info = adapter.step(adapter.action_space.sample())
        steps.append(info["step"])
        used.append(info["env_params"])
    assert steps == [1, 2, 3, 4, 5]
    assert announced == used  # reset tells the env params of the step that follows
    folder = env.store.folder
    adapter.close()
    trajectory = list(csv.DictReader((folder / "trajectory.csv").open()))
    env_rows = list(csv.DictReader((folder / "env.csv").open()))
    assert [r["step"] for r in trajectory] == [r["step"] for r in env_rows] == list("12345")


def test_register_makes_a_nondeterministic_gymnasium_id(
    workloads: dict[str, Path], tmp_path: Path
) -> None:
    env_id = f"tunegym-test/live{id(tmp_path)}-v0"
    register(env_id, workloads["live"], output=tmp_path / "runs", seed=2, flatten=True)
    assert gymnasium.spec(env_id).nondeterministic is True
    env = gymnasium.make(env_id)
    try:
        assert isinstance(env.unwrapped, GymnasiumAdapter)
        assert env.action_space == spaces.MultiDiscrete([2])  # mode; x is pinned, load sampled
        env.reset(seed=0)
        *_, info = env.step(env.action_space.sample())
        assert info["step"] == 1
        run_dirs = list((tmp_path / "runs").iterdir())
        assert len(run_dirs) == 1 and (run_dirs[0] / "trials.sqlite").is_file()
    finally:
        env.close()
        gymnasium.registry.pop(env_id, None)
    assert (run_dirs[0] / "summary.json").is_file()  # close() finished the run folder


class _NoReward(FunctionEnv):
    """A dry-run-like env: trials have no reward (NaN), e.g. ``tunegym run --dry-run``."""

    def step(self, action: Any) -> tuple[dict[str, float], float, bool, dict[str, Any]]:
        observation, _, done, info = super().step(action)
        return observation, math.nan, done, info


def test_a_trial_without_a_reward_reads_as_zero() -> None:
    space = SearchSpace({"a": Categorical("a", (1, 2))})
    adapter = GymnasiumAdapter(_NoReward(space, lambda p: 1.0))
    adapter.reset()
    _, reward, *_ = adapter.step({"a": 0})
    assert reward == 0.0
    assert re.fullmatch(r"tunegym/_NoReward-v0", adapter.spec.id)  # type: ignore[union-attr]


def test_a_conditional_param_keeps_its_component_and_is_dropped_when_inactive() -> None:
    from tunegym.expr import compile_expr

    space = SearchSpace(
        {
            "codec": Categorical("codec", ("zstd", "lz4")),
            "threads": Categorical("threads", (1, 2, 4)),
        },
        conditions={"threads": compile_expr("codec == 'zstd'")},
    )
    adapter = GymnasiumAdapter(_env(space))
    assert set(adapter.action_space.spaces) == {"codec", "threads"}
    adapter.reset(seed=0)
    seen = [adapter.step({"codec": 1, "threads": t})[-1]["params"] for t in (0, 2)]
    assert seen == [{"codec": "lz4"}, {"codec": "lz4"}]  # threads is inactive for lz4
    assert adapter.step({"codec": 0, "threads": 2})[-1]["params"] == {"codec": "zstd", "threads": 4}
    # one Discrete over the distinct actions only: zstd x 3 threads, and lz4
    flat = GymnasiumAdapter(_env(space), flatten="discrete")
    assert flat.action_space == spaces.Discrete(4)
    flat.reset(seed=0)
    params = [flat.step(i)[-1]["params"] for i in range(4)]
    assert sorted(map(str, params)) == sorted(map(str, space.grid()))


@pytest.mark.parametrize("flatten", [False, True])
def test_int_ranges_past_float32s_exact_integers_round_trip_exactly(flatten: bool) -> None:
    # In float32, 16777217 was 16777216 and 1073741823 was 1073741824: encode and decode
    # were not inverses, and a step ran a value nobody chose.
    space = SearchSpace(
        {"bytes": Continuous("bytes", 1, 2**30 - 1, "int", log=True), "x": Continuous("x", 0, 1)}
    )
    adapter = GymnasiumAdapter(_env(space), flatten=flatten)
    for value in (2**24 + 1, 123_456_789, 2**30 - 1):
        params = {"bytes": value, "x": 0.5}
        encoded = adapter.encode_action(params)
        assert adapter.action_space.contains(encoded)
        assert adapter.decode_action(encoded) == params
    adapter.reset(seed=0)
    *_, info = adapter.step(adapter.encode_action({"bytes": 2**24 + 1, "x": 0.25}))
    assert info["params"]["bytes"] == 2**24 + 1
    narrow = GymnasiumAdapter(_env(), flatten=False).action_space
    assert isinstance(narrow, spaces.Dict) and narrow["n"].dtype == np.float32  # as before


def _codec_space() -> SearchSpace:
    from tunegym.expr import compile_expr

    return SearchSpace(
        {
            "codec": Categorical("codec", ("none", "lz4", "zstd")),
            "threads": Categorical("threads", (1, 2, 4)),
            "lvl": Continuous("lvl", 1, 3, "int"),
        },
        conditions={
            "threads": compile_expr("codec == 'zstd'"),
            "lvl": compile_expr("codec != 'none'"),
        },
    )


@pytest.mark.parametrize("flatten", [False, "discrete"])
def test_a_conditional_spaces_own_actions_encode_and_step_raw(flatten: Any) -> None:
    # The env's actions hold the active dimensions only ({'codec': 'none'}); encode_action
    # and step_raw demanded every dimension and refused 4 of these 13 actions.
    space = _codec_space()
    adapter = GymnasiumAdapter(_env(space), flatten=flatten)
    for action in space.grid():
        encoded = adapter.encode_action(action)
        assert adapter.action_space.contains(encoded)
        assert space.canonicalize(adapter.decode_action(encoded)) == action
    adapter.reset(seed=0)
    assert adapter.step_raw({"codec": "none"})[-1]["params"] == {"codec": "none"}
    assert adapter.step_raw({"codec": "lz4", "lvl": 2})[-1]["params"] == {"codec": "lz4", "lvl": 2}
    with pytest.raises(ValueError, match=r"missing \['lvl'\] \(active\)"):
        adapter.step_raw({"codec": "lz4"})
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['level'\]; expected only"):
        adapter.encode_action({"codec": "lz4", "level": 2})
