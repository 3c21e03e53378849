"""Collectors and ranks as objects in this process or as Ray actors, behind one interface.

:class:`Worker` has ``call`` (wait for the result), ``submit`` (a future with
``result()``) and ``cast`` (fire and forget); :class:`LocalWorker` runs the method in a
thread pool of this process, :class:`RayWorker` as an actor method. The memory data plane
is in-process, so it needs local workers; ``ray`` and ``transferqueue`` take either.
Either way a method that raises, or does not answer in time, is a
:class:`WorkerFailedError` naming the worker and the call.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeoutError
from typing import Any, Protocol

from tunegym.errors import TunegymError


class WorkerFailedError(TunegymError):
    """A collector or gradient rank stopped working (its Ray actor died, or its loop
    raised): the run ends with status ``error`` and this message."""


class Pending(Protocol):
    def result(self, timeout: float | None = None) -> Any: ...


class Worker(Protocol):
    def call(self, method: str, *args: Any) -> Any: ...

    def submit(self, method: str, *args: Any) -> Pending: ...

    def cast(self, method: str, *args: Any) -> None: ...

    def kill(self) -> None: ...


def _failed(label: str, method: str, exc: BaseException, where: str = "") -> WorkerFailedError:
    """The :class:`WorkerFailedError` of ``label``'s ``method()`` raising ``exc``."""
    lines = [line for line in str(exc).strip().splitlines() if line.strip()]
    why = f": {lines[0]}" if lines else ""
    return WorkerFailedError(f"{label}{where} failed in {method}(): {type(exc).__name__}{why}")


class _LocalPending:
    """A local worker's future; like a Ray one, an error raised by the method (say a
    rank's ``MemoryError``) or no answer within ``timeout`` seconds is a
    :class:`WorkerFailedError` naming the worker and the call."""

    def __init__(self, future: Future[Any], label: str, method: str) -> None:
        self.future, self.label, self.method = future, label, method

    def result(self, timeout: float | None = None) -> Any:
        try:
            return self.future.result(timeout=timeout)
        except Exception as exc:
            if isinstance(exc, FuturesTimeoutError) and not self.future.done():
                raise WorkerFailedError(
                    f"{self.label} did not answer {self.method}() within {timeout:g} s"
                ) from None
            raise _failed(self.label, self.method, exc) from exc


class LocalWorker:
    """An object of this process; ``submit`` runs the method on a one-thread pool.

    ``label`` names it in a :class:`WorkerFailedError`: a method that raises (``call``,
    ``cast`` or a ``submit``'s result) ends a run the way a Ray actor's error does."""

    def __init__(self, obj: Any, label: str = "") -> None:
        self.obj = obj
        self.label = label or type(obj).__name__
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=type(obj).__name__)

    def call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.obj, method)(*args)
        except Exception as exc:
            raise _failed(self.label, method, exc) from exc

    def submit(self, method: str, *args: Any) -> _LocalPending:
        future = self._pool.submit(getattr(self.obj, method), *args)
        return _LocalPending(future, self.label, method)

    def cast(self, method: str, *args: Any) -> None:
        self.call(method, *args)

    def kill(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _ray_get(ref: Any, label: str, method: str, timeout: float | None = None) -> Any:
    """``ray.get(ref)``; a Ray error (the actor died, or the method raised in it) is a
    :class:`WorkerFailedError` naming the worker and the call, and so is no answer within
    ``timeout`` seconds (a hung actor: its process stopped, or its node unreachable)."""
    import ray
    from ray.exceptions import GetTimeoutError, RayError

    try:
        return ray.get(ref, timeout=timeout)
    except GetTimeoutError:
        raise WorkerFailedError(
            f"{label} (a Ray actor) did not answer {method}() within {timeout:g} s"
        ) from None
    except RayError as exc:
        raise _failed(label, method, exc, " (a Ray actor)") from exc


class _RayPending:
    def __init__(self, ref: Any, label: str, method: str) -> None:
        self.ref, self.label, self.method = ref, label, method

    def result(self, timeout: float | None = None) -> Any:
        return _ray_get(self.ref, self.label, self.method, timeout)


class RayWorker:
    """A Ray actor (threaded, so a collector's loop and ``set_weights`` run at once);
    ``label`` names it in a :class:`WorkerFailedError`."""

    def __init__(self, cls: type, *args: Any, label: str = "") -> None:
        import ray

        remote: Any = ray.remote
        self.actor = remote(num_cpus=0, max_concurrency=4)(cls).remote(*args)
        self.label = label or cls.__name__
        self._casts: list[Any] = []

    def call(self, method: str, *args: Any) -> Any:
        return _ray_get(getattr(self.actor, method).remote(*args), self.label, method)

    def submit(self, method: str, *args: Any) -> _RayPending:
        return _RayPending(getattr(self.actor, method).remote(*args), self.label, method)

    def cast(self, method: str, *args: Any) -> None:
        self._casts = [*self._casts[-8:], getattr(self.actor, method).remote(*args)]

    def kill(self) -> None:
        import ray

        ray.kill(self.actor)


def start_worker(use_ray: bool, cls: type, *args: Any, label: str = "") -> Worker:
    """``cls(*args)`` here (``use_ray=False``) or as a Ray actor named ``label``."""
    if use_ray:
        return RayWorker(cls, *args, label=label)
    return LocalWorker(cls(*args), label=label)
