"""Fixtures for the data-plane tests.

``plane`` is parametrised over every backend, so a test that takes it is one
contract test per backend. Ray starts once per session (only when a test needs it)
with an explicit CPU count; TransferQueue starts once per session on that Ray (its
controller and each storage unit take one Ray CPU). Every test works in its own
partition (``pid``), so tests share the session's stores without seeing each other.

Code shipped to Ray workers is defined inside functions, so cloudpickle sends it by
value: this directory is not an importable package (and site-packages has an
unrelated top-level ``tests`` package from the transferqueue wheel).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tunegym.dataplane import DataPlaneClient, connect

RAY_CPUS = 8  # TransferQueue takes 3 (controller + 2 storage units); actors ask for 0
RAY_PLANE = {"backend": "ray", "name": "tunegym-test-plane", "namespace": "tunegym-tests"}
TQ_PLANE = {"backend": "transferqueue", "num_storage_units": 2}
BACKENDS = ["memory", "ray", "transferqueue"]
REMOTE_BACKENDS = ["ray", "transferqueue"]


@pytest.fixture(scope="session")
def ray_session() -> Iterator[Any]:
    """Ray for the whole session, shut down at its end."""
    os.environ.setdefault("TQ_LOGGING_LEVEL", "ERROR")  # inherited by the Ray workers
    import ray

    if ray.is_initialized():  # started by another part of the suite: share it, leave it up
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus < 3:
            pytest.fail(f"Ray runs with {cpus} CPUs; TransferQueue needs at least 3")
        yield ray
        return
    ray.init(address="local", num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="session")
def ray_owner(ray_session: Any) -> Iterator[DataPlaneClient]:
    """The client that created the session's Ray plane actor (closing it kills the actor)."""
    client = connect(RAY_PLANE)
    assert getattr(client, "owner", False)
    yield client
    client.close()


@pytest.fixture(scope="session")
def tq_owner(ray_session: Any) -> Iterator[DataPlaneClient]:
    """The client that started the session's TransferQueue (closing it shuts TQ down)."""
    client = connect(TQ_PLANE)
    assert getattr(client, "owner", False)
    yield client
    client.close()


def plane_config(backend: str) -> dict[str, Any]:
    return {"memory": {"backend": "memory"}, "ray": RAY_PLANE, "transferqueue": TQ_PLANE}[backend]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The backend name; starts that backend's session store when it needs one."""
    if request.param == "ray":
        request.getfixturevalue("ray_owner")
    elif request.param == "transferqueue":
        request.getfixturevalue("tq_owner")
    return request.param


@pytest.fixture
def config(backend: str) -> dict[str, Any]:
    """The ``connect`` config of ``backend``."""
    return plane_config(backend)


@pytest.fixture
def plane(config: dict[str, Any]) -> Iterator[DataPlaneClient]:
    """A fresh client of ``backend`` (attached to the session store for ray/transferqueue)."""
    client = connect(config)
    yield client
    client.close()


@pytest.fixture(params=REMOTE_BACKENDS)
def remote_backend(request: pytest.FixtureRequest) -> str:
    """A backend that processes other than this one can reach."""
    request.getfixturevalue("ray_owner" if request.param == "ray" else "tq_owner")
    return request.param


@pytest.fixture
def remote_config(remote_backend: str) -> dict[str, Any]:
    """The ``connect`` config of ``remote_backend``."""
    return plane_config(remote_backend)


@pytest.fixture
def pid() -> str:
    """A partition id of this test alone."""
    return f"p-{uuid.uuid4().hex[:12]}"
