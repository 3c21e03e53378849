"""Collectors and ranks as objects in this process or as Ray actors, behind one interface.

:class:`Worker` has ``call`` (wait for the result), ``submit`` (a future with
``result()``) and ``cast`` (fire and forget); :class:`LocalWorker` runs the method in a
thread pool of this process, :class:`RayWorker` as an actor method. The memory data plane
is in-process, so it needs local workers; ``ray`` and ``transferqueue`` take either.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Protocol


class Pending(Protocol):
    def result(self) -> Any: ...


class Worker(Protocol):
    def call(self, method: str, *args: Any) -> Any: ...

    def submit(self, method: str, *args: Any) -> Pending: ...

    def cast(self, method: str, *args: Any) -> None: ...

    def kill(self) -> None: ...


class LocalWorker:
    """An object of this process; ``submit`` runs the method on a one-thread pool."""

    def __init__(self, obj: Any) -> None:
        self.obj = obj
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=type(obj).__name__)

    def call(self, method: str, *args: Any) -> Any:
        return getattr(self.obj, method)(*args)

    def submit(self, method: str, *args: Any) -> Future[Any]:
        return self._pool.submit(getattr(self.obj, method), *args)

    def cast(self, method: str, *args: Any) -> None:
        getattr(self.obj, method)(*args)

    def kill(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class _RayPending:
    def __init__(self, ref: Any) -> None:
        self.ref = ref

    def result(self) -> Any:
        import ray

        return ray.get(self.ref)


class RayWorker:
    """A Ray actor (threaded, so a collector's loop and ``set_weights`` run at once)."""

    def __init__(self, cls: type, *args: Any) -> None:
        import ray

        remote: Any = ray.remote
        self.actor = remote(num_cpus=0, max_concurrency=4)(cls).remote(*args)
        self._casts: list[Any] = []

    def call(self, method: str, *args: Any) -> Any:
        import ray

        return ray.get(getattr(self.actor, method).remote(*args))

    def submit(self, method: str, *args: Any) -> _RayPending:
        return _RayPending(getattr(self.actor, method).remote(*args))

    def cast(self, method: str, *args: Any) -> None:
        self._casts = [*self._casts[-8:], getattr(self.actor, method).remote(*args)]

    def kill(self) -> None:
        import ray

        ray.kill(self.actor)


def start_worker(use_ray: bool, cls: type, *args: Any) -> Worker:
    """``cls(*args)`` here (``use_ray=False``) or as a Ray actor."""
    if use_ray:
        return RayWorker(cls, *args)
    return LocalWorker(cls(*args))
