"""``PlaneStore``: the in-process store behind the ``memory`` and ``ray`` backends.

Arguments reach it already checked by :class:`~tunegym.dataplane.client.DataPlaneClient`;
it enforces what needs the stored state (registration, registered fields, capacity,
readiness, per-task cursors). It is thread-safe: one lock guards every method, and
``changed`` (a ``threading.Condition`` on that lock) is notified after each put or
clear so a blocking claim can wait for new data.

No copies: a numpy column is kept by reference and each sample points at its row;
reading rows that sit contiguously in one put's array returns a read-only view of
it. Do not mutate an array after putting it.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tunegym.dataplane.client import Column
from tunegym.dataplane.common import Registration, claim_until, make_meta, stack_rows
from tunegym.dataplane.errors import DataPlaneClosedError, DataPlaneFullError
from tunegym.dataplane.meta import BatchMeta, SampleId, Tags

Cell = tuple[Any, int]  # (the column a row came from, its row index)


@dataclass
class _Sample:
    cells: dict[str, Cell] = field(default_factory=dict)
    tags: Tags = field(default_factory=dict)
    length: int | None = None


@dataclass
class _Partition:
    reg: Registration
    samples: dict[SampleId, _Sample] = field(default_factory=dict)
    # Per task, the ids it has not claimed yet, in put order (a dict as an ordered set).
    pending: dict[str, dict[SampleId, None]] = field(default_factory=dict)

    def pending_for(self, task: str) -> dict[SampleId, None]:
        if task not in self.pending:
            self.pending[task] = dict.fromkeys(self.samples)
        return self.pending[task]


class PlaneStore:
    """Partitions of samples with per-task claim cursors (see module doc)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self._partitions: dict[str, _Partition] = {}
        self.closed = False

    def close(self) -> None:
        """Drop every partition and wake blocked claims (they raise ``DataPlaneClosedError``)."""
        with self.changed:
            self.closed = True
            self._partitions.clear()
            self.changed.notify_all()

    def _partition(self, partition_id: str) -> _Partition:
        # The store's own state: it may be closed under a client that is still open (a
        # shared store, a claim blocked in ``changed.wait`` when ``close`` is called).
        if self.closed:
            raise DataPlaneClosedError("the data-plane store is closed")
        try:
            return self._partitions[partition_id]
        except KeyError:
            raise KeyError(f"partition {partition_id!r} is not registered") from None

    def register(
        self, partition_id: str, fields: list[str], tasks: list[str], capacity: int | None
    ) -> None:
        new = Registration(list(fields), list(tasks), capacity)
        with self._lock:
            old = self._partitions.get(partition_id)
            if old is None:
                self._partitions[partition_id] = _Partition(new)
            else:
                old.reg.check_same(partition_id, new)

    def put(
        self,
        ids: list[SampleId],
        partition_id: str,
        columns: dict[str, Column],
        tags: list[Tags] | None,
        lengths: list[int] | None,
    ) -> BatchMeta:
        with self._lock:
            part = self._partition(partition_id)
            part.reg.check_fields(partition_id, columns)
            new = [sid for sid in ids if sid not in part.samples]
            capacity = part.reg.capacity
            if capacity is not None and len(part.samples) + len(new) > capacity:
                raise DataPlaneFullError(
                    f"partition {partition_id!r} holds {len(part.samples)} of {capacity} "
                    f"samples; a put of {len(new)} new samples does not fit"
                )
            for sid in new:
                part.samples[sid] = _Sample()
                for pending in part.pending.values():
                    pending[sid] = None
            for row, sid in enumerate(ids):
                sample = part.samples[sid]
                for name, col in columns.items():
                    sample.cells[name] = (col, row)
                if tags is not None:
                    sample.tags.update(tags[row])
                if lengths is not None:
                    sample.length = lengths[row]
            meta = self._meta(part, partition_id, "", ids, list(columns))
            self.changed.notify_all()
            return meta

    def try_claim(
        self,
        partition_id: str,
        task: str,
        fields: list[str],
        batch_size: int,
        allow_partial: bool,
    ) -> BatchMeta | None:
        """Claim ``batch_size`` ready samples (1..batch_size if ``allow_partial``) or ``None``."""
        with self._lock:
            part = self._partition(partition_id)
            part.reg.check_fields(partition_id, fields, "required field")
            pending = part.pending_for(task)
            picked: list[SampleId] = []
            for sid in pending:
                cells = part.samples[sid].cells
                if all(name in cells for name in fields):
                    picked.append(sid)
                    if len(picked) == batch_size:
                        break
            if not picked or (len(picked) < batch_size and not allow_partial):
                return None
            for sid in picked:
                del pending[sid]
            return self._meta(part, partition_id, task, picked, fields)

    def claim(
        self,
        partition_id: str,
        task: str,
        fields: list[str],
        batch_size: int,
        blocking: bool,
        timeout_s: float,
        allow_partial: bool,
    ) -> BatchMeta | None:
        """``try_claim``, waiting on ``changed`` up to ``timeout_s`` when ``blocking``.

        A partial batch is only taken once a full one cannot be had (at once, or at the
        deadline when blocking); ``timeout_s=inf`` waits with no deadline.
        """
        with self.changed:
            return claim_until(
                lambda partial: self.try_claim(partition_id, task, fields, batch_size, partial),
                self.changed.wait,
                timeout_s if blocking else None,
                allow_partial,
            )

    def get(self, ids: list[SampleId], partition_id: str, fields: list[str]) -> dict[str, Column]:
        with self._lock:
            part = self._partition(partition_id)
            rows: dict[str, list[Cell]] = {name: [] for name in fields}
            for sid in ids:
                sample = part.samples.get(sid)
                if sample is None:
                    raise KeyError(f"sample {sid!r} is not in partition {partition_id!r}")
                for name in fields:
                    cell = sample.cells.get(name)
                    if cell is None:
                        raise KeyError(
                            f"field {name!r} was never written for sample {sid!r} "
                            f"in partition {partition_id!r}"
                        )
                    rows[name].append(cell)
        return {name: assemble(cells) for name, cells in rows.items()}

    def clear(self, ids: list[SampleId] | None, partition_id: str) -> int:
        with self._lock:
            part = self._partition(partition_id)
            if ids is None:
                n = len(part.samples)
                part.samples.clear()
                part.pending.clear()
            else:
                gone = [sid for sid in dict.fromkeys(ids) if sid in part.samples]
                for sid in gone:
                    del part.samples[sid]
                    for pending in part.pending.values():
                        pending.pop(sid, None)
                n = len(gone)
            self.changed.notify_all()
            return n

    def consumed(self, partition_id: str, tasks: list[str] | None) -> bool:
        with self._lock:
            part = self._partition(partition_id)
            tasks = part.reg.consumer_tasks(partition_id, tasks)
            if not part.samples:
                return True
            return all(task in part.pending and not part.pending[task] for task in tasks)

    def _meta(
        self, part: _Partition, partition_id: str, task: str, ids: list[SampleId], fields: list[str]
    ) -> BatchMeta:
        samples = [part.samples[sid] for sid in ids]
        return make_meta(
            partition_id, task, ids, fields, [s.tags for s in samples], [s.length for s in samples]
        )


def _readonly(arr: np.ndarray) -> np.ndarray:
    view = arr.view()
    view.flags.writeable = False
    return view


def assemble(cells: list[Cell]) -> Column:
    """Rows → one column: a view when contiguous in one array, a stacked array, or a list."""
    if not cells:
        return []
    block0 = cells[0][0]
    if isinstance(block0, np.ndarray) and all(b is block0 for b, _ in cells):
        start = cells[0][1]
        stop = start + len(cells)
        if all(r == start + i for i, (_, r) in enumerate(cells)):
            return _readonly(block0[start:stop])
        return block0[np.fromiter((r for _, r in cells), dtype=np.intp, count=len(cells))]
    values = [b[r] for b, r in cells]  # rows of arrays, of lists, or of both
    stacked = stack_rows(values)
    if stacked is not None:
        return stacked
    return [_readonly(v) if isinstance(v, np.ndarray) else v for v in values]
