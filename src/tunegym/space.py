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

from tunegym.spec.models import ContinuousParam, Scalar, WorkloadSpec
from tunegym.values import Action

Source = Literal["params", "env"]


@dataclass(frozen=True)
class Categorical:
    """A list of candidate values; the agent picks one."""

    name: str
    values: tuple[Scalar, ...]
    source: Source = "params"

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
    """Dimensions the agent chooses, and the fixed values injected into every trial."""

    def __init__(
        self,
        dimensions: Mapping[str, Dimension],
        fixed: Mapping[str, Scalar] | None = None,
    ) -> None:
        self.dimensions: dict[str, Dimension] = dict(dimensions)
        self.fixed: dict[str, Scalar] = dict(fixed or {})
        overlap = set(self.dimensions) & set(self.fixed)
        if overlap:
            raise ValueError(f"names both fixed and searched: {sorted(overlap)}")
        self._radices = [d.size for d in self.dimensions.values()]

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
        return cls(dims, fixed)

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
        return {name: dim.sample(rng) for name, dim in self.dimensions.items()}

    def canonicalize(self, action: Mapping[str, Any]) -> Action:
        """Map each value onto its candidate or dtype; ``ValueError`` names the bad key."""
        missing = [n for n in self.dimensions if n not in action]
        unknown = [k for k in action if k not in self.dimensions]
        if missing or unknown:
            parts = []
            if missing:
                parts.append(f"missing {missing}")
            if unknown:
                parts.append(f"unknown {unknown}")
            raise ValueError(
                f"action keys do not match the space ({'; '.join(parts)}); "
                f"expected exactly {self.names}"
            )
        return {name: dim.canonical(action[name]) for name, dim in self.dimensions.items()}

    def contains(self, action: Mapping[str, Any]) -> bool:
        try:
            self.canonicalize(action)
        except ValueError:
            return False
        return True

    def params(self, action: Mapping[str, Any], env_params: Mapping[str, Any]) -> dict[str, Any]:
        """The full parameters of a trial: fixed values, then the action, then env params."""
        return {**self.fixed, **action, **env_params}


def cache_key(action: Mapping[str, Any], env_params: Mapping[str, Any]) -> str:
    """Canonical JSON of ``(action, env_params)``: sorted keys, canonical values."""
    return json.dumps([action, env_params], sort_keys=True, separators=(",", ":"), default=str)
