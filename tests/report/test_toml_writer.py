"""toml_writer.dumps: everything it writes reads back with tomllib, unchanged."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunegym.outputs.toml import dumps
from tunegym.spec import load

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_WORKLOAD = ROOT / "examples" / "sqlite-insert" / "workload.toml"


def roundtrip(data: dict) -> dict:
    text = dumps(data)
    assert text.endswith("\n")
    return tomllib.loads(text)


def test_scalars_and_lists():
    data = {
        "name": "bench",
        "count": 3,
        "big": 2**62,
        "negative": -17,
        "on": True,
        "off": False,
        "ints": [1, 2, 3],
        "mixed": [1, 2.5, True, "x"],
        "nested": [[1, 2], ["a"], []],
        "empty": [],
        "inline": [{"a": 1}, 2],
    }
    assert roundtrip(data) == data


def test_bools_stay_bools():
    back = roundtrip({"t": True, "f": False, "l": [True, False]})
    assert back["t"] is True and back["f"] is False
    assert [type(v) for v in back["l"]] == [bool, bool]


@pytest.mark.parametrize(
    "value",
    [0.0, -0.0, 0.1, 1.0, 1.5, -2.25, 1e-7, 1e100, 5e-324, 1.7976931348623157e308, 123456.789],
)
def test_floats_round_trip_exactly(value):
    back = roundtrip({"x": value, "l": [value]})
    assert back["x"] == value and type(back["x"]) is float
    assert math.copysign(1.0, back["x"]) == math.copysign(1.0, value)
    assert back["l"] == [value]


def test_special_floats():
    back = roundtrip({"nan": float("nan"), "inf": float("inf"), "ninf": float("-inf")})
    assert math.isnan(back["nan"])
    assert back["inf"] == float("inf") and back["ninf"] == float("-inf")


def test_numpy_float_is_written_as_a_float():
    back = roundtrip({"x": np.float64(0.5), "l": [np.float64(2.0)]})
    assert back == {"x": 0.5, "l": [2.0]}


@pytest.mark.parametrize(
    "text",
    [
        'say "hi"',
        "back\\slash",
        "C:\\path\\to",
        "line1\nline2",
        "tab\there",
        "cr\rlf",
        "\b\f",
        "bell\x07 nul\x00 esc\x1b",
        "del\x7f",
        "unicode é ü 日本 🎉",
        "sep\u2028para\u2029",
        "'single' and '''triple'''",
        '"""',
        "{placeholder} {{literal}}",
        "",
        "# not a comment",
        "trailing backslash \\",
    ],
)
def test_strings_needing_escapes(text):
    assert roundtrip({"s": text, "l": [text]}) == {"s": text, "l": [text]}


@pytest.mark.parametrize(
    "key",
    [
        "a.b",
        "with space",
        "",
        'quote"d',
        "back\\slash",
        "é",
        "emoji 🎉",
        "\U00010000",
        "1.5",
        "#hash",
        "=",
        "[bracket]",
        "tab\tkey",
        "trailing-newline\n",
        "del\x7f",
    ],
)
def test_keys_needing_quotes(key):
    data = {key: 1, "table": {key: {key: "v"}}, "arr": [{key: True}]}
    assert roundtrip(data) == data


def test_bare_keys_stay_bare():
    assert dumps({"snake_case-1": 1}) == "snake_case-1 = 1\n"


def test_nested_tables():
    data = {
        "name": "w",
        "params": {"level": [1, 2], "span": {"low": 1.0, "high": 2.0, "dtype": "int"}},
        "agent": {
            "type": "grid",
            "config": {"start": "first"},
            "penalties": {"constraint_failure": -1e9, "metric_failure": -1e9},
        },
        "deep": {"a": {"b": {"c": {"d": 1}}}},
    }
    assert roundtrip(data) == data


def test_arrays_of_tables_with_nested_tables():
    data = {
        "name": "scen",
        "jobs": [
            {
                "workload": "a.toml",
                "params": {"level": [1, 2]},
                "metrics": [{"name": "m1", "regex": "x=(\\d+)"}, {"name": "m2", "json": "o:a"}],
            },
            {"workload": "b.toml", "agent": {"type": "random", "config": {"k": 1}}},
            {"workload": "c.toml"},
        ],
        "tail": {"after": "arrays"},
    }
    assert roundtrip(data) == data


def test_array_of_tables_inside_a_table():
    data = {"outer": {"items": [{"x": 1}, {"x": 2}], "flag": True}}
    assert roundtrip(data) == data


def test_none_values_are_left_out():
    assert roundtrip({"a": None, "b": 1, "t": {"c": None, "d": 2}}) == {"b": 1, "t": {"d": 2}}


def test_empty_tables_survive():
    data = {"env_params": {"row_bytes": {}}, "agent": {"config": {}}, "name": "w"}
    assert roundtrip(data) == data


def test_unsupported_value_types_raise():
    with pytest.raises(TypeError, match="set"):
        dumps({"x": {1, 2}})


def test_example_workload_round_trips_through_load(tmp_path):
    workload = load(EXAMPLE_WORKLOAD).jobs[0].workload
    data = workload.model_dump(by_alias=True, exclude_none=True, mode="json")
    path = tmp_path / "workload.toml"
    path.write_text(dumps(data))
    assert load(path).jobs[0].workload == workload


def test_workload_with_unweighted_env_param_round_trips_through_load(tmp_path):
    source = tmp_path / "src.toml"
    source.write_text(
        'name = "w"\ncommand = ["true"]\n[params]\nmode = ["a", "b"]\nsize = [1, 2]\n'
        "[env_params.size]\n"
    )
    workload = load(source).jobs[0].workload
    data = workload.model_dump(by_alias=True, exclude_none=True, mode="json")
    path = tmp_path / "again.toml"
    path.write_text(dumps(data))
    again = load(path).jobs[0].workload
    assert "size" in again.env_params
    assert again == workload


_keys = st.text(max_size=8)
_scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
_values = st.one_of(_scalars, st.lists(_scalars, max_size=4))
_tables = st.recursive(
    st.dictionaries(_keys, _values, max_size=4),
    lambda inner: st.dictionaries(
        _keys, st.one_of(_values, inner, st.lists(inner, min_size=1, max_size=3)), max_size=4
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(data=_tables)
def test_any_document_round_trips(data):
    assert roundtrip(data) == data
