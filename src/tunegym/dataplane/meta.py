"""``BatchMeta``: the handle a trainer holds for a batch of rollouts.

A meta names samples (by id, within one partition) and carries their per-sample
tags and sequence lengths, never the bulk data: it is small, cheap to pickle and
safe to pass between processes. The data is read with
:meth:`~tunegym.dataplane.DataPlaneClient.get_data`.

Contract: every method that derives a meta (``subset``, ``slice``, ``concat``,
``drop``, ``with_fields``, ``copy``) returns a new object with fresh lists and
copied tag dicts, so mutating one meta never changes another.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

SampleId: TypeAlias = int | str
"""A sample id: an ``int`` or a ``str``, unique within its partition."""

Tags: TypeAlias = dict[str, Any]


def _copy_tag(tag: Mapping[str, Any] | None) -> Tags | None:
    return None if tag is None else dict(tag)


@dataclass(eq=True)
class BatchMeta:
    """Metadata of a batch of samples in one partition.

    Attributes:
        partition_id: the partition the samples live in.
        task_name: the consumer task that claimed the batch (``""`` for a put's meta).
        sample_ids: the ids, in batch order.
        fields: the field names this meta reads by default (``get_data``).
        tags: one dict per sample (``None`` is kept as "no tags"); a ``ValueError``
            when the count differs from ``sample_ids``.
        sequence_lengths: one non-negative int per sample, or ``None`` when unknown.
        extra_info: batch-level information (copied, never shared, by derivations).
    """

    partition_id: str
    task_name: str = ""
    sample_ids: list[SampleId] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)
    tags: list[Tags | None] | None = None
    sequence_lengths: list[int] | None = None
    extra_info: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sample_ids = list(self.sample_ids)
        self.fields = list(self.fields)
        n = len(self.sample_ids)
        if self.tags is None:
            self.tags = [{} for _ in range(n)]
        else:
            self.tags = [_copy_tag(t) for t in self.tags]
        if len(self.tags) != n:
            raise ValueError(f"BatchMeta has {n} sample ids but {len(self.tags)} tag dicts")
        for i, tag in enumerate(self.tags):
            if tag is not None and not isinstance(tag, dict):
                raise ValueError(
                    f"tags of sample {self.sample_ids[i]!r} must be a dict or None, "
                    f"got {type(tag).__name__}"
                )
        if self.sequence_lengths is not None:
            self.sequence_lengths = [operator.index(x) for x in self.sequence_lengths]
            if len(self.sequence_lengths) != n:
                raise ValueError(
                    f"BatchMeta has {n} sample ids but "
                    f"{len(self.sequence_lengths)} sequence lengths"
                )
            if any(x < 0 for x in self.sequence_lengths):
                raise ValueError("sequence_lengths must be non-negative")
        self.extra_info = dict(self.extra_info)

    # ------------------------------------------------------------------ basics
    @classmethod
    def empty(cls, partition_id: str, task_name: str = "", fields: Iterable[str] = ()) -> BatchMeta:
        """An empty meta of ``partition_id`` (what a claim that found nothing returns)."""
        return cls(partition_id=partition_id, task_name=task_name, fields=list(fields))

    @property
    def size(self) -> int:
        """Number of samples."""
        return len(self.sample_ids)

    def __len__(self) -> int:
        return len(self.sample_ids)

    def copy(self) -> BatchMeta:
        """An equal meta sharing nothing mutable with this one."""
        return self.subset(range(self.size))

    def tags_by_id(self) -> dict[SampleId, Tags | None]:
        """``{sample_id: copy of its tags}`` (the last one wins if an id repeats)."""
        assert self.tags is not None
        return {sid: _copy_tag(t) for sid, t in zip(self.sample_ids, self.tags, strict=True)}

    # ------------------------------------------------------------- derivations
    def subset(self, indices: Iterable[int]) -> BatchMeta:
        """The samples at ``indices`` (positions in this meta, in the order given).

        Raises ``IndexError`` for a position out of range (negative positions count
        from the end, as in Python).
        """
        idx = [operator.index(i) for i in indices]
        n = self.size
        for i in idx:
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for BatchMeta of size {n}")
        assert self.tags is not None
        return BatchMeta(
            partition_id=self.partition_id,
            task_name=self.task_name,
            sample_ids=[self.sample_ids[i] for i in idx],
            fields=list(self.fields),
            tags=[self.tags[i] for i in idx],
            sequence_lengths=(
                None if self.sequence_lengths is None else [self.sequence_lengths[i] for i in idx]
            ),
            extra_info=dict(self.extra_info),
        )

    def slice(self, start: int | None = None, stop: int | None = None) -> BatchMeta:
        """Samples ``[start:stop]`` with Python slice semantics."""
        return self.subset(range(self.size)[start:stop])

    def drop(self, indices: Iterable[int]) -> BatchMeta:
        """Every sample except those at ``indices`` (order kept; ``IndexError`` if out of range)."""
        n = self.size
        gone: set[int] = set()
        for i in indices:
            i = operator.index(i)
            if not -n <= i < n:
                raise IndexError(f"index {i} out of range for BatchMeta of size {n}")
            gone.add(i % n)
        return self.subset(i for i in range(n) if i not in gone)

    def with_fields(self, names: Iterable[str]) -> BatchMeta:
        """The same samples reading ``names`` by default."""
        if isinstance(names, str):
            raise TypeError("with_fields takes a list of field names, not a single string")
        out = self.copy()
        out.fields = list(names)
        return out

    def concat(self, *others: BatchMeta) -> BatchMeta:
        """This meta followed by ``others``.

        All must be of the same partition (``ValueError`` otherwise). The result keeps
        this meta's ``task_name``; its fields are those every input has (in this meta's
        order); sequence lengths survive only when every input has them; ``extra_info``
        is merged, earlier metas winning.
        """
        metas = (self, *others)
        for m in others:
            if not isinstance(m, BatchMeta):
                raise TypeError(f"can only concat BatchMeta, got {type(m).__name__}")
            if m.partition_id != self.partition_id:
                raise ValueError(
                    f"cannot concat metas of partitions {self.partition_id!r} "
                    f"and {m.partition_id!r}"
                )
        common = [f for f in self.fields if all(f in m.fields for m in others)]
        lengths: list[int] | None = []
        for m in metas:
            if m.sequence_lengths is None or lengths is None:
                lengths = None
            else:
                lengths.extend(m.sequence_lengths)
        extra: dict[str, Any] = {}
        for m in reversed(metas):
            extra.update(m.extra_info)
        return BatchMeta(
            partition_id=self.partition_id,
            task_name=self.task_name,
            sample_ids=[sid for m in metas for sid in m.sample_ids],
            fields=common,
            tags=[t for m in metas for t in (m.tags or [])],
            sequence_lengths=lengths,
            extra_info=extra,
        )

    # ----------------------------------------------------------------- helpers
    def total_tokens(self) -> int:
        """Sum of ``sequence_lengths`` (``ValueError`` when they are unknown)."""
        if self.sequence_lengths is None:
            raise ValueError(
                f"BatchMeta of partition {self.partition_id!r} has no sequence_lengths"
            )
        return sum(self.sequence_lengths)


def check_id_list(sample_ids: Any, what: str = "sample_ids") -> None:
    """``TypeError`` naming ``what`` unless ``sample_ids`` is a collection of ids: a single
    str (or bytes) would be taken one character per id, and ``clear_samples("ab", ...)``
    would clear the samples ``'a'`` and ``'b'``."""
    if isinstance(sample_ids, str | bytes | bytearray):
        raise TypeError(f"{what} must be a list of sample ids, not the string {sample_ids!r}")
    if not isinstance(sample_ids, Iterable):
        raise TypeError(
            f"{what} must be a list of sample ids, got {type(sample_ids).__name__} {sample_ids!r}"
        )


def check_sample_ids(sample_ids: Sequence[Any], what: str = "sample_ids") -> list[SampleId]:
    """Normalise ids to ``int | str`` (numpy integers become ``int``); reject others.

    ``TypeError`` naming ``what`` for ids that are not a list of them (a single str or
    bytes would be taken one character per id), and for an id of another type (``bool``
    included); ``ValueError`` for a duplicate.
    """
    check_id_list(sample_ids, what)
    out: list[SampleId] = []
    seen: set[SampleId] = set()
    for sid in sample_ids:
        if isinstance(sid, bool) or not isinstance(sid, int | str):
            try:
                if isinstance(sid, bool):
                    raise TypeError
                sid = operator.index(sid)
            except TypeError:
                raise TypeError(
                    f"sample id {sid!r} must be an int or a str, got {type(sid).__name__}"
                ) from None
        if isinstance(sid, str) and type(sid) is not str:
            sid = str(sid)
        if sid in seen:
            raise ValueError(f"sample id {sid!r} appears twice")
        seen.add(sid)
        out.append(sid)
    return out
