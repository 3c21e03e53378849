"""``DataPlaneClient``: the one contract every backend implements.

Producers ``put_samples`` rows tagged with the policy weight version that made them;
the trainer ``claim_meta``\\ s a batch (atomically, once per task), filters and
shards the meta, reads columns with ``get_data`` and ``clear_samples`` what it no
longer needs. The public methods here check their arguments, so every backend
raises the same errors for the same mistakes; backends implement the ``_``-methods.

Semantics shared by every backend (the contract suite in ``tests/dataplane`` runs
each of them against all backends):

* A partition must be registered before it is used (``KeyError`` naming it
  otherwise). Registering again with the same settings is a no-op; with different
  settings a ``ValueError``.
* ``put_samples`` with an id already in the partition adds or overwrites the given
  fields of that sample and merges the given tags into its tags (``dict.update``).
  Putting an id that was cleared makes a new sample.
* ``claim_meta`` is atomic: an id claimed by a task is never returned to that task
  again (each task has its own cursor); only samples whose every required field is
  written are claimable. ``blocking=False`` never waits and returns an empty meta
  when it cannot return a batch; ``blocking=True`` waits up to ``timeout_s`` (``inf``:
  no deadline) for a full batch and then raises :class:`ClaimTimeoutError` (nothing
  claimed); a NaN or negative ``timeout_s`` is a ``ValueError``, a non-number a
  ``TypeError``. With
  ``allow_partial=True`` a claim that cannot fill the batch (at once when not
  blocking, at the deadline when blocking) returns whatever 1..batch_size samples
  are ready instead.
* ``clear_samples`` forgets samples (data, tags, claims); unknown ids are ignored.
* ``check_consumption_status`` is ``True`` iff no sample now in the partition is
  still unclaimed by any of the tasks; so it is ``True`` for an empty or fully
  cleared partition, and ``False`` for a task that never claimed while samples exist.
"""

from __future__ import annotations

import math
import numbers
import operator
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar, TypeAlias

import numpy as np

from tunegym.dataplane.errors import ClaimTimeoutError, DataPlaneClosedError
from tunegym.dataplane.meta import BatchMeta, SampleId, Tags, check_id_list, check_sample_ids

Column: TypeAlias = np.ndarray | list[Any]
"""One field of a batch: a numpy array (one row per sample) or a list (one item per sample)."""

RESERVED_TAG_PREFIX = "__tunegym"


class DataPlaneClient(ABC):
    """Abstract data-plane client; build one with :func:`tunegym.dataplane.connect`."""

    backend: ClassVar[str] = ""

    def __init__(self) -> None:
        self._closed = False

    # ---------------------------------------------------------------- lifecycle
    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Release this client. Idempotent; any later call raises ``DataPlaneClosedError``.

        A client that created its store (the memory store, the Ray actor, the
        TransferQueue system) also shuts the store down; a client that attached to an
        existing one only detaches.
        """
        if self._closed:
            return
        self._closed = True
        self._close()

    def __enter__(self) -> DataPlaneClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise DataPlaneClosedError(f"{self.backend} data-plane client is closed")

    # ----------------------------------------------------------------- contract
    def register_partition(
        self,
        partition_id: str,
        fields: Sequence[str],
        consumer_tasks: Sequence[str] = (),
        capacity: int | None = None,
    ) -> None:
        """Declare a partition: its field names, its consumer tasks and an optional capacity.

        ``capacity`` bounds the number of samples held at once (cleared ones free room).
        """
        self._check_open()
        partition_id = _check_name(partition_id, "partition_id")
        names = _check_names(fields, "fields")
        if not names:
            raise ValueError(f"partition {partition_id!r} needs at least one field")
        tasks = _check_names(consumer_tasks, "consumer_tasks")
        if capacity is not None:
            capacity = check_int(capacity, "capacity", 1)
        self._register(partition_id, names, tasks, capacity)

    def put_samples(
        self,
        sample_ids: Sequence[SampleId],
        partition_id: str,
        fields: Mapping[str, Column],
        tags: Sequence[Tags | None] | None = None,
        *,
        sequence_lengths: Sequence[int] | None = None,
    ) -> BatchMeta:
        """Write one row per sample of each field; return the meta of what was written.

        ``fields`` maps a registered field name to a numpy array (first axis = samples)
        or a list. ``tags`` is one dict per sample (``None`` entries mean no tags).
        Over capacity: ``DataPlaneFullError`` and nothing of this put is written.
        """
        self._check_open()
        partition_id = _check_name(partition_id, "partition_id")
        ids = check_sample_ids(sample_ids)
        columns = check_columns(fields, len(ids))
        tag_list = check_tags(tags, ids)
        lengths = check_lengths(sequence_lengths, len(ids))
        meta = self._put(ids, partition_id, columns, tag_list, lengths)
        if not ids:  # the put checked the partition and the fields, and wrote nothing
            return BatchMeta.empty(partition_id, fields=list(columns))
        return meta

    def claim_meta(
        self,
        partition_id: str,
        task_name: str,
        required_fields: Sequence[str],
        batch_size: int,
        blocking: bool = True,
        timeout_s: float = 60.0,
        allow_partial: bool = False,
    ) -> BatchMeta:
        """Atomically claim up to ``batch_size`` samples for ``task_name`` (see module doc)."""
        self._check_open()
        partition_id = _check_name(partition_id, "partition_id")
        task_name = _check_name(task_name, "task_name")
        names = _check_names(required_fields, "required_fields")
        if not names:
            raise ValueError("claim_meta needs at least one required field")
        batch_size = check_int(batch_size, "batch_size", 1)
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, numbers.Real):
            raise TypeError(
                f"timeout_s must be a number of seconds (inf: no deadline), got {timeout_s!r}"
            )
        timeout_s = float(timeout_s)
        if math.isnan(timeout_s) or timeout_s < 0:
            raise ValueError(f"timeout_s must be >= 0 (inf: no deadline), got {timeout_s}")
        meta = self._claim(
            partition_id,
            task_name,
            names,
            batch_size,
            bool(blocking),
            timeout_s,
            bool(allow_partial),
        )
        if meta is not None and meta.size:
            return meta
        if blocking:
            raise ClaimTimeoutError(
                f"no batch of {batch_size} samples with fields {names} for task {task_name!r} "
                f"in partition {partition_id!r} within {timeout_s:g}s"
            )
        return BatchMeta.empty(partition_id, task_name, names)

    def get_samples(
        self,
        sample_ids: Sequence[SampleId],
        partition_id: str,
        select_fields: Sequence[str],
    ) -> dict[str, Column]:
        """Read ``select_fields`` of the samples, rows in ``sample_ids`` order.

        A field comes back as a numpy array when every row is an array of one shape
        and dtype, else as a list. An unknown or cleared id, or a field never written
        for one of the samples, raises ``KeyError`` naming it.
        """
        self._check_open()
        partition_id = _check_name(partition_id, "partition_id")
        if select_fields is None:
            raise TypeError("get_samples needs select_fields (a list of field names)")
        names = _check_names(select_fields, "select_fields")
        check_id_list(sample_ids, "sample_ids")
        ids = [_check_id(sid) for sid in sample_ids]
        return self._get(ids, partition_id, names)

    def get_data(
        self, meta: BatchMeta, select_fields: Sequence[str] | None = None
    ) -> dict[str, Column]:
        """Read the samples of ``meta``: ``select_fields``, or ``meta.fields`` when ``None``."""
        if not isinstance(meta, BatchMeta):
            raise TypeError(f"get_data takes a BatchMeta, got {type(meta).__name__}")
        names = meta.fields if select_fields is None else select_fields
        return self.get_samples(meta.sample_ids, meta.partition_id, names)

    def clear_samples(self, sample_ids: Sequence[SampleId] | None, partition_id: str) -> int:
        """Forget samples (``None``: all of the partition); return how many were removed.

        ``sample_ids`` is a list of ids (a single str is a ``TypeError``, not its
        characters)."""
        self._check_open()
        partition_id = _check_name(partition_id, "partition_id")
        if sample_ids is None:
            return self._clear(None, partition_id)
        check_id_list(sample_ids, "sample_ids")
        return self._clear([_check_id(sid) for sid in sample_ids], partition_id)

    def check_consumption_status(
        self, partition_id: str, task_names: Sequence[str] | None = None
    ) -> bool:
        """``True`` iff every task (default: the registered consumers) claimed every sample.

        Vacuously ``True`` for an empty or fully cleared partition (see module doc).
        """
        self._check_open()
        partition_id = _check_name(partition_id, "partition_id")
        tasks = None if task_names is None else _check_names(task_names, "task_names")
        if tasks is not None and not tasks:
            raise ValueError("task_names is empty")
        return self._consumed(partition_id, tasks)

    # --------------------------------------------------------- backend hooks
    @abstractmethod
    def _register(
        self, partition_id: str, fields: list[str], tasks: list[str], capacity: int | None
    ) -> None: ...

    @abstractmethod
    def _put(
        self,
        ids: list[SampleId],
        partition_id: str,
        columns: dict[str, Column],
        tags: list[Tags] | None,
        lengths: list[int] | None,
    ) -> BatchMeta: ...

    @abstractmethod
    def _claim(
        self,
        partition_id: str,
        task_name: str,
        fields: list[str],
        batch_size: int,
        blocking: bool,
        timeout_s: float,
        allow_partial: bool,
    ) -> BatchMeta | None:
        """Return the claimed meta, or ``None``/empty when nothing may be returned."""

    @abstractmethod
    def _get(
        self, ids: list[SampleId], partition_id: str, fields: list[str]
    ) -> dict[str, Column]: ...

    @abstractmethod
    def _clear(self, ids: list[SampleId] | None, partition_id: str) -> int: ...

    @abstractmethod
    def _consumed(self, partition_id: str, tasks: list[str] | None) -> bool: ...

    @abstractmethod
    def _close(self) -> None: ...


# ------------------------------------------------------------------ validation
def _check_name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} must be a non-empty str, got {value!r}")
    return value


def _check_names(values: Iterable[str], what: str) -> list[str]:
    if isinstance(values, str):
        raise TypeError(f"{what} must be a list of names, not the string {values!r}")
    out = [_check_name(v, f"an entry of {what}") for v in values]
    if len(set(out)) != len(out):
        raise ValueError(f"{what} has a duplicate name: {out}")
    return out


def _check_id(sid: Any) -> SampleId:
    return check_sample_ids([sid])[0]


def check_int(
    value: Any, what: str, minimum: int | None = None, exc: type[Exception] = TypeError
) -> int:
    """``value`` as an ``int``: any integer but a bool (numpy integers too), ``>= minimum``.

    Not an integer (a bool, a float, ``None``, ...): ``exc`` naming ``what``; below
    ``minimum``: ``ValueError``.
    """
    if isinstance(value, bool | np.bool_):
        raise exc(f"{what} must be an int, got {value!r}")
    try:
        value = operator.index(value)
    except TypeError:
        raise exc(f"{what} must be an int, got {type(value).__name__} {value!r}") from None
    if minimum is not None and value < minimum:
        raise ValueError(f"{what} must be >= {minimum}, got {value}")
    return value


def check_columns(fields: Mapping[str, Column], n: int) -> dict[str, Column]:
    """Check each field has one row per sample; lists are shallow-copied, arrays kept as-is."""
    if not isinstance(fields, Mapping):
        raise TypeError(f"fields must be a mapping of name to column, got {type(fields).__name__}")
    out: dict[str, Column] = {}
    for name, col in fields.items():
        _check_name(name, "a field name")
        if isinstance(col, np.ndarray):
            if col.ndim == 0:
                raise ValueError(f"field {name!r} is a 0-d array; it needs one row per sample")
        elif isinstance(col, list | tuple):
            col = list(col)
        else:
            raise TypeError(
                f"field {name!r} must be a numpy array or a list, got {type(col).__name__}"
            )
        if len(col) != n:
            raise ValueError(f"field {name!r} has {len(col)} rows for {n} sample ids")
        out[name] = col
    return out


def check_tags(
    tags: Sequence[Mapping[str, Any] | None] | None, ids: list[SampleId]
) -> list[Tags] | None:
    """Check the tags (``None`` entries become ``{}``); ``ValueError`` when misaligned.

    The caller's dicts are not copied here: every backend copies the tags into its
    store and never keeps the dicts it is given (other mappings become dicts).
    """
    if tags is None:
        return None
    if isinstance(tags, Mapping | str):
        raise TypeError("tags must be a list with one dict per sample")
    tags = list(tags)
    if len(tags) != len(ids):
        raise ValueError(f"{len(tags)} tag dicts for {len(ids)} sample ids")
    out: list[Tags] = []
    for sid, tag in zip(ids, tags, strict=True):
        if tag is None:
            tag = {}
        if not isinstance(tag, Mapping):
            raise ValueError(f"tags of sample {sid!r} must be a dict, got {type(tag).__name__}")
        for key in tag:
            if not isinstance(key, str):
                raise ValueError(f"tag key {key!r} of sample {sid!r} must be a str")
            if key.startswith(RESERVED_TAG_PREFIX):
                raise ValueError(f"tag key {key!r} of sample {sid!r} is reserved")
        if WEIGHT_VERSION_TAG in tag:  # checked here, not when a trainer's filter reads it
            check_int(
                tag[WEIGHT_VERSION_TAG],
                f"tag {WEIGHT_VERSION_TAG!r} of sample {sid!r}",
                0,
                exc=ValueError,
            )
        out.append(tag if type(tag) is dict else dict(tag))
    return out


WEIGHT_VERSION_TAG = "weight_version"
"""The tag a sample's policy weight version goes in (an int >= 0, checked at put: a bad
one found by the trainer's staleness filter, after the claim, strands its whole batch)."""


def check_lengths(lengths: Sequence[int] | None, n: int) -> list[int] | None:
    """Check ``sequence_lengths``: one non-negative int per sample, or ``None``."""
    if lengths is None:
        return None
    out = [check_int(x, "a sequence length", 0) for x in lengths]
    if len(out) != n:
        raise ValueError(f"{len(out)} sequence lengths for {n} sample ids")
    return out
