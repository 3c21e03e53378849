"""``GymnasiumAdapter``: any tunegym env as a real ``gymnasium.Env``.

tunegym envs speak named dicts (``{param: value}`` actions, ``{metric: value}``
observations); RL libraries speak gymnasium spaces. The adapter is the only place the
two meet, and it translates without owning anything: the trial counter, env params,
logging and rewards stay with the wrapped env (``reset()`` + ``step()`` five times gives
steps 1..5, and every step is a row of ``trajectory.csv``).

Spaces:

* actions: ``Dict`` of ``Discrete(n)`` per categorical dimension with more than one value
  and ``Box(low, high, (1,), float32)`` per continuous one (``float64`` for an int range
  past 2**24, which float32 cannot hold exactly). Single-value dimensions are
  injected on every step and never exposed. ``flatten=True`` gives one ``MultiDiscrete``
  (all categorical) or one ``Box`` (all continuous); ``flatten="discrete"`` one
  ``Discrete`` over every combination of lists and int ranges, in
  :meth:`SearchSpace.grid` order (for DQN). A mixed space cannot be flattened otherwise.
  A conditional param (``[when]``) keeps its component; when the action makes it
  inactive, the env drops it (not in the command, the cache key or ``info["params"]``),
  and ``flatten="discrete"`` counts the distinct actions only.
* observations: a float32 ``Box`` over the env's metrics (``agent.metrics``), or, when the
  env samples env params, ``Dict{"observation": Box, "context": Dict{param: Discrete(n)}}``
  where the context is the env params of the step the next action will run under.
  ``flatten_observation`` (default: ``bool(flatten)``) turns the latter into one ``Box``
  (metrics, then a one-hot block per env param), since Stable-Baselines3 refuses nested
  dicts. Missing metrics (NaN) read as 0.0; values are clipped to the float32 range.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.envs.registration import EnvSpec

from tunegym.env.base import BaseGym
from tunegym.env_params import EnvParams
from tunegym.space import Categorical, Continuous, SearchSpace, _same_value

FLOAT32_MAX = float(np.finfo(np.float32).max)
FLOAT32_EXACT_INT = 2**24
"""Every integer up to this magnitude is a float32; an int range beyond it is a float64 Box."""
Flatten = bool | Literal["discrete"]


class GymnasiumAdapter(gym.Env):
    """Wrap ``env`` (any :class:`~tunegym.env.base.BaseGym`) as a ``gymnasium.Env``.

    Contracts:

    * :meth:`decode_action` and :meth:`encode_action` are exact inverses (continuous
      values on the float32 grid); both raise ``ValueError`` naming the key for missing
      or unknown keys, out-of-range indices and values that are not candidates. Decoding
      clamps continuous values into their range and rounds int ones.
    * :meth:`step_raw` takes a fully formed params dict: exactly the dimensions plus the
      fixed values (env params are sampled, never given). In a conditional space
      (``[when]``), :meth:`encode_action` and :meth:`step_raw` take the active
      dimensions, as the env's own actions have them (inactive ones may be given too).
    * ``reset`` returns ``info["env_params"]`` of the next step; ``step`` returns Python
      ``bool`` flags. Neither touches the trial counter.
    * The env is registered as nondeterministic (``spec.nondeterministic``) unless told
      otherwise: measured results vary between identical trials, and every step is a new
      trial with its own env params.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    render_mode = None

    def __init__(
        self,
        env: BaseGym,
        *,
        flatten: Flatten = False,
        flatten_observation: bool | None = None,
        nondeterministic: bool = True,
    ) -> None:
        if flatten not in (False, True, "discrete"):
            raise ValueError(f"flatten must be False, True or 'discrete', got {flatten!r}")
        self.env = env
        self.space: SearchSpace = env.action_space
        self.flatten = flatten
        self.flatten_observation = (
            bool(flatten) if flatten_observation is None else flatten_observation
        )
        self.metric_names = list(env.observation_space)
        dims = list(self.space.dimensions.values())
        self.exposed: list[Categorical | Continuous] = [d for d in dims if not _single(d)]
        self.injected: dict[str, Any] = {d.name: d.values[0] for d in dims if _single(d)}
        if not self.exposed:
            raise ValueError(
                f"nothing for a policy to choose: every dimension of {self.space.names} "
                "has a single value"
            )
        self._all_categorical = all(isinstance(d, Categorical) for d in self.exposed)
        self.action_space = self._action_space()
        env_params = getattr(env, "env_params", None)
        self.env_params: EnvParams | None = (
            env_params if isinstance(env_params, EnvParams) and env_params else None
        )
        # Env params as categoricals, for the context's indices (Categorical.index).
        self._context_dims = (
            [Categorical(d.name, d.values) for d in self.env_params.dims]
            if self.env_params is not None
            else []
        )
        self.observation_space = self._observation_space()
        self.spec = EnvSpec(
            id=_spec_id(env),
            entry_point=_entry_point(env, flatten, self.flatten_observation, nondeterministic),
            nondeterministic=nondeterministic,
        )
        self._closed = False

    # -- spaces --------------------------------------------------------------------------
    def _action_space(self) -> spaces.Space[Any]:
        if self.flatten == "discrete":
            size = self.space.size  # single-value dimensions have radix 1
            if size is None:
                floats = [d.name for d in self.exposed if d.size is None]
                raise ValueError(
                    "flatten='discrete' needs finite dimensions (lists or int ranges); "
                    f"{', '.join(floats)} is a float range"
                )
            return spaces.Discrete(size)
        categorical = [d for d in self.exposed if isinstance(d, Categorical)]
        continuous = [d for d in self.exposed if isinstance(d, Continuous)]
        if self.flatten and categorical and continuous:
            raise ValueError(
                "flatten needs all-categorical or all-continuous dimensions, but this space "
                f"mixes categorical {', '.join(d.name for d in categorical)} with continuous "
                f"{', '.join(d.name for d in continuous)}; use flatten=False (a Dict space), "
                "flatten='discrete' (lists and int ranges), or make the ranges lists"
            )
        if self.flatten and categorical:
            return spaces.MultiDiscrete(np.array([d.size for d in categorical], dtype=np.int64))
        if self.flatten:
            dtype = _box_dtype(continuous)
            low = np.array([d.low for d in continuous], dtype=dtype)
            high = np.array([d.high for d in continuous], dtype=dtype)
            return spaces.Box(low, high, dtype=dtype)
        return spaces.Dict({d.name: _dim_space(d) for d in self.exposed})

    def _observation_space(self) -> spaces.Space[Any]:
        size = len(self.metric_names)
        metrics = spaces.Box(-FLOAT32_MAX, FLOAT32_MAX, (size,), dtype=np.float32)
        if self.env_params is None:
            return metrics
        if self.flatten_observation:
            ones = sum(len(d.values) for d in self.env_params.dims)
            low = np.concatenate([metrics.low, np.zeros(ones, np.float32)])
            high = np.concatenate([metrics.high, np.ones(ones, np.float32)])
            return spaces.Box(low, high, dtype=np.float32)
        context = spaces.Dict(
            {d.name: spaces.Discrete(len(d.values)) for d in self.env_params.dims}
        )
        return spaces.Dict({"observation": metrics, "context": context})

    # -- actions -------------------------------------------------------------------------
    def decode_action(self, action: Any) -> dict[str, Any]:
        """The tunegym action (every dimension, single-value ones included) of ``action``."""
        if self.flatten == "discrete":
            index = _index(action, "action")
            try:
                return self.space.action_at(index)  # single-value dimensions included
            except IndexError:
                raise ValueError(
                    f"action: index {index} is out of range for {self.space.size} actions "
                    f"(dimensions {[d.name for d in self.exposed]})"
                ) from None
        out: dict[str, Any] = {}
        if self.flatten:
            values = np.asarray(action)
            if values.shape != (len(self.exposed),):
                names = [d.name for d in self.exposed]
                raise ValueError(
                    f"action: expected shape ({len(names)},), one entry per dimension {names}, "
                    f"got shape {values.shape}"
                )
            if self._all_categorical and values.dtype.kind in "iu":
                for dim, index in zip(self.exposed, values.tolist(), strict=True):
                    if not 0 <= index < dim.size:
                        raise ValueError(_out_of_range(dim, index))  # type: ignore[arg-type]
                    out[dim.name] = dim.values[index]
            else:
                for dim, value in zip(self.exposed, values, strict=True):
                    out[dim.name] = _decode(dim, value)
        else:
            if not isinstance(action, Mapping):
                raise ValueError(
                    f"action: expected a dict over {[d.name for d in self.exposed]}, "
                    f"got {type(action).__name__}"
                )
            _check_keys(action, [d.name for d in self.exposed], "action")
            for dim in self.exposed:
                out[dim.name] = _decode(dim, action[dim.name])
        return {**self.injected, **out} if self.injected else out

    def encode_action(self, params: Mapping[str, Any]) -> Any:
        """The gymnasium action of ``params`` (exactly the dimensions; in a conditional
        space, the active ones, as the env's actions have them): decode's inverse."""
        if self.space.is_conditional:
            _check_keys(params, self.space.names, "params", unknown_only=True)
            params = self._with_inactive(self.space.canonicalize(params))  # names the key
        else:
            _check_keys(params, self.space.names, "params")
        if self.flatten == "discrete":
            return np.int64(self.space.index_of(params))  # ValueError names the key
        for name in self.injected:
            self.space.dimensions[name].canonical(params[name])  # names the key when wrong
        encoded: dict[str, Any] = {}
        for dim in self.exposed:  # ValueError names the key
            if isinstance(dim, Categorical):
                encoded[dim.name] = np.int64(dim.index(params[dim.name]))
            else:
                encoded[dim.name] = dim.canonical(params[dim.name])
        if self.flatten and isinstance(self.action_space, spaces.MultiDiscrete):
            return np.array([encoded[d.name] for d in self.exposed], dtype=np.int64)
        if self.flatten:
            return np.array([encoded[d.name] for d in self.exposed], dtype=self.action_space.dtype)
        boxes = self.action_space
        assert isinstance(boxes, spaces.Dict)
        return {
            name: value
            if isinstance(value, np.integer)
            else np.array([value], dtype=boxes[name].dtype)
            for name, value in encoded.items()
        }

    def _with_inactive(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """``action`` (canonical, active dimensions only) with every inactive dimension set
        to its first candidate or its low end, since a Box or a Discrete must hold a value
        for each: the env drops them again when it steps."""
        filled = dict(action)
        for name, dim in self.space.dimensions.items():
            if name not in filled:
                filled[name] = (
                    dim.values[0] if isinstance(dim, Categorical) else dim.canonical(dim.low)
                )
        return filled

    # -- gymnasium interface -------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Reset the wrapped env (the trial counter is untouched)."""
        self._check_open("reset")
        super().reset(seed=seed)
        named, info = self.env.reset(seed=seed, options=options)
        info = _fresh(info)
        return self._observe(named, info.get("env_params")), info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Decode ``action`` and run one step of the wrapped env."""
        return self._step(self.decode_action(action))

    def step_raw(self, params: Mapping[str, Any]) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step with a fully formed params dict: exactly the dimensions plus fixed values."""
        expected = [*self.space.names, *self.space.fixed]
        hint = " (env params are sampled per step, never given)" if self.env_params else ""
        conditional = self.space.is_conditional  # inactive params may be left out
        _check_keys(params, expected, "params", hint, unknown_only=conditional)
        for name, fixed in self.space.fixed.items():
            if name not in params and conditional:
                continue
            if not _same_value(fixed, params[name]):
                raise ValueError(
                    f"params[{name!r}]: {name} is fixed to {fixed!r}, got {params[name]!r}"
                )
        action = {n: params[n] for n in self.space.names if n in params}
        return self._step(self.space.canonicalize(action))  # names a missing active one

    def _check_open(self, call: str) -> None:
        if self._closed:
            from gymnasium.error import ClosedEnvironmentError

            raise ClosedEnvironmentError(
                f"{call}() after close(): this env's trials store is closed; make a new env"
            )

    def _step(self, action: dict[str, Any]) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        self._check_open("step")
        named, reward, done, info = self.env.step(action)
        info = _fresh(info)
        terminated = bool(info.get("terminated", done))
        truncated = bool(info.get("truncated", False))
        value = float(reward)
        next_params = self.env.next_env_params() if self.env_params is not None else None
        return (
            self._observe(named, next_params),
            value if math.isfinite(value) else 0.0,
            terminated,
            truncated,
            info,
        )

    def _observe(self, named: Mapping[str, float], env_params: Mapping[str, Any] | None) -> Any:
        metrics = np.array(
            [_clean(named.get(name, math.nan)) for name in self.metric_names], dtype=np.float32
        )
        if self.env_params is None:
            return metrics
        if env_params is None:
            raise ValueError("the wrapped env did not report the next step's env params")
        indices = {d.name: d.index(env_params[d.name]) for d in self._context_dims}
        if not self.flatten_observation:
            return {
                "observation": metrics,
                "context": {name: np.int64(i) for name, i in indices.items()},
            }
        parts = [metrics]
        for dim in self._context_dims:
            one_hot = np.zeros(dim.size, dtype=np.float32)
            one_hot[indices[dim.name]] = 1.0
            parts.append(one_hot)
        return np.concatenate(parts)

    def close(self) -> None:
        """Close the wrapped env (once)."""
        if not self._closed:
            self._closed = True
            self.env.close()


# -- helpers -----------------------------------------------------------------------------
def _single(dim: Categorical | Continuous) -> bool:
    return isinstance(dim, Categorical) and dim.size == 1


def _dim_space(dim: Categorical | Continuous) -> spaces.Space[Any]:
    if isinstance(dim, Categorical):
        return spaces.Discrete(dim.size)
    dtype = _box_dtype([dim])
    low = np.array([dim.low], dtype=dtype)
    high = np.array([dim.high], dtype=dtype)
    return spaces.Box(low, high, dtype=dtype)


def _box_dtype(dims: list[Continuous]) -> type[np.floating[Any]]:
    """float32, or float64 when an int range reaches past the integers float32 holds
    exactly (in float32, 16777217 was 16777216: encode and decode were not inverses)."""
    wide = any(d.dtype == "int" and max(abs(d.low), abs(d.high)) > FLOAT32_EXACT_INT for d in dims)
    return np.float64 if wide else np.float32


def _check_keys(
    given: Mapping[str, Any],
    expected: list[str],
    what: str,
    hint: str = "",
    *,
    unknown_only: bool = False,
) -> None:
    """A ``ValueError`` naming the keys of ``given`` missing from ``expected`` (unless
    ``unknown_only``: a conditional space's canonicalize names the active ones missing)
    and those ``expected`` lacks."""
    missing = [] if unknown_only else [k for k in expected if k not in given]
    unknown = [k for k in given if k not in expected]
    if missing or unknown:
        parts = [f"missing key(s) {missing}"] if missing else []
        parts += [f"unknown key(s) {unknown}"] if unknown else []
        exactly = "only" if unknown_only else "exactly"
        raise ValueError(f"{what}: {'; '.join(parts)}; expected {exactly} {expected}{hint}")


def _index(value: Any, label: str) -> int:
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "iu":
        raise ValueError(f"{label}: expected one integer index, got {value!r}")
    return int(array.reshape(()))


def _decode(dim: Categorical | Continuous, value: Any) -> Any:
    label = f"action[{dim.name!r}]"
    if isinstance(dim, Categorical):
        index = _index(value, label)
        if not 0 <= index < dim.size:
            raise ValueError(_out_of_range(dim, index))
        return dim.values[index]
    array = np.asarray(value)
    if array.size != 1 or array.dtype.kind not in "fiu":
        raise ValueError(
            f"{label}: expected one number in [{dim.low:g}, {dim.high:g}], got {value!r}"
        )
    number = float(array.reshape(()))
    if not math.isfinite(number):
        raise ValueError(f"{label}: {number} is not a finite number")
    number = min(max(number, dim.low), dim.high)
    if dim.dtype == "int":
        return int(min(max(round(number), dim.low), dim.high))
    return number


def _out_of_range(dim: Categorical, index: int) -> str:
    return (
        f"action[{dim.name!r}]: index {index} is out of range for {dim.size} candidates "
        f"{list(dim.values)}"
    )


def _clean(value: float) -> float:
    if value != value:  # NaN: a metric this step did not report
        return 0.0
    return min(max(value, -FLOAT32_MAX), FLOAT32_MAX)


def _fresh(info: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``info`` for the caller. tunegym envs build new dicts on every step;
    only what a server hands back (``server_info``) may be its own object, so that is
    the one nested dict copied (this runs on every step)."""
    out = dict(info)
    if isinstance(out.get("server_info"), dict):
        out["server_info"] = dict(out["server_info"])
    return out


def _spec_id(env: BaseGym) -> str:
    job = getattr(env, "job", None)
    name = getattr(job, "name", None) or type(env).__name__
    return f"tunegym/{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}-v0"


def _entry_point(
    env: BaseGym, flatten: Flatten, flatten_observation: bool, nondeterministic: bool
) -> Callable[..., GymnasiumAdapter]:
    """A factory for ``spec.make()``: ``env.remake()`` when the env has it, else one that
    raises a clear error (an env built in Python cannot be rebuilt)."""
    remake = getattr(env, "remake", None)
    if not callable(remake):
        return functools.partial(_cannot_remake, _spec_id(env), type(env).__name__)
    options = {
        "flatten": flatten,
        "flatten_observation": flatten_observation,
        "nondeterministic": nondeterministic,
    }
    return functools.partial(_remade, remake, options)


def _cannot_remake(env_id: str, kind: str, **kwargs: Any) -> GymnasiumAdapter:
    raise gym.error.Error(
        f"{env_id} wraps a {kind} built in Python, which cannot be rebuilt from its spec; "
        "build the env from a file (tunegym.make_env(path) or tunegym.gym.register(id, path)) "
        "to use gymnasium.make or spec.make()"
    )


def _remade(
    remake: Callable[[], BaseGym], options: dict[str, Any], **kwargs: Any
) -> GymnasiumAdapter:
    return GymnasiumAdapter(remake(), **{**options, **kwargs})
