"""``start_local_ray``: a new Ray instance for this machine alone, listening on loopback.

On Linux, ``ray.init()`` binds a new instance's GCS, raylet and workers to the host's
network address, so a run that only means to use this machine's cores opens unauthenticated
ports to its network. Ray keeps a local instance on 127.0.0.1 when
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER`` is ``0`` (its default on macOS and Windows); this
module sets that for the one ``ray.init`` call, and for the processes it starts, unless the
user has set the variable themselves.

``address="local"`` is passed as well: Ray's default (no address) joins the newest cluster
started on this machine, and then refuses ``num_cpus``.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

LOOPBACK_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray's variable: ``0`` keeps a local instance on 127.0.0.1, ``1`` on the host's address."""


@contextmanager
def signal_handlers_kept() -> Iterator[None]:
    """Give SIGTERM, SIGINT and SIGHUP their handlers back after the block: a driver's
    ``ray.init`` installs its own SIGTERM handler (``sys.exit``), which cut through
    ``tunegym run``'s clean shutdown (no reports, ``SystemExit: 15``, a Ray stack dump).
    Outside the main thread: no change (handlers can be set there only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    kept = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in kept.items():
            if handler is not None and signal.getsignal(sig) is not handler:
                signal.signal(sig, handler)


def start_local_ray(**init_kwargs: Any) -> None:
    """``ray.init(address="local", **init_kwargs)``, on 127.0.0.1 unless the user's own
    :data:`LOOPBACK_SWITCH` says otherwise; the signal handlers are kept
    (:func:`signal_handlers_kept`)."""
    with signal_handlers_kept():
        _start_local_ray(init_kwargs)


def _start_local_ray(init_kwargs: dict[str, Any]) -> None:
    if LOOPBACK_SWITCH in os.environ:  # the user chose: Ray reads it as they set it
        import ray

        ray.init(address="local", **init_kwargs)
        return
    os.environ[LOOPBACK_SWITCH] = "0"  # before ray is imported, and for the processes it starts
    try:
        import ray

        constants = _ray_constants()
        # Ray reads the variable once, at import: if it was imported before, say so now.
        imported = getattr(constants, "ENABLE_RAY_CLUSTER", None)
        if imported is not None:
            constants.ENABLE_RAY_CLUSTER = False
        try:
            ray.init(address="local", **init_kwargs)
        finally:
            if imported is not None:
                constants.ENABLE_RAY_CLUSTER = imported
    finally:
        os.environ.pop(LOOPBACK_SWITCH, None)


def _ray_constants() -> Any:
    """Ray's private constants module, or None where a release has moved it."""
    try:
        from ray._private import ray_constants
    except ImportError:
        return None
    return ray_constants
