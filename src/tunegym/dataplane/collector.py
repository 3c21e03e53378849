"""``RolloutCollector``: a rollout producer, run as a Ray actor.

It holds the policy weight version it generates with (``set_weight_version``) and,
on ``rollout(partition_id, sample_ids)``, calls the user's
``rollout_fn(sample_ids, weight_version)`` and puts the rows it returns with
``weight_version`` stamped into every sample's tags — the tag
:class:`~tunegym.dataplane.filters.StalenessFilter` reads.

``rollout_fn`` returns either a mapping ``{field: column}`` (one row per sample id)
or a :class:`Rollout` carrying fields plus optional per-sample tags and sequence
lengths. A ``weight_version`` tag it sets itself is overwritten by the collector's.

Start it with :func:`start_collector` (or ``ray.remote(RolloutCollector)``); the
class is plain Python, so it also runs in-process (handy in tests and notebooks).
The collector connects to the data plane with ``plane_config`` in its own process,
so use a backend other processes reach (``ray`` or ``transferqueue``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tunegym.dataplane.client import WEIGHT_VERSION_TAG, Column, DataPlaneClient, check_int
from tunegym.dataplane.meta import BatchMeta, SampleId, Tags, check_sample_ids


@dataclass
class Rollout:
    """What a ``rollout_fn`` may return: fields plus optional tags and sequence lengths."""

    fields: Mapping[str, Column]
    tags: Sequence[Tags | None] | None = None
    sequence_lengths: Sequence[int] | None = None


RolloutFn = Callable[[list[SampleId], int], "Mapping[str, Column] | Rollout"]


def _check_version(version: Any) -> int:
    return check_int(version, "weight version", 0)


def _shown(value: Any) -> str:
    """``value``'s type and repr, the repr cut short (a rollout's columns can be big)."""
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 80 else text[:77] + '...'}"


def _checked_rollout(out: Any) -> Rollout:
    """What ``rollout_fn`` returned, as a :class:`Rollout`; a ``TypeError`` naming
    ``rollout_fn`` and what it returned when that is neither a mapping of fields nor a
    ``Rollout`` (``None``: a function that forgot to ``return``), or when its tags are
    not a list."""
    result = out if isinstance(out, Rollout) else Rollout(fields=out)
    if not isinstance(result.fields, Mapping):
        what = "a Rollout whose fields are" if isinstance(out, Rollout) else ""
        raise TypeError(
            f"rollout_fn must return a mapping of field name to column, or a Rollout; it "
            f"returned {what + ' ' if what else ''}{_shown(result.fields)}"
        )
    if isinstance(result.tags, Mapping | str | bytes):
        raise TypeError(
            f"rollout_fn returned tags as {_shown(result.tags)}; they must be a list with "
            "one dict (or None) per sample id"
        )
    return result


class RolloutCollector:
    """Runs ``rollout_fn`` and puts its rows, stamped with the current weight version."""

    def __init__(
        self,
        plane: Mapping[str, Any] | DataPlaneClient,
        rollout_fn: RolloutFn,
        weight_version: int = 0,
    ) -> None:
        if isinstance(plane, DataPlaneClient):
            self._plane = plane
        else:
            from tunegym.dataplane.connect import connect

            self._plane = connect(plane)
        self._rollout_fn = rollout_fn
        self._version = _check_version(weight_version)

    def set_weight_version(self, version: int) -> int:
        """Use ``version`` for the next rollouts; returns it."""
        self._version = _check_version(version)
        return self._version

    def weight_version(self) -> int:
        """The version the next rollout is stamped with."""
        return self._version

    def rollout(self, partition_id: str, sample_ids: Sequence[SampleId]) -> BatchMeta:
        """Generate rows for ``sample_ids`` and put them; returns the put's meta."""
        ids = check_sample_ids(sample_ids)  # before rollout_fn generates anything
        version = self._version
        result = _checked_rollout(self._rollout_fn(ids, version))
        tags = list(result.tags) if result.tags is not None else [None] * len(ids)
        if len(tags) != len(ids):
            raise ValueError(f"rollout_fn returned {len(tags)} tag dicts for {len(ids)} sample ids")
        for sid, tag in zip(ids, tags, strict=True):
            if tag is not None and not isinstance(tag, Mapping):
                raise TypeError(
                    f"rollout_fn returned tags of sample {sid!r} that are not a dict: {_shown(tag)}"
                )
        stamped = [{**(t or {}), WEIGHT_VERSION_TAG: version} for t in tags]
        return self._plane.put_samples(
            ids,
            partition_id,
            dict(result.fields),
            stamped,
            sequence_lengths=result.sequence_lengths,
        )

    def close(self) -> None:
        """Detach from the data plane (idempotent)."""
        self._plane.close()


def start_collector(
    plane_config: Mapping[str, Any],
    rollout_fn: RolloutFn,
    weight_version: int = 0,
    **ray_options: Any,
) -> Any:
    """Start a :class:`RolloutCollector` Ray actor; returns its handle.

    ``ray_options`` go to ``.options()`` (e.g. ``num_cpus``, ``name``); by default the
    actor reserves no CPU.
    """
    import ray

    ray_options.setdefault("num_cpus", 0)
    actor_cls = ray.remote(RolloutCollector)
    return actor_cls.options(**ray_options).remote(dict(plane_config), rollout_fn, weight_version)
