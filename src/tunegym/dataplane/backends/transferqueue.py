"""The ``transferqueue`` backend: the contract mapped onto TransferQueue (extra ``tq``).

How the contract maps (TransferQueue 0.1.x, SimpleStorage backend):

* sample ids are TransferQueue KV keys (``"i:<int>"`` / ``"s:<str>"``); tags are its
  per-sample ``custom_meta`` (plus two reserved ``__tunegym_*`` keys holding the id
  and the sequence length, stripped before you see them);
* a claim is ``get_meta(mode="fetch")``: the controller marks the samples consumed
  for that task, atomically. The controller must run in ``polling_mode`` (this
  adapter starts it so); blocking claims poll every ``poll_interval_s``;
* partition registrations live in a reserved TransferQueue partition
  (``__tunegym_registry__``) so every process sees them;
* rows written by native TransferQueue code with the KV API are claimable too: their
  ids are decoded from their keys.

What is normalised: a field never written raises ``KeyError`` (TransferQueue returns
an empty result); partial claims (TransferQueue has none) are made by counting the
ready samples and asking for that many; an empty partition counts as consumed
(TransferQueue says ``False``); numpy columns come back as numpy arrays (not torch
nested tensors).

What is not (documented limits): claim order is TransferQueue's global-index order,
not put order; the capacity check and the registration check are done by the
client before writing, so two processes putting at once can overshoot a capacity;
a put whose storage write fails after its ids were created leaves those ids with no
fields; ids are cast to ``int``/``str`` keys; arrays of a dtype torch cannot hold
are stored as Python objects (one per row).
"""

from __future__ import annotations

import os
import time
import warnings
from typing import Any

import numpy as np

from tunegym.dataplane.backends.ray import ensure_ray
from tunegym.dataplane.client import Column, DataPlaneClient
from tunegym.dataplane.common import Registration, claim_until, make_meta, stack_rows
from tunegym.dataplane.config import TransferQueueConfig
from tunegym.dataplane.errors import DataPlaneError, DataPlaneFullError
from tunegym.dataplane.meta import BatchMeta, SampleId, Tags

REGISTRY = "__tunegym_registry__"
ID_KEY = "__tunegym_id"
LEN_KEY = "__tunegym_len"
_CONTROLLER = ("TransferQueueController", "transfer_queue")


def encode_id(sid: SampleId) -> str:
    """The TransferQueue key of a sample id."""
    return f"i:{sid}" if isinstance(sid, int) else f"s:{sid}"


def decode_id(key: str | None) -> SampleId:
    """The sample id of a TransferQueue key (the inverse of :func:`encode_id`).

    A key without the ``i:``/``s:`` prefix is taken as a ``str`` id; a sample with no
    key at all (written without the KV API) is a ``DataPlaneError``.
    """
    if key is None:
        raise DataPlaneError("a claimed TransferQueue sample has no KV key, so no sample id")
    kind, sep, raw = key.partition(":")
    if sep and kind == "i":
        try:
            return int(raw)
        except ValueError:
            return key
    return raw if sep and kind == "s" else key


def _tags(custom: dict[str, Any]) -> Tags:
    return {k: v for k, v in custom.items() if k not in (ID_KEY, LEN_KEY)}


def _to_torch(col: Column) -> Any:
    import torch
    from tensordict.tensorclass import NonTensorStack

    if isinstance(col, np.ndarray) and col.dtype.kind in "biufc":
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # read-only arrays are fine here
                return torch.from_numpy(np.ascontiguousarray(col))
        except TypeError:
            pass
    return NonTensorStack(*list(col))


def _to_column(value: Any) -> Column:
    import torch

    if isinstance(value, torch.Tensor):
        if not value.is_nested:
            return value.numpy()
        rows = [r.numpy() for r in value.unbind()]
    else:  # a NonTensorStack: rows put from lists or of a dtype torch cannot hold (or mixed)
        rows = value.tolist() if hasattr(value, "tolist") else list(value)
        rows = [r.numpy() if isinstance(r, torch.Tensor) else r for r in rows]
    stacked = stack_rows(rows)
    return rows if stacked is None else stacked


class TransferQueueDataPlane(DataPlaneClient):
    """A :class:`DataPlaneClient` over a TransferQueue system (see module doc)."""

    backend = "transferqueue"

    def __init__(self, client: Any, cfg: TransferQueueConfig, *, owner: bool) -> None:
        super().__init__()
        self._tq = client
        self._cfg = cfg
        self.owner = owner
        self._registry: dict[str, Registration] = {}

    @classmethod
    def from_config(cls, cfg: TransferQueueConfig) -> TransferQueueDataPlane:
        """Attach to the running TransferQueue, or start it (and own it) when there is none."""
        os.environ.setdefault("TQ_LOGGING_LEVEL", "ERROR")
        ensure_ray(cfg.address, cfg.num_cpus)
        import ray
        import transfer_queue as tq

        controller: Any
        try:
            controller = ray.get_actor(_CONTROLLER[0], namespace=_CONTROLLER[1])
        except ValueError:
            controller = None
        owner = controller is None
        if owner:
            storage: dict[str, Any] = {"num_data_storage_units": cfg.num_storage_units}
            if cfg.total_storage_size is not None:
                storage["total_storage_size"] = cfg.total_storage_size
            tq.init(
                {
                    "controller": {"polling_mode": True},
                    "backend": {"storage_backend": "SimpleStorage", "SimpleStorage": storage},
                }
            )
        else:
            tq.init()
            conf: Any = ray.get(controller.get_config.remote())
            if not conf.controller.polling_mode:
                raise DataPlaneError(
                    "the running TransferQueue controller is not in polling_mode; "
                    "start it with tq.init({'controller': {'polling_mode': True}})"
                )
        return cls(tq.get_client(), cfg, owner=owner)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return TransferQueueDataPlane.from_config, (self._cfg,)

    # ------------------------------------------------------------ registry
    def _registration(self, partition_id: str) -> Registration:
        reg = self._registry.get(partition_id)
        if reg is None:
            reg = self._read_registration(partition_id)
            if reg is None:
                raise KeyError(f"partition {partition_id!r} is not registered")
            self._registry[partition_id] = reg
        return reg

    def _read_registration(self, partition_id: str) -> Registration | None:
        listing = self._tq.kv_list(REGISTRY).get(REGISTRY, {})
        entry = listing.get(partition_id)
        if not entry:
            return None
        return Registration(list(entry["fields"]), list(entry["tasks"]), entry["capacity"])

    def _register(
        self, partition_id: str, fields: list[str], tasks: list[str], capacity: int | None
    ) -> None:
        new = Registration(list(fields), list(tasks), capacity)
        old = self._read_registration(partition_id)
        if old is not None:
            old.check_same(partition_id, new)
        else:
            meta = self._tq.kv_retrieve_meta(
                keys=[partition_id], partition_id=REGISTRY, create=True
            )
            meta.update_custom_meta(
                [{"fields": new.fields, "tasks": new.tasks, "capacity": capacity}]
            )
            self._tq.set_custom_meta(meta)
        self._registry[partition_id] = new

    # ------------------------------------------------------------ contract
    def _put(
        self,
        ids: list[SampleId],
        partition_id: str,
        columns: dict[str, Column],
        tags: list[Tags] | None,
        lengths: list[int] | None,
    ) -> BatchMeta:
        from tensordict import TensorDict

        reg = self._registration(partition_id)
        reg.check_fields(partition_id, columns)
        if not ids:  # checked; nothing to write
            return BatchMeta.empty(partition_id, fields=list(columns))
        keys = [encode_id(sid) for sid in ids]
        if reg.capacity is not None:
            held = self._tq.kv_list(partition_id).get(partition_id, {})
            new = sum(1 for k in keys if k not in held)
            if len(held) + new > reg.capacity:
                raise DataPlaneFullError(
                    f"partition {partition_id!r} holds {len(held)} of {reg.capacity} samples; "
                    f"a put of {new} new samples does not fit"
                )
        data = (
            TensorDict({k: _to_torch(v) for k, v in columns.items()}, batch_size=len(ids))
            if columns
            else None
        )
        meta = self._tq.kv_retrieve_meta(keys=keys, partition_id=partition_id, create=True)
        custom = []
        for i, sid in enumerate(ids):
            row: dict[str, Any] = dict(tags[i]) if tags is not None else {}  # a copy
            row[ID_KEY] = sid
            if lengths is not None:
                row[LEN_KEY] = lengths[i]
            custom.append(row)
        meta.update_custom_meta(custom)
        # Tags first: TransferQueue's put makes the rows claimable before it stores the
        # custom_meta, so a concurrent claim could otherwise see a sample without its tags.
        self._tq.set_custom_meta(meta)
        if data is not None:
            self._tq.put(data=data, metadata=meta)
        return self._meta(partition_id, "", meta.custom_meta, list(columns))

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
        self._registration(partition_id).check_fields(partition_id, fields, "required field")

        def try_once(partial: bool) -> BatchMeta | None:
            if not partial:
                return self._fetch(partition_id, task_name, fields, batch_size)
            for _ in range(8):  # a partial claim can lose a race for the samples it counted
                ready = self._ready_count(partition_id, task_name, fields)
                if ready == 0:
                    return None
                meta = self._fetch(partition_id, task_name, fields, min(ready, batch_size))
                if meta is not None:
                    return meta
            return None

        return claim_until(
            try_once,
            lambda seconds: time.sleep(min(self._cfg.poll_interval_s, seconds)),
            timeout_s if blocking else None,
            allow_partial,
        )

    def _fetch(self, partition_id: str, task: str, fields: list[str], n: int) -> BatchMeta | None:
        m = self._tq.get_meta(
            data_fields=fields,
            batch_size=n,
            partition_id=partition_id,
            mode="fetch",
            task_name=task,
        )
        if m.size == 0:
            return None
        custom = m.custom_meta
        if any(ID_KEY not in c for c in custom):  # put by a client that is not this adapter
            keys = self._tq.kv_retrieve_keys(
                global_indexes=m.global_indexes, partition_id=partition_id
            )
            custom = [{**c, ID_KEY: decode_id(k)} for c, k in zip(custom, keys, strict=True)]
        return self._meta(partition_id, task, custom, fields)

    def _ready_count(self, partition_id: str, task: str, fields: list[str]) -> int:
        p_idx, produced = self._tq.get_production_status(
            data_fields=fields, partition_id=partition_id
        )
        c_idx, consumed = self._tq.get_consumption_status(task_name=task, partition_id=partition_id)
        if produced is None or consumed is None or produced.numel() == 0:
            return 0
        ready = set(p_idx[produced.all(dim=1).bool()].tolist())
        open_ = set(c_idx[consumed == 0].tolist())
        return len(ready & open_)

    def _get(self, ids: list[SampleId], partition_id: str, fields: list[str]) -> dict[str, Column]:
        self._registration(partition_id).check_fields(partition_id, fields, exc=KeyError)
        if not ids:
            return {name: [] for name in fields}
        unique = list(dict.fromkeys(ids))
        if len(unique) < len(ids):  # read each sample once, then repeat rows as asked
            where = {sid: i for i, sid in enumerate(unique)}
            cols = self._get(unique, partition_id, fields)
            pos = [where[sid] for sid in ids]
            return {
                k: v[np.asarray(pos)] if isinstance(v, np.ndarray) else [v[p] for p in pos]
                for k, v in cols.items()
            }
        meta = self._tq.kv_retrieve_meta(
            keys=[encode_id(s) for s in ids], partition_id=partition_id, create=False
        )
        if meta.size != len(ids):  # TransferQueue leaves unknown keys out: name one
            found = set()
            if meta.size:
                keys = self._tq.kv_retrieve_keys(
                    global_indexes=meta.global_indexes, partition_id=partition_id
                )
                found = {decode_id(k) for k in keys}
            missing = next((sid for sid in ids if sid not in found), ids[0])
            raise KeyError(f"sample {missing!r} is not in partition {partition_id!r}")
        for name in fields:
            if name not in meta.field_names:
                raise KeyError(
                    f"field {name!r} was never written for some of the samples "
                    f"in partition {partition_id!r}"
                )
        if not fields:
            return {}
        data = self._tq.get_data(meta.select_fields(fields))
        return {name: _to_column(data[name]) for name in fields}

    def _clear(self, ids: list[SampleId] | None, partition_id: str) -> int:
        self._registration(partition_id)
        if ids is None:
            held = self._tq.kv_list(partition_id).get(partition_id, {})
            if held:
                self._tq.clear_partition(partition_id)
            return len(held)
        ids = list(dict.fromkeys(ids))
        if not ids:
            return 0
        meta = self._tq.kv_retrieve_meta(
            keys=[encode_id(s) for s in ids], partition_id=partition_id, create=False
        )
        if meta.size:
            self._tq.clear_samples(meta)
        return meta.size

    def _consumed(self, partition_id: str, tasks: list[str] | None) -> bool:
        for task in self._registration(partition_id).consumer_tasks(partition_id, tasks):
            _, status = self._tq.get_consumption_status(task_name=task, partition_id=partition_id)
            if status is not None and status.numel() and not bool((status == 1).all()):
                return False
        return True

    def _close(self) -> None:
        self._tq = None
        if self.owner:
            import transfer_queue as tq

            tq.close()

    def _meta(
        self, partition_id: str, task: str, custom: list[dict[str, Any]], fields: list[str]
    ) -> BatchMeta:
        return make_meta(
            partition_id,
            task,
            [c[ID_KEY] for c in custom],
            fields,
            [_tags(c) for c in custom],
            [c.get(LEN_KEY) for c in custom],
        )
