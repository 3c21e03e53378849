"""EnvParams: per-trial draws determined by (seed, name, trial) alone, weights honoured."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter

import pytest

from tunegym.env_params import EnvParamDim, EnvParams, draw_uniform
from tunegym.errors import UsageError
from tunegym.space import SearchSpace
from tunegym.spec import WorkloadSpec

TRIALS = range(1, 201)


def _env(seed: int = 0, weights: tuple[float, ...] | None = None) -> EnvParams:
    return EnvParams(
        [
            EnvParamDim("row_bytes", (64, 512, 4096), weights),
            EnvParamDim("disk", ("ssd", "hdd")),
        ],
        seed=seed,
    )


def _workload(seed: int = 3) -> WorkloadSpec:
    return WorkloadSpec.model_validate(
        {
            "name": "w",
            "command": ["true"],
            "params": {"mode": ["a", "b"], "row_bytes": [64, 512], "rows": 10},
            "env": {"DISK": ["ssd", "hdd", "nvme"], "THREADS": [1, 2]},
            "env_params": {"row_bytes": {"weights": [0.25, 0.75]}, "DISK": {}},
            "agent": {"seed": seed},
        }
    )


def test_same_seed_name_trial_gives_same_draw_across_instances():
    a, b = _env(seed=11), _env(seed=11)
    assert [a.sample(t) for t in TRIALS] == [b.sample(t) for t in TRIALS]
    # the order of queries does not matter: a draw depends on the trial only
    assert [a.sample(t) for t in reversed(TRIALS)] == [b.sample(t) for t in TRIALS][::-1]


def test_draws_repeat_in_another_process():
    env = _env(seed=5)
    here = [env.sample(t) for t in TRIALS]
    code = (
        "import json\n"
        "from tunegym.env_params import EnvParamDim, EnvParams\n"
        "env = EnvParams([EnvParamDim('row_bytes', (64, 512, 4096)),"
        " EnvParamDim('disk', ('ssd', 'hdd'))], seed=5)\n"
        "print(json.dumps([env.sample(t) for t in range(1, 201)]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONHASHSEED": "random", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == here


def test_different_seeds_give_different_draws():
    draws = {seed: [_env(seed).sample(t) for t in TRIALS] for seed in (0, 1, 2)}
    assert draws[0] != draws[1] != draws[2] != draws[0]


def test_different_names_draw_independently():
    assert [draw_uniform(0, "a", t) for t in TRIALS] != [draw_uniform(0, "b", t) for t in TRIALS]
    us = [draw_uniform(9, "a", t) for t in range(5000)]
    assert all(0.0 <= u < 1.0 for u in us)
    assert 0.47 < sum(us) / len(us) < 0.53


def test_unweighted_draws_cover_all_values_evenly():
    counts = Counter(_env(seed=4).sample(t)["row_bytes"] for t in range(1, 6001))
    assert set(counts) == {64, 512, 4096}
    for n in counts.values():
        assert abs(n / 6000 - 1 / 3) < 0.03


def test_weights_are_honoured_in_frequency():
    env = EnvParams([EnvParamDim("disk", ("ssd", "hdd"), (0.9, 0.1))], seed=1)
    counts = Counter(env.sample(t)["disk"] for t in range(1, 5001))
    assert abs(counts["ssd"] / 5000 - 0.9) < 0.02
    assert abs(counts["hdd"] / 5000 - 0.1) < 0.02


@pytest.mark.parametrize(
    "weights",
    [(0.5, 0.0, 0.5), (0.0, 0.5, 0.5), (0.5, 0.5, 0.0), (0.0, 1.0, 0.0)],
    ids=["middle", "first", "last", "two-zeros"],
)
def test_zero_weight_values_are_never_drawn(weights):
    env = _env(seed=2, weights=weights)
    drawn = {env.sample(t)["row_bytes"] for t in range(0, 5000)}
    allowed = {v for v, w in zip((64, 512, 4096), weights, strict=True) if w > 0}
    assert drawn == allowed


def test_pick_at_extreme_quantiles_respects_zero_weights():
    dim = EnvParamDim("x", ("a", "b", "c"), (0.0, 1.0, 0.0))
    assert dim.pick(0.0) == "b"
    assert dim.pick(1.0 - 2.0**-53) == "b"
    plain = EnvParamDim("y", ("a", "b", "c"))
    assert (plain.pick(0.0), plain.pick(0.5), plain.pick(1.0 - 2.0**-53)) == ("a", "b", "c")


def test_bad_dims_are_rejected():
    with pytest.raises(ValueError, match="no values"):
        EnvParamDim("x", ())
    with pytest.raises(ValueError, match="2 weights for 3 values"):
        EnvParamDim("x", (1, 2, 3), (0.5, 0.5))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("x", (1, 2), (-1.0, 2.0)), "env param 'x': weights must be finite and non-negative"),
        (("x", (1, 2), (float("nan"), 1.0)), "weights must be finite and non-negative"),
        (("x", (1, 2), (float("inf"), 1.0)), "weights must be finite and non-negative"),
        (("x", (1, 2), (True, 1.0)), "weights must be finite and non-negative"),
        (("x", (1, 2), ("1", 1.0)), "weights must be finite and non-negative"),
        (("x", (1, 2), (0.0, 0.0)), "env param 'x': weights sum to 0, so nothing is drawn"),
        (("x", (1, 2), 0.5), "env param 'x': weights must be a sequence, got 0.5"),
        (("x", "ab"), "env param 'x': values must be a sequence, got 'ab'"),
        (("x", ({},)), "values must be strings, finite numbers or booleans, got {}"),
        (("x", (None,)), "values must be strings, finite numbers or booleans, got None"),
        (("x", (float("nan"),)), "values must be strings, finite numbers or booleans, got nan"),
        (("", (1,)), "env param name must be a non-empty string, got ''"),
        ((3, (1,)), "env param name must be a non-empty string, got 3"),
    ],
)
def test_a_dim_that_cannot_be_drawn_from_is_a_usage_error_naming_it(args, message):
    # Negative, NaN or all-zero weights drew the last value every time; a dict value or
    # a nameless param was taken as is.
    with pytest.raises(UsageError, match=re.escape(message)):
        EnvParamDim(*args)


def test_two_dims_with_one_name_are_refused():
    # The later draw replaced the earlier one in every trial's env params.
    with pytest.raises(UsageError, match=r"env params: two dims are named 'disk'"):
        EnvParams([EnvParamDim("disk", ("ssd",)), EnvParamDim("disk", ("hdd",))])
    with pytest.raises(UsageError, match=r"env params\[0\] must be an EnvParamDim"):
        EnvParams([("disk", ("ssd",))])  # type: ignore[list-item]
    with pytest.raises(UsageError, match=r"seed must be an integer, got '1'"):
        EnvParams([EnvParamDim("disk", ("ssd",))], seed="1")  # type: ignore[arg-type]


def test_lists_are_taken_as_tuples_and_weights_need_not_sum_to_one():
    dim = EnvParamDim("x", [1, 2], [1, 3])  # type: ignore[arg-type]
    assert (dim.values, dim.weights) == ((1, 2), (1, 3))
    assert [dim.pick(u) for u in (0.0, 0.24, 0.26, 0.99)] == [1, 1, 2, 2]


def test_from_workload_uses_agent_seed_and_weights():
    workload = _workload(seed=3)
    env = EnvParams.from_workload(workload)
    assert env.seed == 3
    assert bool(env)
    assert sorted(env.names) == ["DISK", "row_bytes"]
    assert dict(env.values_of()) == {"row_bytes": (64, 512), "DISK": ("ssd", "hdd", "nvme")}
    same = EnvParams.from_workload(_workload(seed=99), seed=3)
    assert [env.sample(t) for t in TRIALS] == [same.sample(t) for t in TRIALS]
    counts = Counter(env.sample(t)["row_bytes"] for t in range(1, 4001))
    assert abs(counts[512] / 4000 - 0.75) < 0.03


def test_workload_without_env_params_is_falsy():
    workload = WorkloadSpec.model_validate({"name": "w", "command": ["true"]})
    env = EnvParams.from_workload(workload)
    assert not env
    assert env.sample(1) == {}


def test_env_params_leave_the_action_space():
    workload = _workload()
    space = SearchSpace.from_workload(workload)
    assert space.names == ["mode", "THREADS"]
    assert "row_bytes" not in space.fixed and "DISK" not in space.fixed
    assert space.size == 4
    for action in space.grid():
        assert "row_bytes" not in action and "DISK" not in action
    env = EnvParams.from_workload(workload)
    drawn = env.sample(7)
    params = space.params({"mode": "b", "THREADS": 2}, drawn)
    assert params["row_bytes"] == drawn["row_bytes"] and params["DISK"] == drawn["DISK"]
    assert params["rows"] == 10
    assert not space.contains({"mode": "b", "THREADS": 2, "row_bytes": 64})
