from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

RAY_CPUS = 8  # explicit (2 real cores); enough to share the session with the data plane


@pytest.fixture(scope="session")
def ray_local() -> Iterator[Any]:
    """A local Ray for the session (shared if another part of the suite started it)."""
    import ray

    if ray.is_initialized():
        yield ray
        return
    ray.init(address="local", num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
