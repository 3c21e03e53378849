"""``AsyncRLConfig``: every knob of the trainer loop, checked once, plain data everywhere."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from tunegym.dataplane.config import parse_config
from tunegym.dataplane.errors import DataPlaneConfigError
from tunegym.errors import UsageError
from tunegym.limits import MAX_SEED, MAX_TIMEOUT_S, check_whole

Mode = Literal["async", "sync"]
Workers = Literal["auto", "thread", "ray"]

_SIZES = {
    "hidden": 4096,
    "max_operand": 10_000,
    "dataset_size": 1_000_000,
    "max_tokens": 64,
    "eval_samples": 1_000_000,
}
"""The sizes of the task and the model, each a whole number from 1 to this (larger ones
would only exhaust memory)."""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _checked_plane(plane: object) -> dict[str, Any]:
    """``plane`` as a dict, once ``tunegym.dataplane.connect`` would take it."""
    if not isinstance(plane, Mapping):
        raise UsageError(
            f"plane must be a data-plane config mapping such as {{'backend': 'memory'}}, "
            f"got {plane!r}"
        )
    try:
        parse_config(plane)
    except DataPlaneConfigError as exc:
        raise UsageError(f"plane: {exc}") from None
    return dict(plane)


@dataclass(frozen=True)
class AsyncRLConfig:
    """What :class:`~tunegym.rl.trainer.AsyncGRPOTrainer` runs.

    * ``mode``: ``"async"`` lets collectors generate up to ``max_staleness`` versions
      ahead of the trainer; ``"sync"`` is the same loop with ``max_staleness = 0``
      (collectors wait for each update).
    * ``updates``: policy updates to make; each consumes ``prompts_per_update`` groups of
      ``group_size`` samples (``batch_size`` samples), split across ``num_collectors``.
    * ``dp_size``: data-parallel gradient ranks the kept samples are sharded across.
    * ``token_latency_s``: a collector sleeps this long per decoding step (one step
      decodes the whole batch, as an LLM engine does), so generation is the slow side as
      in LLM RL; ``train_latency_s``: a rank sleeps this long per sample it computes
      gradients for (an LLM's backward pass). Both 0 in tests.
    * ``workers``: collectors and ranks as ``"thread"``\\ s of this process (needed by the
      ``memory`` backend) or ``"ray"`` actors; ``"auto"`` picks threads for ``memory``.
    * ``plane``: the ``tunegym.dataplane.connect`` config (``{"backend": "memory"}``).
    """

    mode: Mode = "async"
    max_staleness: int = 1
    updates: int = 60
    num_collectors: int = 2
    dp_size: int = 2
    prompts_per_update: int = 16
    group_size: int = 8
    lr: float = 5e-3
    clip: float = 0.2
    hidden: int = 64
    seed: int = 0
    max_operand: int = 5
    dataset_size: int = 64
    max_tokens: int = 3
    token_latency_s: float = 0.0
    train_latency_s: float = 0.0
    checkpoint_every: int = 0
    eval_samples: int = 512
    claim_poll_s: float = 0.25
    workers: Workers = "auto"
    plane: dict[str, Any] = field(default_factory=lambda: {"backend": "memory"})

    def __post_init__(self) -> None:
        if self.mode not in ("async", "sync"):
            raise UsageError(f"mode must be 'async' or 'sync', got {self.mode!r}")
        if self.workers not in ("auto", "thread", "ray"):
            raise UsageError(f"workers must be 'auto', 'thread' or 'ray', got {self.workers!r}")
        for name in ("updates", "num_collectors", "dp_size", "prompts_per_update", "group_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        for name in ("max_staleness", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise UsageError(f"{name} must be an integer >= 0, got {value!r}")
        for name, high in _SIZES.items():
            check_whole(name, getattr(self, name), 1, high)
        self._check_answer_fits()
        for name in ("token_latency_s", "train_latency_s"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 <= value <= MAX_TIMEOUT_S:  # NaN fails, inf too
                raise UsageError(
                    f"{name} must be from 0 to {MAX_TIMEOUT_S:g} seconds, got {value!r}"
                )
        if not _is_number(self.claim_poll_s) or not 0 < self.claim_poll_s <= MAX_TIMEOUT_S:
            raise UsageError(f"claim_poll_s must be seconds above 0, got {self.claim_poll_s!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise UsageError(f"seed must be an integer >= 0, got {self.seed!r}")
        if self.seed > MAX_SEED:
            raise UsageError(f"seed must be at most {MAX_SEED}, got {self.seed}")
        for name in ("lr", "clip"):
            value = getattr(self, name)
            if not _is_number(value) or not 0 < value < 1:
                raise UsageError(f"{name} must be a number in (0, 1), got {value!r}")
        if self.group_size < 2:
            raise UsageError("group_size must be >= 2 (advantages are normalised per group)")
        if self.mode == "sync" and self.max_staleness:
            object.__setattr__(self, "max_staleness", 0)
        object.__setattr__(self, "plane", _checked_plane(self.plane))
        if self.workers == "ray" and self.backend == "memory":
            raise UsageError(
                "workers='ray' cannot use the memory data plane (it lives in one process): "
                "use workers='thread' or 'auto', or a plane other processes reach such as "
                "{'backend': 'ray'}"
            )

    def _check_answer_fits(self) -> None:
        longest = len(str(2 * self.max_operand))
        if self.max_tokens <= longest:
            raise UsageError(
                f"max_tokens must be at least {longest + 1} for max_operand {self.max_operand} "
                f"(answers up to {2 * self.max_operand} and the end token), got {self.max_tokens}"
            )

    @property
    def batch_size(self) -> int:
        """Samples per update."""
        return self.prompts_per_update * self.group_size

    @property
    def backend(self) -> str:
        return str(self.plane.get("backend", "memory"))

    @property
    def use_ray(self) -> bool:
        """Whether collectors and ranks run as Ray actors."""
        if self.workers == "auto":
            return self.backend != "memory"
        return self.workers == "ray"  # 'ray' with the memory plane is refused when built

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AsyncRLConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UsageError(f"unknown AsyncRLConfig key(s): {', '.join(unknown)}")
        return cls(**data)

    def replace(self, **changes: Any) -> AsyncRLConfig:
        return dataclasses.replace(self, **changes)
