"""The local runner's resource pool: GPUs and CPUs shared out among trials in flight.

A workload's ``[local]`` table declares the pool (``gpus = [0, 1, 2, 3]``,
``gpus_per_trial``, ``cpus``, ``cpus_per_trial``). With ``--parallel N`` each trial takes
its share before it starts, waits while not enough is free, and gives it back when it
ends, so trials running at once never share a device. The lowest free ids are handed out
first, so a run is reproducible. Nothing here talks to a GPU: the ids are handed to the
trial as ``CUDA_VISIBLE_DEVICES`` (no GPU is needed to test the hand-out), and the CPU set
becomes the trial's CPU affinity (set by the runner) and ``TUNEGYM_CPUS``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tunegym.spec.models import LocalSpec

GPU_VARIABLE = "CUDA_VISIBLE_DEVICES"
CPU_VARIABLE = "TUNEGYM_CPUS"


def available_cpus() -> frozenset[int]:
    """The CPUs this process may run on (its affinity), or ``range(os.cpu_count())``."""
    try:
        return frozenset(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return frozenset(range(os.cpu_count() or 1))


class PoolCancelled(RuntimeError):
    """:meth:`LocalResources.acquire` after :meth:`LocalResources.cancel`."""


@dataclass
class Lease:
    """One trial's share of the pool; :meth:`release` gives it back (idempotent)."""

    gpus: tuple[str, ...]
    cpus: frozenset[int] | None
    pool: LocalResources = field(repr=False)
    released: bool = False

    @property
    def env(self) -> dict[str, str]:
        """The trial's environment entries for this share."""
        env: dict[str, str] = {}
        if self.gpus:
            env[GPU_VARIABLE] = ",".join(self.gpus)
        if self.cpus:
            env[CPU_VARIABLE] = ",".join(str(c) for c in sorted(self.cpus))
        return env

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.pool._give_back(self)


class LocalResources:
    """A pool of GPU ids and CPU ids handed out ``gpus_per_trial`` / ``cpus_per_trial`` at
    a time. Thread-safe: :meth:`acquire` blocks until a share is free."""

    def __init__(
        self,
        gpus: Sequence[int | str] = (),
        gpus_per_trial: int = 1,
        cpus: Sequence[int] | None = None,
        cpus_per_trial: int | None = None,
    ) -> None:
        self.gpus = [str(g) for g in gpus]
        self.gpus_per_trial = gpus_per_trial if self.gpus else 0
        usable = available_cpus()
        self.cpus = sorted(usable if cpus is None else cpus) if cpus_per_trial else []
        self.cpus_per_trial = cpus_per_trial or 0
        if self.gpus_per_trial > len(self.gpus):
            raise ValueError(
                f"{self.gpus_per_trial} GPUs per trial from a pool of {len(self.gpus)}"
            )
        if self.cpus_per_trial > len(self.cpus):
            raise ValueError(
                f"{self.cpus_per_trial} CPUs per trial from a pool of {len(self.cpus)}"
            )
        foreign = sorted(set(self.cpus) - usable)
        if foreign:
            raise ValueError(f"CPUs {foreign} are not available to this process ({sorted(usable)})")
        self._free_gpus = list(self.gpus)
        self._free_cpus = list(self.cpus)
        self._cond = threading.Condition()
        self._cancelled = False

    @classmethod
    def from_spec(cls, spec: LocalSpec) -> LocalResources | None:
        """The pool a ``[local]`` table declares, or ``None`` when it declares none."""
        if not spec.gpus and not spec.cpus_per_trial:
            return None
        return cls(spec.gpus, spec.gpus_per_trial, spec.cpus, spec.cpus_per_trial)

    @property
    def slots(self) -> int:
        """How many trials can hold a share at the same time."""
        counts = []
        if self.gpus_per_trial:
            counts.append(len(self.gpus) // self.gpus_per_trial)
        if self.cpus_per_trial:
            counts.append(len(self.cpus) // self.cpus_per_trial)
        return min(counts) if counts else 0

    def acquire(self, timeout: float | None = None) -> Lease:
        """A share of the pool (the lowest free ids), waiting up to ``timeout`` seconds
        (``None``: as long as it takes); ``TimeoutError`` when none came free,
        :class:`PoolCancelled` once :meth:`cancel` was called."""
        with self._cond:
            ready = self._cond.wait_for(
                lambda: (
                    self._cancelled
                    or (
                        len(self._free_gpus) >= self.gpus_per_trial
                        and len(self._free_cpus) >= self.cpus_per_trial
                    )
                ),
                timeout,
            )
            if self._cancelled:
                raise PoolCancelled("the resource pool was cancelled")
            if not ready:
                raise TimeoutError("no share of the local resource pool came free")
            gpus = self._take(self._free_gpus, self.gpus_per_trial, self.gpus)
            cpus = self._take(self._free_cpus, self.cpus_per_trial, self.cpus)
        return Lease(tuple(gpus), frozenset(int(c) for c in cpus) or None, self)

    @property
    def free(self) -> tuple[list[str], list[int]]:
        """The GPU and CPU ids free now (for tests and progress)."""
        with self._cond:
            return list(self._free_gpus), [int(c) for c in self._free_cpus]

    @staticmethod
    def _take(free: list[Any], n: int, order: list[Any]) -> list[Any]:
        free.sort(key=order.index)
        taken, free[:] = free[:n], free[n:]
        return taken

    def cancel(self) -> None:
        """Wake every waiting :meth:`acquire` with :class:`PoolCancelled`, and refuse any
        later one (an interrupted run starts no more trials)."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def _give_back(self, lease: Lease) -> None:
        with self._cond:
            self._free_gpus.extend(lease.gpus)
            self._free_cpus.extend(sorted(lease.cpus or ()))
            self._cond.notify_all()
