"""RolloutCollector: version stamping, validation, and what rollout_fn may return."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from tunegym.dataplane import Rollout, RolloutCollector, connect


@pytest.fixture
def plane() -> Any:
    client = connect({"backend": "memory"})
    client.register_partition("p", ["x", "y"], ["trainer"])
    yield client
    client.close()


def test_every_row_is_stamped_with_the_current_version(plane: Any) -> None:
    calls: list[tuple[list[int], int]] = []

    def fn(ids: list[int], version: int) -> dict[str, Any]:
        calls.append((ids, version))
        return {"x": np.arange(len(ids))}

    collector = RolloutCollector(plane, fn, weight_version=2)
    meta = collector.rollout("p", [0, 1])
    assert calls == [([0, 1], 2)]
    assert meta.tags == [{"weight_version": 2}, {"weight_version": 2}]
    assert collector.set_weight_version(np.int64(5)) == 5
    assert collector.weight_version() == 5
    collector.rollout("p", [2])
    claimed = plane.claim_meta("p", "trainer", ["x"], 3, blocking=False)
    assert {s: t["weight_version"] for s, t in claimed.tags_by_id().items()} == {0: 2, 1: 2, 2: 5}


def test_rollout_tags_are_kept_but_the_version_is_the_collectors(plane: Any) -> None:
    def fn(ids: list[int], version: int) -> Rollout:
        return Rollout(
            {"x": [f"r{i}" for i in ids]},
            tags=[{"weight_version": 99, "temp": 0.7}, None],
            sequence_lengths=[3, 4],
        )

    meta = RolloutCollector(plane, fn, weight_version=1).rollout("p", [7, 8])
    assert meta.tags == [{"weight_version": 1, "temp": 0.7}, {"weight_version": 1}]
    assert meta.sequence_lengths == [3, 4]
    assert plane.get_samples([8], "p", ["x"])["x"] == ["r8"]


def test_bad_versions_and_misaligned_tags_are_rejected(plane: Any) -> None:
    collector = RolloutCollector(plane, lambda ids, v: Rollout({"x": [0] * len(ids)}, tags=[{}]))
    for bad in (-1, 1.0, True, None):
        with pytest.raises((TypeError, ValueError)):
            collector.set_weight_version(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="tag"):
        collector.rollout("p", [0, 1])
    with pytest.raises(KeyError):
        plane.get_samples([0], "p", ["x"])  # nothing of the failed rollout was written


def test_a_string_of_sample_ids_is_refused_before_rollout_fn_runs(plane: Any) -> None:
    calls: list[list[Any]] = []

    def fn(ids: list[Any], version: int) -> dict[str, Any]:
        calls.append(ids)
        return {"x": [0] * len(ids)}

    collector = RolloutCollector(plane, fn)
    with pytest.raises(TypeError, match="sample_ids must be a list of sample ids, not the string"):
        collector.rollout("p", "abc")  # type: ignore[arg-type]
    assert calls == []
    assert plane.claim_meta("p", "trainer", ["x"], 1, blocking=False).size == 0


@pytest.mark.parametrize(
    ("returned", "message"),
    [
        (
            None,
            "rollout_fn must return a mapping of field name to column, or a Rollout; "
            "it returned NoneType None",
        ),
        ([[0, 1]], "rollout_fn must return a mapping .* it returned list \\[\\[0, 1\\]\\]"),
        (Rollout(None), "it returned a Rollout whose fields are NoneType None"),  # type: ignore[arg-type]
        (
            Rollout({"x": [0, 1]}, tags={"temp": 0.7}),  # type: ignore[arg-type]
            "rollout_fn returned tags as dict .*; they must be a list with one dict",
        ),
        (
            Rollout({"x": [0, 1]}, tags=[{}, "hot"]),  # type: ignore[list-item]
            "rollout_fn returned tags of sample 1 that are not a dict: str 'hot'",
        ),
    ],
)
def test_what_rollout_fn_returns_is_checked_naming_it(
    plane: Any, returned: Any, message: str
) -> None:
    """None (a rollout_fn without ``return``) gave "'NoneType' object is not iterable"."""
    collector = RolloutCollector(plane, lambda ids, v: returned)
    with pytest.raises(TypeError, match=message):
        collector.rollout("p", [0, 1])
    assert plane.claim_meta("p", "trainer", ["x"], 1, blocking=False).size == 0
