"""SearchSpace: grids, sampling, canonical actions, cache keys and fixed values."""

from __future__ import annotations

import itertools
import math
import statistics

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunegym.space import Categorical, Continuous, SearchSpace, cache_key
from tunegym.spec import WorkloadSpec


def _space() -> SearchSpace:
    return SearchSpace(
        {
            "mode": Categorical("mode", ("wal", "delete", "off")),
            "threads": Continuous("threads", 1, 4, "int"),
            "flag": Categorical("flag", (True, False)),
        },
        fixed={"rows": 100},
    )


def _workload(**params: object) -> WorkloadSpec:
    return WorkloadSpec.model_validate({"name": "w", "command": ["true"], "params": params})


# -- grid --------------------------------------------------------------------------------------
def test_grid_order_and_size_last_dimension_fastest():
    space = _space()
    assert space.size == 3 * 4 * 2
    expected = [
        {"mode": m, "threads": t, "flag": f}
        for m, t, f in itertools.product(("wal", "delete", "off"), range(1, 5), (True, False))
    ]
    grid = list(space.grid())
    assert grid == expected
    assert list(grid[0]) == ["mode", "threads", "flag"]


def test_int_range_enumerates_every_integer():
    dim = Continuous("n", -2, 3, "int")
    assert dim.size == 6
    assert dim.values == (-2, -1, 0, 1, 2, 3)
    assert all(type(v) is int for v in dim.values)
    assert [a["n"] for a in SearchSpace({"n": dim}).grid()] == [-2, -1, 0, 1, 2, 3]


def test_float_range_has_no_grid_and_error_names_the_dim():
    space = SearchSpace(
        {"mode": Categorical("mode", ("a", "b")), "ratio": Continuous("ratio", 0.0, 1.0)}
    )
    assert space.size is None
    assert not space.is_categorical
    with pytest.raises(ValueError, match="ratio"):
        list(space.grid())
    with pytest.raises(ValueError, match="ratio"):
        space.index_of({"mode": "a", "ratio": 0.5})
    with pytest.raises(ValueError, match="ratio"):
        _ = space.dimensions["ratio"].values  # type: ignore[union-attr]


def test_empty_space_has_one_empty_action():
    space = SearchSpace({}, fixed={"rows": 1})
    assert space.is_empty
    assert list(space.grid()) == [{}]
    assert space.params({}, {}) == {"rows": 1}


def test_action_at_rejects_index_past_the_end():
    space = _space()
    assert space.action_at(space.size - 1) == {"mode": "off", "threads": 4, "flag": False}
    with pytest.raises((IndexError, ValueError)):
        space.action_at(space.size)


_dims = st.lists(
    st.one_of(
        st.integers(1, 5).map(lambda n: ("cat", n)),
        st.tuples(st.integers(-5, 5), st.integers(0, 4)).map(lambda t: ("int", t)),
    ),
    min_size=1,
    max_size=4,
)


def _build(spec: list[tuple[str, object]]) -> SearchSpace:
    dims: dict[str, Categorical | Continuous] = {}
    for i, (kind, arg) in enumerate(spec):
        name = f"d{i}"
        if kind == "cat":
            dims[name] = Categorical(name, tuple(f"v{j}" for j in range(arg)))  # type: ignore[call-overload]
        else:
            low, width = arg  # type: ignore[misc]
            dims[name] = Continuous(name, low, low + width + 1, "int")
    return SearchSpace(dims)


@settings(max_examples=200, deadline=None)
@given(spec=_dims, data=st.data())
def test_action_at_and_index_of_are_inverse(spec, data):
    space = _build(spec)
    assert space.size is not None
    index = data.draw(st.integers(0, space.size - 1))
    action = space.action_at(index)
    assert space.contains(action)
    assert space.index_of(action) == index
    assert space.action_at(space.index_of(action)) == action


@settings(max_examples=50, deadline=None)
@given(spec=_dims)
def test_grid_enumerates_each_action_once(spec):
    space = _build(spec)
    grid = list(space.grid())
    assert len(grid) == space.size
    assert [space.index_of(a) for a in grid] == list(range(space.size))


# -- sampling ----------------------------------------------------------------------------------
def test_sample_stays_in_bounds_and_honours_dtype():
    space = SearchSpace(
        {
            "mode": Categorical("mode", ("a", "b", "c")),
            "n": Continuous("n", 2, 9, "int"),
            "x": Continuous("x", -1.5, 2.5),
            "lr": Continuous("lr", 1e-5, 1e-1, "float", log=True),
            "k": Continuous("k", 1, 1000, "int", log=True),
        }
    )
    rng = np.random.default_rng(0)
    samples = [space.sample(rng) for _ in range(2000)]
    for s in samples:
        assert space.contains(s)
        assert s["mode"] in ("a", "b", "c")
        assert type(s["n"]) is int and 2 <= s["n"] <= 9
        assert type(s["x"]) is float and -1.5 <= s["x"] <= 2.5
        assert type(s["lr"]) is float and 1e-5 <= s["lr"] <= 1e-1
        assert type(s["k"]) is int and 1 <= s["k"] <= 1000
    assert {s["n"] for s in samples} == set(range(2, 10))  # both ends reachable
    assert {s["mode"] for s in samples} == {"a", "b", "c"}


def test_log_sample_median_is_near_geometric_mean():
    rng = np.random.default_rng(1)
    floats = Continuous("lr", 1e-6, 1.0, log=True)
    median = statistics.median(floats.sample(rng) for _ in range(4000))
    assert math.isclose(math.log10(median), -3.0, abs_tol=0.25)  # sqrt(1e-6 * 1) = 1e-3

    ints = Continuous("k", 1, 10000, "int", log=True)
    median = statistics.median(ints.sample(rng) for _ in range(4000))
    assert 70 <= median <= 140  # geometric mean 100; a linear draw would give ~5000


def test_linear_sample_median_is_near_midpoint():
    rng = np.random.default_rng(2)
    dim = Continuous("x", 0.0, 100.0)
    assert abs(statistics.median(dim.sample(rng) for _ in range(4000)) - 50) < 5


def test_seeded_sample_is_deterministic():
    space = SearchSpace(
        {"mode": Categorical("mode", ("a", "b", "c")), "x": Continuous("x", 0.0, 1.0)}
    )
    first = [space.sample(np.random.default_rng(42)) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    run_a = [space.sample(rng) for rng in [np.random.default_rng(7)] for _ in range(20)]
    run_b = [space.sample(rng) for rng in [np.random.default_rng(7)] for _ in range(20)]
    assert run_a == run_b
    other = [space.sample(rng) for rng in [np.random.default_rng(8)] for _ in range(20)]
    assert other != run_a


# -- canonical actions ------------------------------------------------------------------------
def test_canonicalize_maps_one_and_one_point_zero_of_int_dim_together():
    space = SearchSpace(
        {
            "n": Continuous("n", 0, 10, "int"),
            "c": Categorical("c", (1, 2)),
            "x": Continuous("x", 0, 1),
        }
    )
    a = space.canonicalize({"n": 1.0, "c": 2.0, "x": 1})
    b = space.canonicalize({"n": 1, "c": 2, "x": 1.0})
    assert a == b == {"n": 1, "c": 2, "x": 1.0}
    assert type(a["n"]) is int and type(a["c"]) is int and type(a["x"]) is float
    assert space.canonicalize({"n": np.int64(3), "c": np.float64(1.0), "x": np.float32(0.5)}) == {
        "n": 3,
        "c": 1,
        "x": 0.5,
    }


def test_canonicalize_orders_keys_like_the_space():
    space = _space()
    action = space.canonicalize({"flag": True, "threads": 2, "mode": "off"})
    assert list(action) == ["mode", "threads", "flag"]


@pytest.mark.parametrize(
    ("dim", "value"),
    [
        (Categorical("c", (1, 2)), True),
        (Categorical("c", (True, False)), 1),
        (Categorical("c", (0, 1)), False),
        (Continuous("n", 0, 10, "int"), True),
        (Continuous("x", 0.0, 10.0), True),
    ],
    ids=[
        "true-vs-int-candidate",
        "one-vs-bool-candidate",
        "false-vs-zero",
        "true-int-dim",
        "true-float",
    ],
)
def test_true_is_not_one(dim, value):
    space = SearchSpace({dim.name: dim})
    with pytest.raises(ValueError, match=dim.name):
        space.canonicalize({dim.name: value})
    assert not space.contains({dim.name: value})


def test_strings_match_only_strings():
    space = SearchSpace({"c": Categorical("c", ("1", "wal", 2))})
    assert space.canonicalize({"c": "wal"}) == {"c": "wal"}
    assert space.canonicalize({"c": "1"}) == {"c": "1"}
    assert space.canonicalize({"c": 2.0}) == {"c": 2}
    for bad in (1, "2", "WAL"):
        with pytest.raises(ValueError, match="c"):
            space.canonicalize({"c": bad})
    with pytest.raises(ValueError, match="n"):
        SearchSpace({"n": Continuous("n", 0, 5, "int")}).canonicalize({"n": "3"})


def test_unknown_and_missing_keys_are_named():
    space = _space()
    with pytest.raises(ValueError, match="unknown") as info:
        space.canonicalize({"mode": "wal", "threads": 1, "flag": True, "bogus": 1})
    assert "bogus" in str(info.value)
    with pytest.raises(ValueError, match="missing") as info:
        space.canonicalize({"mode": "wal", "flag": True})
    assert "threads" in str(info.value)
    assert not space.contains({"mode": "wal", "flag": True})


@pytest.mark.parametrize("action", [["wal", 1, True], "wal", None])
def test_an_action_that_is_not_a_mapping_says_what_an_action_is(action):
    # a list used to be read as its items being unknown keys
    with pytest.raises(ValueError, match=r"an action maps each param to its value .*'mode'") as e:
        _space().canonicalize(action)
    assert str(e.value).endswith(f"got a {type(action).__name__}")


@pytest.mark.parametrize(
    ("dim", "value"),
    [
        (Continuous("n", 0, 10, "int"), 11),
        (Continuous("n", 0, 10, "int"), -1),
        (Continuous("n", 0, 10, "int"), 2.5),
        (Continuous("x", 0.0, 1.0), 1.0000001),
        (Continuous("x", 0.0, 1.0), float("nan")),
        (Continuous("x", 0.0, 1.0), float("inf")),
        (Categorical("c", ("a", "b")), "z"),
        (Categorical("c", (1, 2)), 3),
    ],
)
def test_out_of_range_values_raise_naming_the_dim(dim, value):
    space = SearchSpace({dim.name: dim})
    with pytest.raises(ValueError, match=f"^{dim.name}: "):
        space.canonicalize({dim.name: value})
    assert not space.contains({dim.name: value})


def test_range_bounds_are_inclusive():
    space = SearchSpace({"n": Continuous("n", 0, 10, "int"), "x": Continuous("x", 0.5, 1.5)})
    assert space.contains({"n": 0, "x": 0.5})
    assert space.contains({"n": 10, "x": 1.5})


# -- cache keys --------------------------------------------------------------------------------
def test_cache_key_same_for_one_and_one_point_zero_of_int_dim():
    space = SearchSpace({"n": Continuous("n", 0, 10, "int"), "c": Categorical("c", (1, 2))})
    a = cache_key(space.canonicalize({"n": 1, "c": 2}), {})
    b = cache_key(space.canonicalize({"n": 1.0, "c": 2.0}), {})
    assert a == b
    assert cache_key(space.canonicalize({"n": 2, "c": 2}), {}) != a


def test_cache_key_ignores_key_order():
    assert cache_key({"a": 1, "b": "x"}, {"e": 1, "f": 2}) == cache_key(
        {"b": "x", "a": 1}, {"f": 2, "e": 1}
    )


def test_cache_key_differs_for_different_env_params():
    action = {"mode": "wal"}
    assert cache_key(action, {"row_bytes": 64}) != cache_key(action, {"row_bytes": 512})
    assert cache_key(action, {}) != cache_key(action, {"row_bytes": 64})
    # an action value and an env param of the same name and value are not the same trial
    assert cache_key({"x": 1}, {}) != cache_key({}, {"x": 1})


def test_cache_key_keeps_bool_and_int_apart():
    assert cache_key({"c": True}, {}) != cache_key({"c": 1}, {})
    assert cache_key({"c": "1"}, {}) != cache_key({"c": 1}, {})


# -- fixed values and from_workload -----------------------------------------------------------
def test_fixed_values_are_in_params_but_never_in_the_action():
    workload = _workload(
        mode=["wal", "off"], threads={"low": 1, "high": 3, "dtype": "int"}, rows=100, tag="x"
    )
    space = SearchSpace.from_workload(workload)
    assert space.names == ["mode", "threads"]
    assert space.fixed == {"rows": 100, "tag": "x"}
    assert space.size == 6
    for action in space.grid():
        assert set(action) == {"mode", "threads"}
    rng = np.random.default_rng(0)
    assert set(space.sample(rng)) == {"mode", "threads"}
    with pytest.raises(ValueError, match="rows"):
        space.canonicalize({"mode": "wal", "threads": 1, "rows": 100})
    params = space.params({"mode": "off", "threads": 2}, {"size": 7})
    assert params == {"rows": 100, "tag": "x", "mode": "off", "threads": 2, "size": 7}


def test_from_workload_includes_env_table_dimensions():
    workload = WorkloadSpec.model_validate(
        {
            "name": "w",
            "command": ["true"],
            "params": {"mode": ["a", "b"]},
            "env": {"OMP": [1, 2, 4], "LANG": "C"},
        }
    )
    space = SearchSpace.from_workload(workload)
    assert space.names == ["mode", "OMP"]
    assert space.dimensions["OMP"].source == "env"
    assert space.fixed == {"LANG": "C"}
    assert space.size == 6


def test_from_workload_builds_continuous_dims():
    workload = _workload(
        lr={"low": 1e-4, "high": 1e-1, "log": True}, n={"low": 1, "high": 5, "dtype": "int"}
    )
    space = SearchSpace.from_workload(workload)
    lr, n = space.dimensions["lr"], space.dimensions["n"]
    assert isinstance(lr, Continuous) and lr.log and lr.dtype == "float"
    assert isinstance(n, Continuous) and n.dtype == "int" and n.size == 5
    assert space.size is None


def test_a_name_cannot_be_fixed_and_searched():
    with pytest.raises(ValueError, match="rows"):
        SearchSpace({"rows": Categorical("rows", (1, 2))}, fixed={"rows": 3})


def test_index_keeps_bools_apart_from_equal_numbers() -> None:
    space = SearchSpace({"a": Categorical("a", (0, False, 1, True)), "b": Categorical("b", ("x",))})
    assert [space.index_of(space.action_at(i)) for i in range(4)] == [0, 1, 2, 3]
    assert space.dimensions["a"].index(True) == 3 and space.dimensions["a"].index(1.0) == 2


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Continuous("x", 5, -5), r"^x: low \(5\) must be less than high \(-5\)$"),
        (lambda: Continuous("x", 1, 1), r"^x: low \(1\) must be less than high \(1\)$"),
        (lambda: Continuous("x", math.nan, 1), r"^x: low and high must be finite numbers$"),
        (lambda: Continuous("x", 0, math.inf), r"^x: low and high must be finite numbers$"),
        (lambda: Continuous("x", -1, 1, log=True), r"^x: log = true needs low > 0, got low = -1$"),
        (lambda: Continuous("x", 0.5, 3, "int"), r'^x: dtype = "int" needs integer bounds'),
        (lambda: Continuous("x", 0, 1, "double"), r'^x: dtype must be "float" or "int"'),  # type: ignore[arg-type]
        (lambda: Continuous("x", "0", 1), r"^x: low must be a number, got '0'$"),  # type: ignore[arg-type]
        (lambda: Continuous("x", 0, True), r"^x: high must be a number, got True$"),
        (lambda: Categorical("m", ()), r"^m: give at least one candidate value$"),
        (lambda: Categorical("m", ("a", "a")), r"^m: candidate values must be distinct"),
        (lambda: Categorical("m", (1, 1.0)), r"^m: candidate values must be distinct"),
        (lambda: Categorical("m", "abc"), r"^m: candidate values must be a tuple of values"),  # type: ignore[arg-type]
        (lambda: Categorical("m", (None,)), r"^m: a candidate is a string, number or bool"),  # type: ignore[arg-type]
        (lambda: Categorical("m", (math.nan,)), r"^m: a candidate is a string, number or bool"),
        (lambda: SearchSpace({"x": Continuous("y", 0, 1)}), r"^x: the dimension under this key"),
        (lambda: SearchSpace({"x": (0, 1)}), r"^x: a dimension is a Categorical or a Continuous"),  # type: ignore[dict-item]
    ],
)
def test_a_dimension_built_in_python_is_checked_as_a_workload_file_is(build, message) -> None:
    from tunegym.errors import UsageError

    with pytest.raises(UsageError, match=message):
        build()


def test_a_list_of_candidates_is_kept_as_a_tuple() -> None:
    dim = Categorical("m", ["a", "b"])  # type: ignore[arg-type]
    assert dim.values == ("a", "b") and dim.index("b") == 1
