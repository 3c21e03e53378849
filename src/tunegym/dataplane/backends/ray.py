"""The ``ray`` backend: the memory store hosted in a named Ray actor.

Any process of the Ray cluster (a driver, a Ray actor, another node) reaches the
same store with ``connect({"backend": "ray", "name": ...})``. Bulk numpy arrays go
through Ray's object store: put arguments and read results are serialised out of
band, so the actor and the reader see them zero-copy (read-only). The client is
picklable: unpickled in another process it attaches to the same actor (as a
non-owner).

A blocking claim waits in the actor in windows of at most :data:`CLAIM_WINDOW_S`, asked
for again by the client until its deadline. Ray does not tell an actor that a caller
died: a claim of a consumer killed while it waited (``kill -9``, Ctrl-C) went on waiting
in the actor and then took the next batch for nobody, so those samples were lost. Now
such a claim ends with its window, before data that comes later, and at most
:data:`CLAIM_WINDOW_S` of actor concurrency is held per waiting consumer.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from functools import cache
from typing import Any

from tunegym.dataplane.backends.ray_actor import MAX_CONCURRENCY, PlaneActor
from tunegym.dataplane.client import Column, DataPlaneClient
from tunegym.dataplane.config import RayConfig
from tunegym.dataplane.errors import DataPlaneError
from tunegym.dataplane.meta import BatchMeta, SampleId, Tags
from tunegym.ray_local import signal_handlers_kept, start_local_ray

CLAIM_WINDOW_S = 0.5
"""The longest a blocking claim waits in the actor before its client asks again."""


@cache
def _actor_class() -> Any:
    import ray

    remote: Any = ray.remote  # its overloads do not list actor options such as max_concurrency
    return remote(num_cpus=0, max_concurrency=MAX_CONCURRENCY)(PlaneActor)


def ensure_ray(address: str | None = None, num_cpus: int | None = None) -> None:
    """Initialise Ray in this process unless it already is: ``address="local"`` starts a
    new instance on 127.0.0.1; ``None`` is Ray's default (join the newest cluster started
    on this machine, else start one)."""
    import ray

    if ray.is_initialized():
        return
    if address == "local":
        start_local_ray(num_cpus=num_cpus, include_dashboard=False)
        return
    try:
        with signal_handlers_kept():
            ray.init(address=address, num_cpus=num_cpus, include_dashboard=False)
    except (ValueError, ConnectionError, RuntimeError) as exc:  # Ray's own words, kept
        joined = (
            f"address {address!r}"
            if address is not None
            else "no address: Ray joins RAY_ADDRESS, or the newest cluster started on this "
            "machine (/tmp/ray/ray_current_cluster), which may be long gone"
        )
        raise DataPlaneError(
            f"cannot start or join Ray ({joined}): {exc}; set the plane's address = 'local' "
            "for a Ray instance of its own, or the address of a running cluster"
        ) from exc


class RayDataPlane(DataPlaneClient):
    """A :class:`DataPlaneClient` whose store lives in the Ray actor ``name``."""

    backend = "ray"

    def __init__(self, actor: Any, name: str, namespace: str, *, owner: bool) -> None:
        super().__init__()
        self._actor = actor
        self.name = name
        self.namespace = namespace
        self.owner = owner

    @classmethod
    def from_config(cls, cfg: RayConfig) -> RayDataPlane:
        """Attach to the actor ``cfg.name``, creating it when missing and ``cfg.create``."""
        import ray

        ensure_ray(cfg.address, cfg.num_cpus)
        try:
            actor = ray.get_actor(cfg.name, namespace=cfg.namespace)
            return cls(actor, cfg.name, cfg.namespace, owner=False)
        except ValueError:
            if not cfg.create:
                raise DataPlaneError(
                    f"no data plane named {cfg.name!r} in Ray namespace {cfg.namespace!r}"
                ) from None
        token = uuid.uuid4().hex
        actor = (
            _actor_class()
            .options(
                name=cfg.name,
                namespace=cfg.namespace,
                get_if_exists=True,
                lifetime="detached" if cfg.detached else None,
            )
            .remote(token)
        )
        owner = ray.get(actor.owner_token.remote()) == token
        return cls(actor, cfg.name, cfg.namespace, owner=owner)

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _attach, (self.name, self.namespace)

    def _call(self, method: str, *args: Any) -> Any:
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        self._check_open()
        try:
            return ray.get(getattr(self._actor, method).remote(*args))
        except RayTaskError as exc:
            cause = exc.cause
            if isinstance(cause, Exception) and not isinstance(cause, ray.exceptions.RayError):
                raise cause from None
            raise
        except RayActorError as exc:
            raise DataPlaneError(f"data-plane actor {self.name!r} is gone: {exc}") from exc

    def _register(
        self, partition_id: str, fields: list[str], tasks: list[str], capacity: int | None
    ) -> None:
        self._call("register", partition_id, fields, tasks, capacity)

    def _put(
        self,
        ids: list[SampleId],
        partition_id: str,
        columns: dict[str, Column],
        tags: list[Tags] | None,
        lengths: list[int] | None,
    ) -> BatchMeta:
        return self._call("put", ids, partition_id, columns, tags, lengths)

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
        args = (partition_id, task_name, fields, batch_size)
        if blocking:  # in windows: see the module docstring
            deadline = time.monotonic() + timeout_s
            while (remaining := deadline - time.monotonic()) > 0:
                window = min(remaining, CLAIM_WINDOW_S)
                meta = self._call("claim", *args, True, window, False)
                if meta is not None:
                    return meta
        return self._call("claim", *args, False, 0.0, allow_partial)

    def _get(self, ids: list[SampleId], partition_id: str, fields: list[str]) -> dict[str, Column]:
        return self._call("get", ids, partition_id, fields)

    def _clear(self, ids: list[SampleId] | None, partition_id: str) -> int:
        return self._call("clear", ids, partition_id)

    def _consumed(self, partition_id: str, tasks: list[str] | None) -> bool:
        return self._call("consumed", partition_id, tasks)

    def _close(self) -> None:
        actor, self._actor = self._actor, None
        if self.owner and actor is not None:
            import ray

            with contextlib.suppress(Exception):  # it may be gone with its cluster already
                ray.kill(actor)


def _attach(name: str, namespace: str) -> RayDataPlane:
    return RayDataPlane.from_config(
        RayConfig(backend="ray", name=name, namespace=namespace, create=False)
    )
