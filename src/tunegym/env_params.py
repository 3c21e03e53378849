"""Domain randomization: env params are sampled per trial instead of chosen by the agent.

A draw depends only on ``(seed, param name, trial)``, through a cryptographic hash, so the
same trial of the same run sees the same env params on every machine, in every process,
whatever else the run did (resumes and parallel runs included).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

from tunegym.errors import UsageError
from tunegym.spec.errors import show_value
from tunegym.spec.models import Scalar, WorkloadSpec


@dataclass(frozen=True)
class EnvParamDim:
    """One sampled dimension: candidate values (strings, numbers or booleans) with
    optional weights (finite, non-negative, with a positive sum: they are normalised).

    A :class:`UsageError` (a ``ValueError``) naming the param when any of that fails.
    """

    name: str
    values: tuple[Scalar, ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise UsageError(f"env param name must be a non-empty string, got {self.name!r}")
        if isinstance(self.values, str | bytes) or not isinstance(self.values, Sequence):
            raise UsageError(
                f"env param {self.name!r}: values must be a sequence, got {show_value(self.values)}"
            )
        object.__setattr__(self, "values", tuple(self.values))
        if not self.values:
            raise UsageError(f"env param {self.name!r} has no values")
        for value in self.values:
            finite = not isinstance(value, float) or math.isfinite(value)
            if not isinstance(value, str | int | float) or not finite:
                raise UsageError(
                    f"env param {self.name!r}: values must be strings, finite numbers or "
                    f"booleans, got {show_value(value)}"
                )
        if self.weights is not None:
            self._check_weights()

    def _check_weights(self) -> None:
        weights = self.weights
        if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
            raise UsageError(
                f"env param {self.name!r}: weights must be a sequence, got {show_value(weights)}"
            )
        object.__setattr__(self, "weights", tuple(weights))
        if len(weights) != len(self.values):
            raise UsageError(
                f"env param {self.name!r}: {len(weights)} weights for {len(self.values)} values"
            )
        numbers = all(isinstance(w, int | float) and not isinstance(w, bool) for w in weights)
        if not numbers or not all(math.isfinite(w) and w >= 0 for w in weights):
            raise UsageError(
                f"env param {self.name!r}: weights must be finite and non-negative, "
                f"got {show_value(list(weights))}"
            )
        if not sum(weights) > 0:
            raise UsageError(f"env param {self.name!r}: weights sum to 0, so nothing is drawn")

    @cached_property
    def _cumulative(self) -> list[float]:
        return list(itertools.accumulate(self.weights or ()))

    def pick(self, u: float) -> Scalar:
        """The value at quantile ``u`` in [0, 1) of the (weighted) distribution."""
        if self.weights is None:
            return self.values[int(u * len(self.values))]
        cumulative = self._cumulative
        index = bisect.bisect_right(cumulative, u * cumulative[-1])
        return self.values[min(index, len(self.values) - 1)]


def draw_uniform(seed: int, name: str, trial: int) -> float:
    """A uniform number in [0, 1) determined by ``(seed, name, trial)`` alone."""
    digest = hashlib.blake2b(f"{seed}\x1f{name}\x1f{trial}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


class EnvParams:
    """The env params of a workload and their deterministic per-trial draws."""

    def __init__(self, dims: Sequence[EnvParamDim], seed: int = 0) -> None:
        """A :class:`UsageError` when a dim is not an :class:`EnvParamDim`, two share a
        name (the later draw would hide the earlier one), or ``seed`` is not an int."""
        self.dims = tuple(dims)
        seen: set[str] = set()
        for i, dim in enumerate(self.dims):
            if not isinstance(dim, EnvParamDim):
                raise UsageError(f"env params[{i}] must be an EnvParamDim, got {show_value(dim)}")
            if dim.name in seen:
                raise UsageError(f"env params: two dims are named {dim.name!r}")
            seen.add(dim.name)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise UsageError(f"env params seed must be an integer, got {show_value(seed)}")
        self.seed = seed

    @classmethod
    def from_workload(cls, workload: WorkloadSpec, seed: int | None = None) -> EnvParams:
        dims = []
        tables = {**workload.env, **workload.params}
        for name, spec in workload.env_params.items():
            values = tables[name]
            assert isinstance(values, list), "checked by tunegym.spec.checks"
            weights = tuple(spec.weights) if spec.weights is not None else None
            dims.append(EnvParamDim(name, tuple(values), weights))
        return cls(dims, workload.agent.seed if seed is None else seed)

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dims]

    def __bool__(self) -> bool:
        return bool(self.dims)

    def sample(self, trial: int) -> dict[str, Scalar]:
        """The env params of ``trial`` (the step number)."""
        return {d.name: d.pick(draw_uniform(self.seed, d.name, trial)) for d in self.dims}

    @property
    def combinations(self) -> int:
        """How many distinct env-param combinations a trial can draw (1 without env params)."""
        return combinations(self.dims)

    def values_of(self) -> Mapping[str, tuple[Scalar, ...]]:
        return {d.name: d.values for d in self.dims}


def combinations(dims: Sequence[EnvParamDim]) -> int:
    """Distinct combinations of ``dims`` that can be drawn (values of weight 0 never are)."""
    total = 1
    for dim in dims:
        weights = dim.weights or (1.0,) * len(dim.values)
        total *= len({repr(v) for v, w in zip(dim.values, weights, strict=True) if w > 0}) or 1
    return total


def required_draws(min_draws: int, dims: Sequence[EnvParamDim]) -> int:
    """The draws the robust best needs: ``min_draws``, or every env-param combination when
    there are fewer (an action measured in all of them has all the evidence there is)."""
    return max(1, min(min_draws, combinations(dims)))
