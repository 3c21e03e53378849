"""The DataPlaneClient contract, run against every backend (memory, ray, transferqueue)."""

from __future__ import annotations

import random
import threading
import time
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from tunegym.dataplane import (
    ClaimTimeoutError,
    DataPlaneClient,
    DataPlaneClosedError,
    DataPlaneFullError,
    connect,
)

FIELDS = ["tokens", "reward", "text"]


def put_rows(plane: DataPlaneClient, pid: str, ids: list[Any], **tags: Any) -> None:
    n = len(ids)
    plane.put_samples(
        ids,
        pid,
        {
            "tokens": np.arange(n * 4, dtype=np.int64).reshape(n, 4),
            "reward": np.linspace(0, 1, n, dtype=np.float32),
        },
        tags=[{"i": i, **tags} for i in range(n)],
    )


def drain(plane: DataPlaneClient, pid: str, task: str, batch: int) -> list[Any]:
    """Claim without blocking until nothing is left; every id claimed, in claim order."""
    out: list[Any] = []
    while True:
        meta = plane.claim_meta(pid, task, ["tokens"], batch, blocking=False, allow_partial=True)
        if meta.size == 0:
            return out
        out.extend(meta.sample_ids)


def test_concurrent_thread_claimers_never_share_an_id(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    produced = list(range(203))
    put_rows(plane, pid, produced)
    claimed: list[list[Any]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def claimer(k: int) -> None:
        start.wait()
        while True:
            meta = plane.claim_meta(pid, "trainer", ["tokens"], 7, blocking=False)
            if meta.size == 0:
                return
            assert meta.size == 7
            claimed[k].extend(meta.sample_ids)

    threads = [threading.Thread(target=claimer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    every = [sid for ids in claimed for sid in ids]
    assert len(every) == len(set(every)), "an id was delivered to two claimers"
    assert sum(1 for ids in claimed if ids) >= 1
    unclaimed = drain(plane, pid, "trainer", 100)
    assert set(every).isdisjoint(unclaimed)
    assert sorted(every + unclaimed) == produced
    assert len(unclaimed) < 7  # no full batch was left behind


def _claimer_actor_class() -> Any:
    import ray

    class Claimer:
        def __init__(self, config: dict[str, Any]) -> None:
            self.plane = connect(config)

        def claim_all(self, pid: str, task: str, batch: int, go: float) -> list[Any]:
            while time.time() < go:  # start together to contend for the same samples
                time.sleep(0.001)
            out: list[Any] = []
            while True:
                meta = self.plane.claim_meta(pid, task, ["tokens"], batch, blocking=False)
                if meta.size == 0:
                    return out
                out.extend(meta.sample_ids)

    return ray.remote(num_cpus=0)(Claimer)


def test_concurrent_ray_actor_claimers_never_share_an_id(
    remote_config: dict[str, Any], pid: str
) -> None:
    import ray

    plane = connect(remote_config)
    plane.register_partition(pid, FIELDS, ["trainer"])
    produced = list(range(150))
    put_rows(plane, pid, produced)
    actors = [_claimer_actor_class().remote(remote_config) for _ in range(3)]
    ray.get([a.__ray_ready__.remote() for a in actors])
    go = time.time() + 0.5
    results = ray.get([a.claim_all.remote(pid, "trainer", 4, go) for a in actors])
    every = [sid for ids in results for sid in ids]
    assert len(every) == len(set(every)), "an id was delivered to two actors"
    unclaimed = drain(plane, pid, "trainer", 100)
    assert set(every).isdisjoint(unclaimed)
    assert sorted(every + unclaimed) == produced
    assert len(unclaimed) < 4
    for a in actors:
        ray.kill(a)
    plane.close()


def test_each_task_has_its_own_cursor(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["actor", "critic"])
    put_rows(plane, pid, list(range(6)))
    a = plane.claim_meta(pid, "actor", ["tokens"], 6, blocking=False)
    b = plane.claim_meta(pid, "critic", ["tokens"], 6, blocking=False)
    assert sorted(a.sample_ids) == sorted(b.sample_ids) == list(range(6))
    assert a.task_name == "actor" and b.task_name == "critic"
    assert plane.claim_meta(pid, "actor", ["tokens"], 1, blocking=False).size == 0
    assert plane.claim_meta(pid, "critic", ["tokens"], 1, blocking=False).size == 0


def test_a_claimed_id_is_never_returned_to_that_task_again(
    plane: DataPlaneClient, pid: str
) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    put_rows(plane, pid, [0, 1, 2, 3])
    first = plane.claim_meta(pid, "trainer", ["tokens"], 2, blocking=False)
    # Writing a new field of a claimed sample does not make it claimable again.
    plane.put_samples(first.sample_ids, pid, {"text": ["a", "b"]})
    rest = plane.claim_meta(pid, "trainer", ["tokens"], 2, blocking=False)
    assert set(first.sample_ids).isdisjoint(rest.sample_ids)
    assert plane.claim_meta(pid, "trainer", ["tokens"], 1, blocking=False).size == 0


def test_only_samples_with_every_required_field_are_claimable(
    plane: DataPlaneClient, pid: str
) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    plane.put_samples([10, 11, 12, 13], pid, {"tokens": np.zeros((4, 2), dtype=np.int64)})
    empty = plane.claim_meta(pid, "trainer", ["tokens", "reward"], 1, blocking=False)
    assert empty.size == 0
    plane.put_samples([13, 11], pid, {"reward": np.array([1.0, 2.0], dtype=np.float32)})
    ready = plane.claim_meta(pid, "trainer", ["tokens", "reward"], 2, blocking=False)
    assert sorted(ready.sample_ids) == [11, 13]
    assert ready.fields == ["tokens", "reward"]
    assert plane.claim_meta(pid, "trainer", ["tokens", "reward"], 1, blocking=False).size == 0


def test_tags_survive_a_claim_checked_by_id(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    ids: list[Any] = [5, "b", 9, "a", 1]
    random.Random(0).shuffle(ids)
    tags = [{"weight_version": k, "origin": f"w{sid}", "score": k / 3} for k, sid in enumerate(ids)]
    plane.put_samples(ids, pid, {"tokens": np.zeros((5, 1), dtype=np.int64)}, tags)
    meta = plane.claim_meta(pid, "trainer", ["tokens"], 5, blocking=False)
    expected = dict(zip(ids, tags, strict=True))
    assert meta.tags_by_id() == expected
    # Tags given in a later put are merged into the stored ones.
    plane.put_samples([ids[0]], pid, {"reward": np.zeros(1, np.float32)}, [{"extra": True}])
    again = plane.claim_meta(pid, "other", ["tokens", "reward"], 1, blocking=False)
    assert again.tags_by_id() == {ids[0]: {**expected[ids[0]], "extra": True}}


def test_get_samples_returns_rows_in_requested_order(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    tokens = np.arange(20, dtype=np.int64).reshape(5, 4)
    text = ["zero", {"one": 1}, "two", None, "four"]
    plane.put_samples(list(range(5)), pid, {"tokens": tokens, "text": text})
    got = plane.get_samples([3, 0, 4], pid, ["tokens", "text"])
    assert isinstance(got["tokens"], np.ndarray)
    assert got["tokens"].dtype == np.int64
    np.testing.assert_array_equal(got["tokens"], tokens[[3, 0, 4]])
    assert list(got["text"]) == [None, "zero", "four"]
    twice = plane.get_samples([1, 1, 0], pid, ["tokens", "text"])
    np.testing.assert_array_equal(twice["tokens"], tokens[[1, 1, 0]])
    assert list(twice["text"]) == [{"one": 1}, {"one": 1}, "zero"]
    meta = plane.claim_meta(pid, "trainer", ["tokens"], 2, blocking=False)
    data = plane.get_data(meta)
    assert list(data) == ["tokens"]
    np.testing.assert_array_equal(data["tokens"], tokens[meta.sample_ids])


def test_cleared_samples_are_gone(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    put_rows(plane, pid, list(range(6)))
    assert plane.clear_samples([1, 4, 99], pid) == 2
    with pytest.raises(KeyError, match="4"):
        plane.get_samples([0, 4], pid, ["tokens"])
    claimed = drain(plane, pid, "trainer", 10)
    assert sorted(claimed) == [0, 2, 3, 5]
    assert plane.clear_samples(None, pid) == 4
    with pytest.raises(KeyError, match="0"):
        plane.get_samples([0], pid, ["tokens"])
    assert plane.claim_meta(pid, "trainer", ["tokens"], 1, blocking=False).size == 0


def test_reading_an_unwritten_field_raises_naming_it(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    put_rows(plane, pid, [0, 1])
    with pytest.raises(KeyError, match="text"):
        plane.get_samples([0, 1], pid, ["tokens", "text"])
    with pytest.raises(KeyError, match="nonexistent"):
        plane.get_samples([0], pid, ["nonexistent"])
    with pytest.raises(TypeError):
        plane.get_samples([0], pid, None)  # type: ignore[arg-type]


def test_consumption_status(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["actor", "critic"])
    assert plane.check_consumption_status(pid) is True  # empty: nothing left to consume
    put_rows(plane, pid, list(range(4)))
    assert plane.check_consumption_status(pid) is False
    plane.claim_meta(pid, "actor", ["tokens"], 4, blocking=False)
    assert plane.check_consumption_status(pid, ["actor"]) is True
    assert plane.check_consumption_status(pid) is False  # critic has not claimed
    plane.claim_meta(pid, "critic", ["tokens"], 3, blocking=False)
    assert plane.check_consumption_status(pid, ["critic"]) is False
    plane.claim_meta(pid, "critic", ["tokens"], 1, blocking=False)
    assert plane.check_consumption_status(pid) is True
    put_rows(plane, pid, [10])  # new data: consumed no longer
    assert plane.check_consumption_status(pid, ["actor"]) is False
    plane.clear_samples(None, pid)
    assert plane.check_consumption_status(pid) is True  # fully cleared
    with pytest.raises(ValueError):
        plane.check_consumption_status(pid, [])


def test_capacity_rejects_the_whole_put(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"], capacity=4)
    put_rows(plane, pid, [0, 1, 2])
    with pytest.raises(DataPlaneFullError):
        put_rows(plane, pid, [3, 4])
    for sid in (3, 4):
        with pytest.raises(KeyError):
            plane.get_samples([sid], pid, ["tokens"])
    assert sorted(drain(plane, pid, "trainer", 10)) == [0, 1, 2]
    put_rows(plane, pid, [2, 3])  # 2 is already held: only one new sample
    with pytest.raises(DataPlaneFullError):
        put_rows(plane, pid, [5])
    plane.clear_samples([0], pid)
    put_rows(plane, pid, [5])  # clearing freed room
    assert plane.get_samples([5], pid, ["reward"])["reward"].shape == (1,)


def test_close_twice_and_use_after_close(config: dict[str, Any], pid: str) -> None:
    client = connect(config)
    client.register_partition(pid, FIELDS, ["trainer"])
    client.close()
    client.close()
    assert client.closed
    with pytest.raises(DataPlaneClosedError):
        put_rows(client, pid, [0])
    with pytest.raises(DataPlaneClosedError):
        client.claim_meta(pid, "trainer", ["tokens"], 1, blocking=False)


def test_blocking_claim_times_out_claiming_nothing(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    put_rows(plane, pid, [0, 1])
    with pytest.raises(ClaimTimeoutError):
        plane.claim_meta(pid, "trainer", ["tokens"], 3, timeout_s=0.2)
    assert plane.claim_meta(pid, "trainer", ["tokens"], 2, blocking=False).size == 2
    with pytest.raises(TimeoutError):  # ClaimTimeoutError is a TimeoutError
        plane.claim_meta(pid, "trainer", ["tokens"], 1, timeout_s=0.0, allow_partial=True)


def test_partial_batches_only_when_asked(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    put_rows(plane, pid, [0, 1, 2])
    assert plane.claim_meta(pid, "trainer", ["tokens"], 5, blocking=False).size == 0
    part = plane.claim_meta(pid, "trainer", ["tokens"], 5, timeout_s=0.1, allow_partial=True)
    assert sorted(part.sample_ids) == [0, 1, 2]
    empty = plane.claim_meta(pid, "trainer", ["tokens"], 5, blocking=False, allow_partial=True)
    assert empty.size == 0 and empty.partition_id == pid


def test_blocking_claim_wakes_up_when_data_arrives(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    timer = threading.Timer(0.3, put_rows, args=(plane, pid, [7, 8]))
    timer.start()
    try:
        meta = plane.claim_meta(pid, "trainer", ["tokens"], 2, timeout_s=60)
    finally:
        timer.join()
    assert sorted(meta.sample_ids) == [7, 8]


@pytest.mark.parametrize("timeout_s", [float("inf"), 1e10])
def test_a_claim_without_a_deadline_waits_for_data(
    plane: DataPlaneClient, pid: str, timeout_s: float
) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    assert plane.claim_meta(pid, "trainer", ["tokens"], 2, False, timeout_s).size == 0
    timer = threading.Timer(0.2, put_rows, args=(plane, pid, [7, 8]))
    timer.start()
    try:
        meta = plane.claim_meta(pid, "trainer", ["tokens"], 2, timeout_s=timeout_s)
    finally:
        timer.join()
    assert sorted(meta.sample_ids) == [7, 8]


def test_tags_are_copied_on_put(plane: DataPlaneClient, pid: str) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    tag = {"weight_version": 1}
    frozen = MappingProxyType({"weight_version": 2})  # any mapping, even one that cannot pickle
    put = plane.put_samples(
        [0, 1, 2], pid, {"tokens": np.zeros((3, 1), np.int64)}, [tag, tag, frozen]
    )
    assert put.tags == [{"weight_version": 1}, {"weight_version": 1}, {"weight_version": 2}]
    assert put.tags[0] is not tag and put.tags[0] is not put.tags[1]  # type: ignore[index]
    tag["weight_version"] = 99  # mutating what was put, or the put's meta, changes nothing stored
    put.tags[1]["weight_version"] = 98  # type: ignore[index]
    meta = plane.claim_meta(pid, "trainer", ["tokens"], 3, blocking=False)
    expected = {0: {"weight_version": 1}, 1: {"weight_version": 1}, 2: {"weight_version": 2}}
    assert meta.tags_by_id() == expected
    meta.tags[0]["weight_version"] = 97  # type: ignore[index]
    assert plane.claim_meta(pid, "other", ["tokens"], 3, blocking=False).tags_by_id() == expected


def test_partitions_must_be_registered_with_their_fields(plane: DataPlaneClient, pid: str) -> None:
    with pytest.raises(KeyError, match=pid):
        put_rows(plane, pid, [0])
    with pytest.raises(KeyError, match=pid):
        plane.claim_meta(pid, "trainer", ["tokens"], 1, blocking=False)
    plane.register_partition(pid, FIELDS, ["trainer"])
    plane.register_partition(pid, FIELDS, ["trainer"])  # same settings: no-op
    with pytest.raises(ValueError, match=pid):
        plane.register_partition(pid, FIELDS, ["trainer"], capacity=3)
    with pytest.raises(ValueError, match="unknown_field"):
        plane.put_samples([0], pid, {"unknown_field": [1]})
    with pytest.raises(ValueError, match="unknown_field"):
        plane.claim_meta(pid, "trainer", ["unknown_field"], 1, blocking=False)


def test_bad_arguments_are_rejected_before_anything_is_written(
    plane: DataPlaneClient, pid: str
) -> None:
    plane.register_partition(pid, FIELDS, ["trainer"])
    with pytest.raises(ValueError, match="tokens"):
        plane.put_samples([0, 1], pid, {"tokens": np.zeros((3, 2))})
    with pytest.raises(ValueError, match="tag"):
        plane.put_samples([0, 1], pid, {"tokens": np.zeros((2, 2))}, tags=[{}])
    with pytest.raises(ValueError, match="twice"):
        plane.put_samples([0, 0], pid, {"tokens": np.zeros((2, 2))})
    with pytest.raises(TypeError):
        plane.put_samples([1.5], pid, {"tokens": np.zeros((1, 2))})
    with pytest.raises(ValueError):
        plane.claim_meta(pid, "trainer", ["tokens"], 0)
    with pytest.raises(ValueError):
        plane.claim_meta(pid, "trainer", [], 1)
    for bad in (float("nan"), -1.0, float("-inf")):
        with pytest.raises(ValueError, match="timeout_s"):
            plane.claim_meta(pid, "trainer", ["tokens"], 1, timeout_s=bad)
    for not_a_number in ("abc", None, True, [1.0]):
        with pytest.raises(TypeError, match=r"timeout_s must be a number of seconds"):
            plane.claim_meta(pid, "trainer", ["tokens"], 1, timeout_s=not_a_number)  # type: ignore[arg-type]
    for bad_capacity in (True, 1.5, "3", [2]):
        with pytest.raises(TypeError, match="capacity"):
            plane.register_partition(f"{pid}-c", FIELDS, capacity=bad_capacity)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="capacity"):
        plane.register_partition(f"{pid}-c", FIELDS, capacity=0)
    with pytest.raises(TypeError, match="sequence length"):
        plane.put_samples([0], pid, {"tokens": np.zeros((1, 2))}, sequence_lengths=[True])
    with pytest.raises(ValueError, match="sequence length"):
        plane.put_samples([0], pid, {"tokens": np.zeros((1, 2))}, sequence_lengths=[-1])
    with pytest.raises(KeyError):
        plane.get_samples([0], pid, ["tokens"])  # nothing was written


@pytest.mark.parametrize("version", [None, True, 2.0, "3", -1, float("nan")])
def test_a_bad_weight_version_is_refused_at_put_and_nothing_is_written(
    plane: DataPlaneClient, pid: str, version: Any
) -> None:
    """It was taken, and the trainer's staleness filter failed on it after the claim,
    stranding the good samples of the batch with it."""
    plane.register_partition(pid, FIELDS, ["trainer"])
    tags = [{"weight_version": 1}, {"weight_version": version}]
    with pytest.raises(ValueError, match=r"tag 'weight_version' of sample 1 must be"):
        plane.put_samples([0, 1], pid, {"tokens": np.zeros((2, 1), np.int64)}, tags)
    assert plane.claim_meta(pid, "trainer", ["tokens"], 2, blocking=False).size == 0


def _waiting_consumer_class() -> Any:
    import ray

    class Consumer:
        def __init__(self, config: dict[str, Any]) -> None:
            self.plane = connect(config)

        def wait_for_a_batch(self, pid: str) -> list[Any]:
            meta = self.plane.claim_meta(pid, "trainer", ["tokens"], 4, timeout_s=60.0)
            return meta.sample_ids

    return ray.remote(num_cpus=0)(Consumer)


def test_a_consumer_killed_while_it_waits_takes_no_batch_with_it(
    remote_config: dict[str, Any], pid: str
) -> None:
    """Ray does not tell the plane that a caller died: the claim of a trainer killed while
    it waited went on waiting in the plane's actor and took the next batch for nobody
    (its samples were lost, and the partition said it was consumed)."""
    import ray

    plane = connect(remote_config)
    plane.register_partition(pid, FIELDS, ["trainer"])
    consumer = _waiting_consumer_class().remote(remote_config)
    ray.get(consumer.__ray_ready__.remote())
    waiting = consumer.wait_for_a_batch.remote(pid)
    time.sleep(0.5)  # it is waiting in its claim now
    ray.kill(consumer)  # as kill -9 of a trainer process
    with pytest.raises(ray.exceptions.RayActorError):
        ray.get(waiting, timeout=30)
    time.sleep(1.0)  # longer than the claim window of the ray backend
    put_rows(plane, pid, [0, 1, 2, 3])
    meta = plane.claim_meta(pid, "trainer", ["tokens"], 4, blocking=False)
    assert sorted(meta.sample_ids) == [0, 1, 2, 3]
    plane.close()


def test_a_string_of_sample_ids_is_refused_not_read_one_character_per_id(
    plane: DataPlaneClient, pid: str
) -> None:
    """``clear_samples("ab", p)`` cleared the samples 'a' and 'b' (and left 'ab')."""
    plane.register_partition(pid, FIELDS, ["trainer"])
    plane.put_samples(["ab", "a", "b"], pid, {"tokens": np.arange(3)})
    message = r"sample_ids must be a list of sample ids, not the string 'ab'"
    with pytest.raises(TypeError, match=message):
        plane.clear_samples("ab", pid)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        plane.get_samples("ab", pid, ["tokens"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=message):
        plane.put_samples("ab", pid, {"tokens": np.arange(2)})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"sample_ids must be a list of sample ids, got int 3"):
        plane.clear_samples(3, pid)  # type: ignore[arg-type]
    data = plane.get_samples(["ab", "a", "b"], pid, ["tokens"])  # all three still there
    assert list(data["tokens"]) == [0, 1, 2]
    assert plane.clear_samples(["ab"], pid) == 1
    assert sorted(drain(plane, pid, "trainer", 4)) == ["a", "b"]


def test_an_empty_put_is_checked_like_any_other(plane: DataPlaneClient, pid: str) -> None:
    """It returned before the partition and the fields were looked at."""
    with pytest.raises(KeyError, match=pid):
        plane.put_samples([], pid, {"tokens": []})
    plane.register_partition(pid, FIELDS, ["trainer"])
    with pytest.raises(ValueError, match="field 'zzz' is not registered"):
        plane.put_samples([], pid, {"zzz": []})
    meta = plane.put_samples([], pid, {"tokens": []})
    assert meta.size == 0 and meta.partition_id == pid and meta.fields == ["tokens"]
    assert plane.claim_meta(pid, "trainer", ["tokens"], 1, blocking=False).size == 0
