"""The search space of a workload: categorical and continuous dimensions plus fixed values.

An *action* holds one value per dimension (never the fixed values and never env params);
``params(action, env_params)`` builds the full parameter dict a trial runs with. The
canonical form of an action (each value mapped onto the declared candidate or the
dimension's dtype) is what the cache key and the trial store see, so ``1`` and ``1.0``
of an int dimension are the same trial.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from tunegym.errors import UsageError
from tunegym.expr import ExprError, SafeExpr, compile_expr
from tunegym.spec.models import (
    ContinuousParam,
    Scalar,
    WorkloadSpec,
    candidates_problem,
    range_problem,
)
from tunegym.values import Action

Source = Literal["params", "env"]
# A finite conditional space up to this many raw combinations is enumerated (size, grid).
_ENUMERATE_LIMIT = 1_000_000


@dataclass(frozen=True)
class Categorical:
    """A list of candidate values; the agent picks one."""

    name: str
    values: tuple[Scalar, ...]
    source: Source = "params"

    def __post_init__(self) -> None:
        """Refuse what a param's list in a workload file may not be (:class:`UsageError`
        naming the dimension); a list is kept as a tuple."""
        values = self.values
        if isinstance(values, str | bytes) or not isinstance(values, tuple | list):
            raise UsageError(
                f"{self.name}: candidate values must be a tuple of values, got {values!r}"
            )
        if not values:
            raise UsageError(f"{self.name}: give at least one candidate value")
        for value in values:
            if not isinstance(value, str | int | float) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise UsageError(
                    f"{self.name}: a candidate is a string, number or bool, got {value!r}"
                )
        problem = candidates_problem(values)
        if problem is not None:
            raise UsageError(f"{self.name}: {problem}")
        object.__setattr__(self, "values", tuple(values))

    @property
    def size(self) -> int:
        return len(self.values)

    def canonical(self, value: object) -> Scalar:
        for candidate in self.values:  # fast path: the candidate object itself (hot path)
            if candidate is value:
                return candidate
        for candidate in self.values:
            if _same_value(candidate, value):
                return candidate
        raise ValueError(f"{self.name}: {value!r} is not one of the candidates {list(self.values)}")

    def index(self, value: object) -> int:
        """Position of the candidate ``value`` maps to (``True`` and ``1`` stay apart)."""
        candidate = self.canonical(value)
        return next(i for i, c in enumerate(self.values) if c is candidate)

    def sample(self, rng: np.random.Generator) -> Scalar:
        return self.values[int(rng.integers(len(self.values)))]


@dataclass(frozen=True)
class Continuous:
    """A range ``[low, high]`` of floats or ints, optionally on a log scale."""

    name: str
    low: float
    high: float
    dtype: Literal["float", "int"] = "float"
    log: bool = False
    source: Source = "params"

    def __post_init__(self) -> None:
        """Refuse the ranges a workload file may not declare (:class:`UsageError` naming
        the dimension): the same rules as a param's ``{low, high, dtype, log}`` table."""
        for field_name in ("low", "high"):
            bound = getattr(self, field_name)
            if isinstance(bound, bool) or not isinstance(bound, int | float | np.number):
                raise UsageError(f"{self.name}: {field_name} must be a number, got {bound!r}")
        if self.dtype not in ("float", "int"):
            raise UsageError(f'{self.name}: dtype must be "float" or "int", got {self.dtype!r}')
        problem = range_problem(float(self.low), float(self.high), self.dtype, bool(self.log))
        if problem is not None:
            raise UsageError(f"{self.name}: {problem}")

    @property
    def size(self) -> int | None:
        return int(self.high - self.low) + 1 if self.dtype == "int" else None

    @property
    def values(self) -> tuple[int, ...]:
        """Every value of an int range (for grids); float ranges have none."""
        if self.dtype != "int":
            raise ValueError(f"{self.name}: a float range has no finite list of values")
        return tuple(range(int(self.low), int(self.high) + 1))

    def canonical(self, value: object) -> int | float:
        if isinstance(value, bool) or not isinstance(value, int | float | np.number):
            raise ValueError(
                f"{self.name}: expected a number in [{self.low:g}, {self.high:g}], got {value!r}"
            )
        number = float(value)
        if not math.isfinite(number) or not (self.low <= number <= self.high):
            raise ValueError(f"{self.name}: {value!r} is outside [{self.low:g}, {self.high:g}]")
        if self.dtype == "int":
            if not number.is_integer():
                raise ValueError(f"{self.name}: expected an integer, got {value!r}")
            return int(number)
        return number

    def sample(self, rng: np.random.Generator) -> int | float:
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        elif self.dtype == "int":
            return int(rng.integers(int(self.low), int(self.high) + 1))
        else:
            value = float(rng.uniform(self.low, self.high))
        if self.dtype == "int":
            return int(min(max(round(value), self.low), self.high))
        return min(max(value, self.low), self.high)


Dimension = Categorical | Continuous


def _same_value(candidate: object, value: object) -> bool:
    """Equality that keeps bools apart from numbers and strings apart from everything."""
    if isinstance(candidate, bool) or isinstance(value, bool):
        return isinstance(candidate, bool) and isinstance(value, bool) and candidate == value
    if isinstance(candidate, str) or isinstance(value, str):
        return isinstance(candidate, str) and isinstance(value, str) and candidate == value
    if isinstance(value, int | float | np.number):
        return float(candidate) == float(value)  # type: ignore[arg-type]
    return False


class SearchSpace:
    """Dimensions the agent chooses, and the fixed values injected into every trial.

    ``conditions`` make dimensions conditional (``[when]``): a dimension with a condition
    is *active* only when its expression, over the fixed values and the dimensions before
    it, holds (an expression that reads an inactive dimension is false). The canonical
    action holds the active dimensions only, so an inactive one is absent from the
    command, the env and the cache key; finite conditional spaces count and enumerate
    their distinct actions.
    """

    def __init__(
        self,
        dimensions: Mapping[str, Dimension],
        fixed: Mapping[str, Scalar] | None = None,
        conditions: Mapping[str, SafeExpr] | None = None,
    ) -> None:
        self.dimensions: dict[str, Dimension] = dict(dimensions)
        self.fixed: dict[str, Scalar] = dict(fixed or {})
        self.conditions: dict[str, SafeExpr] = dict(conditions or {})
        for key, dim in self.dimensions.items():
            if not isinstance(dim, Categorical | Continuous):
                raise UsageError(
                    f"{key}: a dimension is a Categorical or a Continuous, got {dim!r}"
                )
            if dim.name != key:
                raise UsageError(f"{key}: the dimension under this key is named {dim.name!r}")
        overlap = set(self.dimensions) & set(self.fixed)
        if overlap:
            raise ValueError(f"names both fixed and searched: {sorted(overlap)}")
        unknown = set(self.conditions) - set(self.dimensions) - set(self.fixed)
        if unknown:
            raise ValueError(f"conditions on names that are not params: {sorted(unknown)}")
        self._dim_conditions = bool(set(self.conditions) & set(self.dimensions))
        self._radices = [d.size for d in self.dimensions.values()]
        self._actions: list[Action] | None = None
        self._index: dict[str, int] | None = None

    @property
    def is_conditional(self) -> bool:
        """Whether some dimension is conditional (``[when]``)."""
        return self._dim_conditions

    def inactive(self, action: Mapping[str, Any]) -> set[str]:
        """Params left out of a trial with ``action``: inactive dimensions and fixed
        values whose condition is false."""
        if not self.conditions:
            return set()
        out = {name for name in self.dimensions if name not in action}
        out.update(n for n in self.fixed if n in self.conditions and not self.is_active(n, action))
        return out

    def is_active(self, name: str, values: Mapping[str, Any]) -> bool:
        """Whether dimension ``name`` is active given ``values`` (fixed values and the
        dimensions before it; names missing from them are inactive)."""
        condition = self.conditions.get(name)
        if condition is None:
            return True
        try:
            return bool(condition.evaluate({**self.fixed, **values}))
        except ExprError:
            return False

    def _enumerate(self) -> list[Action]:
        """The distinct canonical actions of a finite conditional space, in grid order."""
        if self._actions is None:
            seen: dict[str, int] = {}
            actions: list[Action] = []
            total = math.prod(self._radices)  # type: ignore[arg-type]
            for index in range(total):
                action = self.canonicalize(self._full_action_at(index))
                key = cache_key(action, {})
                if key not in seen:
                    seen[key] = len(actions)
                    actions.append(action)
            self._actions, self._index = actions, seen
        return self._actions

    @classmethod
    def from_workload(cls, workload: WorkloadSpec) -> SearchSpace:
        """Dimensions from ``[params]`` and ``[env]``; env params are left out (sampled)."""
        dims: dict[str, Dimension] = {}
        fixed: dict[str, Scalar] = {}
        tables: tuple[tuple[Source, dict[str, Any]], ...] = (
            ("params", workload.params),
            ("env", workload.env),
        )
        for source, table in tables:
            for name, value in table.items():
                if name in workload.env_params:
                    continue
                if isinstance(value, ContinuousParam):
                    dims[name] = Continuous(
                        name, value.low, value.high, value.dtype, value.log, source
                    )
                elif isinstance(value, list):
                    dims[name] = Categorical(name, tuple(value), source)
                else:
                    fixed[name] = value
        conditions = {name: compile_expr(source) for name, source in workload.when.items()}
        known = set(dims) | set(fixed)
        return cls(dims, fixed, {n: c for n, c in conditions.items() if n in known})

    # -- shape ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        return list(self.dimensions)

    @property
    def is_empty(self) -> bool:
        return not self.dimensions

    @property
    def is_categorical(self) -> bool:
        return all(isinstance(d, Categorical) for d in self.dimensions.values())

    @property
    def size(self) -> int | None:
        """Number of distinct actions, or ``None`` when a float range makes it infinite."""
        if any(r is None for r in self._radices):
            return None
        if self._dim_conditions:
            if math.prod(self._radices) > _ENUMERATE_LIMIT:  # type: ignore[arg-type]
                return None  # too many to enumerate: treated like an infinite space
            return len(self._enumerate())
        return math.prod(self._radices)  # type: ignore[arg-type]

    # -- actions -------------------------------------------------------------------------
    def grid(self) -> Iterator[Action]:
        """Every action in order (the last dimension varies fastest)."""
        size = self.size
        if size is None:
            floats = [n for n, d in self.dimensions.items() if d.size is None]
            raise ValueError(
                f"a grid needs finite dimensions; {', '.join(floats)} is a float range"
            )
        for index in range(size):
            yield self.action_at(index)

    def action_at(self, index: int) -> Action:
        """The ``index``-th action of :meth:`grid` (mixed-radix decoding)."""
        size = self.size
        if size is None or not 0 <= index < size:
            raise IndexError(f"action index {index} is outside the space of {size} actions")
        if self._dim_conditions:
            return dict(self._enumerate()[index])
        return self._full_action_at(index)

    def _full_action_at(self, index: int) -> Action:
        action: Action = {}
        for (name, dim), radix in zip(
            reversed(self.dimensions.items()), reversed(self._radices), strict=True
        ):
            assert radix is not None
            index, digit = divmod(index, radix)
            # An int range's values are low..high: index them without building the range.
            action[name] = (
                dim.values[digit] if isinstance(dim, Categorical) else int(dim.low) + digit
            )
        return {name: action[name] for name in self.dimensions}

    def index_of(self, action: Mapping[str, Any]) -> int:
        """Inverse of :meth:`action_at` for finite spaces."""
        canonical = self.canonicalize(action)
        if self._dim_conditions:
            if self.size is None:
                raise ValueError("a space with a float range has no index")
            assert self._index is not None
            return self._index[cache_key(canonical, {})]
        index = 0
        for (name, dim), radix in zip(self.dimensions.items(), self._radices, strict=True):
            if radix is None:
                raise ValueError(f"{name}: a float range has no index")
            position = (
                dim.index(canonical[name])
                if isinstance(dim, Categorical)
                else (int(canonical[name]) - int(dim.low))
            )
            index = index * radix + position
        return index

    def sample(self, rng: np.random.Generator) -> Action:
        """A random action (every dimension drawn, so the stream does not depend on which
        are active; inactive ones are then left out)."""
        action = {name: dim.sample(rng) for name, dim in self.dimensions.items()}
        return self._active_only(action) if self._dim_conditions else action

    def _active_only(self, action: Mapping[str, Any]) -> Action:
        out: Action = {}
        for name in self.dimensions:
            if name in action and self.is_active(name, out):
                out[name] = action[name]
        return out

    def canonicalize(self, action: Mapping[str, Any]) -> Action:
        """Map each value onto its candidate or dtype; ``ValueError`` names the bad key.

        In a conditional space, values of inactive dimensions are dropped (an agent may
        propose every dimension) and only active ones are required."""
        if not isinstance(action, Mapping):
            raise ValueError(
                f"an action maps each param to its value (a dict such as "
                f"{ {name: '...' for name in self.names} }), got a {type(action).__name__}"
            )
        if self._dim_conditions:
            return self._canonical_conditional(action)
        missing = [n for n in self.dimensions if n not in action]
        unknown = [k for k in action if k not in self.dimensions]
        if missing or unknown:
            raise _keys_mismatch(
                f"missing {missing}" if missing else "", unknown, f"exactly {self.names}"
            )
        return {name: dim.canonical(action[name]) for name, dim in self.dimensions.items()}

    def _canonical_conditional(self, action: Mapping[str, Any]) -> Action:
        unknown = [k for k in action if k not in self.dimensions]
        out: Action = {}
        missing: list[str] = []
        for name, dim in self.dimensions.items():
            if not self.is_active(name, out):
                continue
            if name not in action:
                missing.append(name)
                continue
            out[name] = dim.canonical(action[name])
        if missing or unknown:
            raise _keys_mismatch(
                f"missing {missing} (active)" if missing else "",
                unknown,
                f"the active ones of {self.names}",
            )
        return out

    def contains(self, action: Mapping[str, Any]) -> bool:
        try:
            self.canonicalize(action)
        except ValueError:
            return False
        return True

    def params(self, action: Mapping[str, Any], env_params: Mapping[str, Any]) -> dict[str, Any]:
        """The full parameters of a trial: fixed values, then the action, then env params
        (a fixed value whose condition is false is left out)."""
        if not self.conditions:
            return {**self.fixed, **action, **env_params}
        fixed = {k: v for k, v in self.fixed.items() if self.is_active(k, action)}
        return {**fixed, **action, **env_params}


def random_index(rng: np.random.Generator, size: int) -> int:
    """A uniform draw from ``range(size)``, for any size: numpy's ``integers`` stops at
    int64 (a space of three int ranges of 10**7 values is 10**21 actions)."""
    if size <= np.iinfo(np.int64).max:
        return int(rng.integers(size))
    bits = (size - 1).bit_length()
    spare = -bits % 8
    while True:  # rejection: uniform over [0, 2**bits), kept below size (more than half)
        value = int.from_bytes(rng.bytes((bits + 7) // 8), "little") >> spare
        if value < size:
            return value


def cache_key(action: Mapping[str, Any], env_params: Mapping[str, Any]) -> str:
    """Canonical JSON of ``(action, env_params)``: sorted keys, canonical values."""
    return json.dumps([action, env_params], sort_keys=True, separators=(",", ":"), default=str)


def _keys_mismatch(missing: str, unknown: list[str], expected: str) -> ValueError:
    """The error of an action whose keys do not match the space (``missing`` is the
    already-worded missing part, or empty)."""
    parts = [missing] if missing else []
    if unknown:
        parts.append(f"unknown {unknown}")
    return ValueError(
        f"action keys do not match the space ({'; '.join(parts)}); expected {expected}"
    )
