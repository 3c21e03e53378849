"""``AsyncRLConfig`` refuses, at construction, every value the trainer cannot use."""

from __future__ import annotations

from typing import Any

import pytest

from tunegym.errors import UsageError
from tunegym.rl import AsyncRLConfig


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hidden": -1}, "hidden must be a whole number in [1, 4096], got -1"),
        ({"hidden": 0}, "hidden must be a whole number in [1, 4096], got 0"),
        ({"hidden": "x"}, "hidden must be a whole number in [1, 4096], got 'x'"),
        ({"max_operand": 0}, "max_operand must be a whole number in [1, 10000], got 0"),
        ({"dataset_size": 0}, "dataset_size must be a whole number in [1, 1000000], got 0"),
        ({"max_tokens": 0}, "max_tokens must be a whole number in [1, 64], got 0"),
        (
            {"max_tokens": 2},
            "max_tokens must be at least 3 for max_operand 5 (answers up to 10 and the end "
            "token), got 2",
        ),
        ({"eval_samples": 0}, "eval_samples must be a whole number in [1, 1000000], got 0"),
        ({"lr": "x"}, "lr must be a number in (0, 1), got 'x'"),
        ({"clip": True}, "clip must be a number in (0, 1), got True"),
        ({"token_latency_s": "1"}, "token_latency_s must be from 0 to 1e+09 seconds, got '1'"),
        ({"claim_poll_s": "1"}, "claim_poll_s must be seconds above 0, got '1'"),
        (
            {"plane": "memory"},
            "plane must be a data-plane config mapping such as {'backend': 'memory'}, got 'memory'",
        ),
        (
            {"plane": None},
            "plane must be a data-plane config mapping such as {'backend': 'memory'}, got None",
        ),
        ({"plane": {"backend": "bogus"}}, "plane: invalid data-plane config: "),
        (
            {"plane": {"backend": "ray", "nope": 1}},
            "plane: invalid data-plane config: ray.nope: Extra inputs",
        ),
    ],
)
def test_a_value_the_trainer_cannot_use_is_a_usage_error_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(UsageError) as caught:
        AsyncRLConfig(**changes)
    assert str(caught.value).startswith(message)


def test_a_checked_config_round_trips_through_its_dict() -> None:
    cfg = AsyncRLConfig(hidden=16, max_operand=50, max_tokens=4, plane={"backend": "memory"})
    assert AsyncRLConfig.from_dict(cfg.to_dict()) == cfg


def test_ray_workers_on_the_memory_plane_are_refused_when_the_config_is_built() -> None:
    """Not only when ``run()`` asks ``use_ray`` (after the run folder was made)."""
    message = "workers='ray' cannot use the memory data plane"
    with pytest.raises(UsageError, match=message):
        AsyncRLConfig(workers="ray")
    with pytest.raises(UsageError, match=message):
        AsyncRLConfig().replace(workers="ray")
    with pytest.raises(UsageError, match=message):
        AsyncRLConfig.from_dict({**AsyncRLConfig().to_dict(), "workers": "ray"})
    ray_plane = AsyncRLConfig(workers="ray", plane={"backend": "ray"})
    assert ray_plane.use_ray
    assert not AsyncRLConfig(workers="thread", plane={"backend": "ray"}).use_ray
    assert not AsyncRLConfig().use_ray
