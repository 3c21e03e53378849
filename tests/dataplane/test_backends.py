"""What is particular to each backend, and ``connect``'s configuration."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from typing import Any

import numpy as np
import pytest

from tunegym.dataplane import (
    DataPlaneClient,
    DataPlaneConfigError,
    DataPlaneError,
    connect,
    parse_config,
)
from tunegym.dataplane.client import check_int


# ----------------------------------------------------------------- connect/config
def test_connect_defaults_to_memory() -> None:
    assert connect().backend == "memory"
    assert connect({}).backend == "memory"
    assert parse_config({"backend": "ray"}).name == "tunegym-dataplane"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"backend": "redis"}, "backend"),
        ({"backend": "memory", "name": "x"}, "name"),
        ({"backend": "ray", "nmae": "x"}, "nmae"),
        ({"backend": "transferqueue", "num_storage_units": 0}, "num_storage_units"),
        ("memory", r"expected a mapping such as \{'backend': 'memory'\}, got a str"),
    ],
)
def test_bad_config_names_the_key(config: Any, match: str) -> None:
    with pytest.raises(DataPlaneConfigError, match=match):
        connect(config)


def test_importing_the_package_imports_no_heavy_dependency() -> None:
    code = (
        "import sys, tunegym.dataplane as dp; dp.connect().close(); "
        "print(sorted(m for m in ('ray', 'torch', 'transfer_queue', 'tensordict') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_check_int_is_the_one_integer_check() -> None:
    assert check_int(np.int64(3), "n", 1) == 3 and type(check_int(np.int64(3), "n")) is int
    for bad in (True, np.bool_(False), 2.0, np.float32(2), None, "2"):
        with pytest.raises(TypeError, match="n must be an int"):
            check_int(bad, "n")
        with pytest.raises(ValueError, match="n must be an int"):
            check_int(bad, "n", exc=ValueError)
    with pytest.raises(ValueError, match="n must be >= 0, got -1"):
        check_int(-1, "n", 0)


# ------------------------------------------------------------------------- memory
def test_memory_backend_keeps_arrays_without_copying() -> None:
    plane = connect({"backend": "memory"})
    plane.register_partition("p", ["x"])
    x = np.arange(40, dtype=np.float32).reshape(10, 4)
    plane.put_samples(list(range(10)), "p", {"x": x})
    run = plane.get_samples([2, 3, 4], "p", ["x"])["x"]
    assert np.shares_memory(run, x) and not run.flags.writeable
    gathered = plane.get_samples([4, 2], "p", ["x"])["x"]
    np.testing.assert_array_equal(gathered, x[[4, 2]])
    plane.close()


def test_memory_close_wakes_a_blocked_claim() -> None:
    plane = connect({"backend": "memory"})
    plane.register_partition("p", ["x"])
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            plane.claim_meta("p", "t", ["x"], 1, timeout_s=60)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=claim)
    thread.start()
    threading.Timer(0.2, plane.close).start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert errors and isinstance(errors[0], DataPlaneError)


def test_variable_length_rows_come_back_as_a_list(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, ["x"])
    plane.put_samples([0], pid, {"x": np.zeros((1, 3))})
    plane.put_samples([1], pid, {"x": np.zeros((1, 5))})
    rows = plane.get_samples([0, 1], pid, ["x"])["x"]
    assert [np.asarray(r).shape for r in rows] == [(3,), (5,)]


def test_rows_that_are_arrays_of_one_shape_come_back_as_one_array(
    plane: DataPlaneClient, pid: str
) -> None:
    plane.register_partition(pid, ["x", "s"])
    plane.put_samples([0, 1], pid, {"x": [np.zeros(3), np.ones(3)]})
    plane.put_samples([2], pid, {"x": np.full((1, 3), 2.0)})  # rows from a list and an array
    got = plane.get_samples([1, 0, 2], pid, ["x"])["x"]
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    np.testing.assert_array_equal(got, [[1, 1, 1], [0, 0, 0], [2, 2, 2]])
    plane.put_samples([0, 1], pid, {"s": [np.float32(0.5), np.float32(1.5)]})
    scalars = plane.get_samples([0, 1], pid, ["s"])["s"]
    assert isinstance(scalars, np.ndarray) and scalars.dtype == np.float32
    assert scalars.tolist() == [0.5, 1.5]
    plane.put_samples([0, 1], pid, {"x": [np.zeros(3), np.zeros(3, np.float32)]})
    assert isinstance(plane.get_samples([0, 1], pid, ["x"])["x"], list)  # two dtypes: a list


# ---------------------------------------------------------------------------- ray
def test_ray_plane_is_reached_from_another_process_by_name(ray_owner: Any, pid: str) -> None:
    import ray

    ray_owner.register_partition(pid, ["x"], ["trainer"])
    clone = pickle.loads(pickle.dumps(ray_owner))
    assert clone.owner is False and clone.name == ray_owner.name

    @ray.remote(num_cpus=0)
    def produce(plane: Any, partition: str) -> int:
        plane.put_samples([1, 2], partition, {"x": np.ones((2, 3))}, [{"w": 1}, {"w": 2}])
        return 2

    assert ray.get(produce.remote(clone, pid)) == 2
    meta = ray_owner.claim_meta(pid, "trainer", ["x"], 2, blocking=False)
    assert meta.tags_by_id() == {1: {"w": 1}, 2: {"w": 2}}
    clone.close()
    assert ray_owner.get_samples([1], pid, ["x"])["x"].shape == (1, 3)  # attached close: no harm


def test_ray_owner_close_removes_the_plane(ray_session: Any) -> None:
    config = {"backend": "ray", "name": "tunegym-short-lived", "namespace": "tunegym-tests"}
    owner = connect(config)
    attached = connect({**config, "create": False})
    assert owner.owner and not attached.owner  # type: ignore[attr-defined]
    owner.close()
    with pytest.raises(DataPlaneError):
        attached.register_partition("p", ["x"])
    with pytest.raises(DataPlaneError, match="tunegym-never-made"):
        connect({**config, "name": "tunegym-never-made", "create": False})


# -------------------------------------------------------------------- transferqueue
def test_transferqueue_registrations_are_seen_by_other_clients(tq_owner: Any, pid: str) -> None:
    tq_owner.register_partition(pid, ["x"], ["trainer"], capacity=5)
    other = connect({"backend": "transferqueue"})
    assert other.owner is False  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="capacity=5"):
        other.register_partition(pid, ["x"], ["trainer"])
    other.put_samples(["a"], pid, {"x": np.array([[1.5, 2.5]], dtype=np.float32)})
    got = tq_owner.get_samples(["a"], pid, ["x"])["x"]
    assert got.dtype == np.float32 and got.tolist() == [[1.5, 2.5]]
    other.close()
    assert tq_owner.get_samples(["a"], pid, ["x"])["x"].shape == (1, 2)


def test_transferqueue_samples_put_natively_are_claimable(tq_owner: Any, pid: str) -> None:
    import torch
    import transfer_queue as tq
    from tensordict import TensorDict

    tq_owner.register_partition(pid, ["x"], ["trainer"])
    fields = TensorDict({"x": torch.arange(6).reshape(2, 3)}, batch_size=2)
    tq.kv_batch_put(["i:5", "s:five"], pid, fields, [{"weight_version": 2}, {}])
    meta = tq_owner.claim_meta(pid, "trainer", ["x"], 2, blocking=False)
    assert meta.tags_by_id() == {5: {"weight_version": 2}, "five": {}}
    np.testing.assert_array_equal(tq_owner.get_data(meta.subset([0]))["x"], [[0, 1, 2]])


def test_a_ray_plane_that_cannot_join_ray_says_why_and_how_to_start_its_own() -> None:
    # With the address unset, Ray joins RAY_ADDRESS (or the newest cluster of this
    # machine); that failing was a raw ValueError or ConnectionError from ray.init.
    import os

    code = (
        "from tunegym.dataplane import connect\n"
        "from tunegym.errors import TunegymError\n"
        "try:\n"
        "    connect({'backend': 'ray', 'num_cpus': 1})\n"
        "except TunegymError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    env = {**os.environ, "RAY_ADDRESS": "127.0.0.1:1", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.strip()
    assert out.startswith(
        "DataPlaneError cannot start or join Ray (no address: Ray joins RAY_ADDRESS"
    )
    assert "set the plane's address = 'local' for a Ray instance of its own" in out
