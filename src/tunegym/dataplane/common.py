"""What the store-side of every backend shares: registrations, the claim loop, metas, columns.

:class:`~tunegym.dataplane.store.PlaneStore` (behind ``memory`` and ``ray``) and the
``transferqueue`` adapter keep their state differently but apply the same rules with
the same messages, from here.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunegym.dataplane.client import Column
from tunegym.dataplane.meta import BatchMeta, SampleId, Tags


@dataclass(frozen=True)
class Registration:
    """The settings a partition was registered with, and the checks made against them."""

    fields: list[str]
    tasks: list[str]
    capacity: int | None

    def check_same(self, partition_id: str, new: Registration) -> None:
        """``ValueError`` unless ``new`` is this registration (registering again is a no-op)."""
        if new != self:
            raise ValueError(
                f"partition {partition_id!r} is already registered with fields={self.fields}, "
                f"consumer_tasks={self.tasks}, capacity={self.capacity}"
            )

    def check_fields(
        self,
        partition_id: str,
        names: Iterable[str],
        what: str = "field",
        exc: type[Exception] = ValueError,
    ) -> None:
        """``exc`` naming the first of ``names`` that is not a registered field."""
        for name in names:
            if name not in self.fields:
                raise exc(
                    f"{what} {name!r} is not registered in partition {partition_id!r} "
                    f"(registered: {self.fields})"
                )

    def consumer_tasks(self, partition_id: str, tasks: list[str] | None) -> list[str]:
        """``tasks``, or the registered consumer tasks when ``None`` (``ValueError`` if none)."""
        if tasks is not None:
            return tasks
        if not self.tasks:
            raise ValueError(
                f"partition {partition_id!r} has no registered consumer tasks; pass task_names"
            )
        return self.tasks


def claim_until(
    try_once: Callable[[bool], BatchMeta | None],
    wait: Callable[[float], Any],
    timeout_s: float | None,
    allow_partial: bool,
) -> BatchMeta | None:
    """The claim loop: a full batch, waiting up to ``timeout_s``; then a partial one if allowed.

    ``try_once(partial)`` claims a full batch (or, when ``partial``, 1..batch_size
    samples) or returns ``None``; ``wait(seconds)`` waits at most that long for new
    data. ``timeout_s=None`` does not wait; ``inf`` waits with no deadline (each wait
    is capped at ``threading.TIMEOUT_MAX``, the most a lock or condition accepts).
    A partial batch is only taken once a full one cannot be had (at once, or at the
    deadline).
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    meta = try_once(False)
    while meta is None and deadline is not None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        wait(min(remaining, threading.TIMEOUT_MAX))
        meta = try_once(False)
    if meta is None and allow_partial:
        meta = try_once(True)
    return meta


def make_meta(
    partition_id: str,
    task: str,
    ids: list[SampleId],
    fields: list[str],
    tags: list[Tags],
    lengths: list[int | None],
) -> BatchMeta:
    """The meta of ``ids`` (``BatchMeta`` copies each tag dict); lengths only if all known."""
    return BatchMeta(
        partition_id=partition_id,
        task_name=task,
        sample_ids=ids,
        fields=fields,
        tags=tags,  # type: ignore[arg-type]
        sequence_lengths=None if any(x is None for x in lengths) else lengths,  # type: ignore[arg-type]
    )


def stack_rows(rows: list[Any]) -> Column | None:
    """The rows stacked into one array when each is an array of one shape and dtype, else None.

    Numpy scalars count as 0-d arrays.
    """
    if not rows or not all(isinstance(r, np.ndarray | np.generic) for r in rows):
        return None
    first = rows[0]
    if all(r.shape == first.shape and r.dtype == first.dtype for r in rows):
        return np.stack(rows)
    return None
