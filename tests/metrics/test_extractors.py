"""Tests for tunegym.metrics.extractors: regex, json and csv metric sources."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegym.metrics import MetricSource, build_extractor, extract_all, extract_metrics


def extract(kind: str, source: str, tmp: Path, stdout: str = "") -> float | None:
    return build_extractor(MetricSource("m", kind, source)).extract(tmp, stdout)  # type: ignore[arg-type]


# --- regex ----------------------------------------------------------------------------


def test_regex_last_match_wins(tmp_path: Path) -> None:
    stdout = "progress: 10.0\nprogress: 20.5\nprogress: 30.25\n"
    assert extract("regex", r"progress: (\S+)", tmp_path, stdout) == 30.25


def test_regex_uses_group_one_not_whole_match(tmp_path: Path) -> None:
    stdout = "run 7 took 2.5 s\n"
    assert extract("regex", r"run \d+ took ([\d.]+) s", tmp_path, stdout) == 2.5
    assert extract("regex", r"(\d+) took ([\d.]+)", tmp_path, stdout) == 7.0


def test_regex_without_a_capture_group_is_refused() -> None:
    with pytest.raises(ValueError, match=r"metric 'm'.*no capture group.*parentheses"):
        build_extractor(MetricSource("m", "regex", r"[\d.]+(?= rows/s)"))


def test_regex_no_match_is_missing(tmp_path: Path) -> None:
    assert extract("regex", r"tput: (\d+)", tmp_path, "nothing here") is None


@pytest.mark.parametrize("text", ["tput: abc", "tput: nan", "tput: inf", "tput: "])
def test_regex_non_numeric_or_non_finite_is_missing(tmp_path: Path, text: str) -> None:
    assert extract("regex", r"tput: (\S*)", tmp_path, text) is None


@pytest.mark.parametrize("text", ["1_000", "\u0661\u0662", "0x10", "1e5x"])
def test_only_ascii_decimal_numbers_are_values(tmp_path: Path, text: str) -> None:
    """Python's float() takes '1_000' and Arabic-Indic digits: no benchmark means them."""
    assert extract("regex", r"tput: (\S+)", tmp_path, f"tput: {text}") is None
    (tmp_path / "out.csv").write_text(f"tput\n{text}\n")
    assert extract("csv", "out.csv:tput", tmp_path) is None


@pytest.mark.parametrize("text", ["12", "-1.5e3", ".5", "+3.", "  7  "])
def test_decimal_numbers_in_text_are_values(tmp_path: Path, text: str) -> None:
    assert extract("regex", r"tput: (.+)", tmp_path, f"tput: {text}") == float(text)


def test_a_last_match_that_is_no_number_says_so(tmp_path: Path) -> None:
    metric = build_extractor(MetricSource("tput", "regex", r"tput: (\S+)"))
    readout = extract_metrics([metric], tmp_path, "tput: 5\ntput: nan\n")
    assert readout.missing == ["tput"]
    assert readout.reasons == {"tput": "metric 'tput': its last match 'nan' is not a finite number"}


def test_regex_last_match_wins_even_when_it_is_not_a_number(tmp_path: Path) -> None:
    assert extract("regex", r"tput: (\S+)", tmp_path, "tput: 5\ntput: n/a\n") is None


def test_regex_optional_group_that_did_not_match_is_missing(tmp_path: Path) -> None:
    assert extract("regex", r"tput(?:: (\d+))?", tmp_path, "tput") is None


def test_regex_inline_multiline_flag(tmp_path: Path) -> None:
    stdout = "x 1\nresult 2\nresult 3 (warm)\n"
    assert extract("regex", r"(?m)^result (\d+)$", tmp_path, stdout) == 2.0


@pytest.mark.parametrize("pattern", ["(unclosed", "[a-", "*x", ""])
def test_invalid_regex_is_a_value_error_naming_the_metric(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"metric 'tput'.*regex"):
        build_extractor(MetricSource("tput", "regex", pattern))


# --- json -----------------------------------------------------------------------------


def write_json(folder: Path, name: str, document: object) -> None:
    (folder / name).write_text(json.dumps(document), encoding="utf-8")


def test_json_file_dotted_path(tmp_path: Path) -> None:
    write_json(tmp_path, "out.json", {"summary": {"tput": 123.5, "lat": {"p99": 7}}})
    assert extract("json", "out.json:summary.tput", tmp_path) == 123.5
    assert extract("json", "out.json:summary.lat.p99", tmp_path) == 7.0


def test_json_file_in_subfolder(tmp_path: Path) -> None:
    (tmp_path / "res").mkdir()
    write_json(tmp_path / "res", "r.json", {"v": 1})
    assert extract("json", "res/r.json:v", tmp_path) == 1.0


def test_json_list_index(tmp_path: Path) -> None:
    write_json(tmp_path, "r.json", {"results": [{"tput": 1.0}, {"tput": 2.0}, {"tput": 3.0}]})
    assert extract("json", "r.json:results.0.tput", tmp_path) == 1.0
    assert extract("json", "r.json:results.2.tput", tmp_path) == 3.0
    assert extract("json", "r.json:results.-1.tput", tmp_path) == 3.0
    assert extract("json", "r.json:results.9.tput", tmp_path) is None
    assert extract("json", "r.json:results.x.tput", tmp_path) is None


def test_json_dict_key_that_looks_like_an_index(tmp_path: Path) -> None:
    write_json(tmp_path, "r.json", {"0": {"v": 4}})
    assert extract("json", "r.json:0.v", tmp_path) == 4.0


def test_json_missing_file_is_missing(tmp_path: Path) -> None:
    assert extract("json", "absent.json:a", tmp_path) is None


def test_json_directory_instead_of_file_is_missing(tmp_path: Path) -> None:
    (tmp_path / "d.json").mkdir()
    assert extract("json", "d.json:a", tmp_path) is None


def test_json_missing_path_is_missing(tmp_path: Path) -> None:
    write_json(tmp_path, "r.json", {"a": {"b": 1}})
    assert extract("json", "r.json:a.c", tmp_path) is None
    assert extract("json", "r.json:a.b.c", tmp_path) is None


@pytest.mark.parametrize("value", [True, False, None, "fast", [1], {"x": 1}, float("inf")])
def test_json_non_numeric_values_are_missing(tmp_path: Path, value: object) -> None:
    write_json(tmp_path, "r.json", {"v": value})
    assert extract("json", "r.json:v", tmp_path) is None


def test_json_numeric_string_is_a_number(tmp_path: Path) -> None:
    write_json(tmp_path, "r.json", {"v": " 42.5 "})
    assert extract("json", "r.json:v", tmp_path) == 42.5


@pytest.mark.parametrize("content", ["{not json", "", '{"v": 1', b"\xff\xfe\x00"])
def test_json_corrupt_file_is_missing(tmp_path: Path, content: str | bytes) -> None:
    path = tmp_path / "r.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    assert extract("json", "r.json:v", tmp_path) is None


def test_json_stdout_pure_document(tmp_path: Path) -> None:
    stdout = json.dumps({"results": [{"tput": 9.5}]}, indent=2)
    assert extract("json", "stdout:results.0.tput", tmp_path, stdout) == 9.5


def test_json_stdout_uses_last_object_line(tmp_path: Path) -> None:
    stdout = 'warming up\n{"tput": 1}\nprogress 50%\n{"tput": 2}\n[1, 2]\n{broken\ndone\n'
    assert extract("json", "stdout:tput", tmp_path, stdout) == 2.0


def test_json_stdout_top_level_list(tmp_path: Path) -> None:
    assert extract("json", "stdout:1.v", tmp_path, '[{"v": 1}, {"v": 2}]') == 2.0


def test_json_stdout_without_json_is_missing(tmp_path: Path) -> None:
    assert extract("json", "stdout:tput", tmp_path, "tput=5\n") is None
    assert extract("json", "stdout:tput", tmp_path, "") is None


def test_json_stdout_does_not_read_a_file_named_stdout(tmp_path: Path) -> None:
    write_json(tmp_path, "stdout", {"tput": 1})
    assert extract("json", "stdout:tput", tmp_path, '{"tput": 5}') == 5.0


@pytest.mark.parametrize(
    "source", ["out.json", "out.json:", ":a.b", "out.json:a..b", "stdout:", "out.json:.a"]
)
def test_json_bad_source_is_a_value_error_with_expected_form(source: str) -> None:
    with pytest.raises(ValueError, match=r"metric 'tput'.*expected 'file.json:dotted.path'"):
        build_extractor(MetricSource("tput", "json", source))


# --- csv ------------------------------------------------------------------------------


def write_csv(folder: Path, text: str, name: str = "r.csv") -> None:
    (folder / name).write_text(text, encoding="utf-8")


CSV = "step,tput,lat\n1,10,5\n2,30,4\n3,20,6\n"


def test_csv_last_row(tmp_path: Path) -> None:
    write_csv(tmp_path, CSV)
    assert extract("csv", "r.csv:tput", tmp_path) == 20.0
    assert extract("csv", "r.csv:lat", tmp_path) == 6.0


@pytest.mark.parametrize(
    ("aggregate", "expected"),
    [("mean", 20.0), ("min", 10.0), ("max", 30.0), ("first", 10.0), ("last", 20.0), ("sum", 60.0)],
)
def test_csv_aggregates(tmp_path: Path, aggregate: str, expected: float) -> None:
    write_csv(tmp_path, CSV)
    assert extract("csv", f"r.csv:tput:{aggregate}", tmp_path) == expected


def test_csv_column_missing_is_missing(tmp_path: Path) -> None:
    write_csv(tmp_path, CSV)
    assert extract("csv", "r.csv:nope", tmp_path) is None
    assert extract("csv", "r.csv:nope:mean", tmp_path) is None


def test_csv_missing_file_is_missing(tmp_path: Path) -> None:
    assert extract("csv", "absent.csv:tput", tmp_path) is None


@pytest.mark.parametrize("text", ["", "step,tput\n", "\n\n"])
def test_csv_empty_or_header_only_is_missing(tmp_path: Path, text: str) -> None:
    write_csv(tmp_path, text)
    assert extract("csv", "r.csv:tput", tmp_path) is None
    assert extract("csv", "r.csv:tput:mean", tmp_path) is None


def test_csv_short_last_row_is_missing(tmp_path: Path) -> None:
    write_csv(tmp_path, "step,tput\n1,10\n2\n")
    assert extract("csv", "r.csv:tput", tmp_path) is None


def test_csv_aggregate_with_a_non_numeric_row_is_missing(tmp_path: Path) -> None:
    write_csv(tmp_path, "step,tput\n1,10\n2,NA\n3,20\n")
    assert extract("csv", "r.csv:tput:mean", tmp_path) is None
    # Without an aggregate only the last row counts.
    assert extract("csv", "r.csv:tput", tmp_path) == 20.0


def test_csv_header_whitespace_bom_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_bytes("\ufeffstep, tput\r\n1, 10\r\n\r\n2, 12.5\r\n\r\n".encode())
    assert extract("csv", "r.csv:tput", tmp_path) == 12.5
    assert extract("csv", "r.csv:step:sum", tmp_path) == 3.0


def test_csv_quoted_fields(tmp_path: Path) -> None:
    write_csv(tmp_path, 'name,tput\n"a, b",1\n"c ""d""",2\n')
    assert extract("csv", "r.csv:tput:max", tmp_path) == 2.0


@pytest.mark.parametrize("source", ["r.csv", "r.csv:", ":tput", "r.csv:tput:median", "a:b:c:d"])
def test_csv_bad_source_is_a_value_error(source: str) -> None:
    with pytest.raises(ValueError, match=r"metric 'tput'.*(expected|aggregate)"):
        build_extractor(MetricSource("tput", "csv", source))


def test_unknown_kind_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="expected regex, json or csv"):
        build_extractor(MetricSource("tput", "xml", "a"))  # type: ignore[arg-type]


# --- extract_all ----------------------------------------------------------------------


def test_extract_all_splits_found_and_missing_in_order(tmp_path: Path) -> None:
    write_json(tmp_path, "r.json", {"lat": 3})
    extractors = [
        build_extractor(MetricSource("tput", "regex", r"tput=(\d+)")),
        build_extractor(MetricSource("gone", "csv", "none.csv:x")),
        build_extractor(MetricSource("lat", "json", "r.json:lat")),
        build_extractor(MetricSource("bad", "regex", r"bad=(\w+)")),
    ]
    found, missing = extract_all(extractors, tmp_path, "tput=7 bad=x")
    assert found == {"tput": 7.0, "lat": 3.0}
    assert missing == ["gone", "bad"]
    assert all(isinstance(v, float) for v in found.values())


def test_extract_all_with_nothing() -> None:
    assert extract_all([], Path("/nonexistent"), "") == ({}, [])


# --- bounded regex search (issue 13) ----------------------------------------------------
CATASTROPHIC = r"^(a|aa)+$"  # exponential backtracking on 'aaa...a!' in a backtracking engine


def test_a_catastrophic_regex_is_stopped_and_says_why(tmp_path: Path) -> None:
    extractor = build_extractor(MetricSource("m", "regex", CATASTROPHIC, timeout_s=0.2))
    readout = extract_metrics([extractor], tmp_path, "a" * 60 + "!")
    assert readout.found == {} and readout.missing == ["m"]
    assert (
        "longer than 0.2 s" in readout.reasons["m"] and "regex_timeout_s" in readout.why_missing()
    )


def test_the_issue_pattern_ends_without_a_match(tmp_path: Path) -> None:
    # ^(a+)+$ over 28 a's and a '!' hung the run forever with the standard re module.
    extractor = build_extractor(MetricSource("m", "regex", r"^(a+)+$", timeout_s=5))
    readout = extract_metrics([extractor], tmp_path, "a" * 28 + "!")
    assert readout.missing == ["m"] and readout.reasons == {}


def test_a_bounded_search_still_reads_long_output(tmp_path: Path) -> None:
    stdout = "step loss=0.5\n" * 200_000 + "final loss=0.125\n"
    assert extract("regex", r"loss=([0-9.]+)", tmp_path, stdout) == 0.125


def test_regex_search_releases_the_gil_for_parallel_trials(tmp_path: Path) -> None:
    """While one trial's regex runs out its time, another thread keeps working."""
    import threading
    import time

    extractor = build_extractor(MetricSource("m", "regex", CATASTROPHIC, timeout_s=1.0))
    ticks = 0
    stop = threading.Event()

    def count() -> None:
        nonlocal ticks
        while not stop.is_set():
            ticks += 1
            time.sleep(0.01)

    worker = threading.Thread(target=count)
    worker.start()
    try:
        extractor.extract(tmp_path, "a" * 60 + "!")
    finally:
        stop.set()
        worker.join()
    assert ticks >= 20  # the other thread ran during the (at least 1 s) search


@pytest.mark.parametrize(
    ("source", "files", "stdout", "why"),
    [
        ("json:r.json:a.b", {}, "", "the trial wrote no r.json (no such file in its folder)"),
        ("json:r.json:a.b", {"r.json": "{bad"}, "", "r.json is not JSON (Expecting property"),
        ("json:r.json:a.b", {"r.json": '{"a": {"c": 1}}'}, "", "r.json has no 'a.b'"),
        ("json:r.json:a.b", {"r.json": '{"a": 1}'}, "", "r.json has no 'a.b'"),
        ("json:r.json:a", {"r.json": '{"a": "x"}'}, "", "r.json holds \"x\" at 'a', not a finite"),
        ("json:stdout:a", {}, "hello", "stdout is not JSON and has no line holding a JSON object"),
        ("json:stdout:a", {}, '{"b": 1}', "stdout's JSON has no 'a'"),
        ("csv:r.csv:c", {}, "", "the trial wrote no r.csv"),
        ("csv:r.csv:c", {"r.csv": ""}, "", "r.csv is empty (no header row)"),
        ("csv:r.csv:c", {"r.csv": "a,b\n1,2\n"}, "", "r.csv has no column 'c' (its columns: a, b)"),
        ("csv:r.csv:c", {"r.csv": "a,c\n"}, "", "r.csv has a header but no row"),
        ("csv:r.csv:c", {"r.csv": "a,c\n1,x\n"}, "", "r.csv line 2: 'c' is 'x', not a finite"),
    ],
)
def test_a_missing_json_or_csv_metric_says_why(
    tmp_path: Path, source: str, files: dict[str, str], stdout: str, why: str
) -> None:
    # Only regex metrics said why; these gave "metric(s) not found" and nothing more.
    kind, spec = source.split(":", 1)
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    readout = extract_metrics([build_extractor(MetricSource("m", kind, spec))], tmp_path, stdout)  # type: ignore[arg-type]
    assert readout.missing == ["m"]
    assert readout.reasons["m"].startswith(f"metric 'm': {why}")
