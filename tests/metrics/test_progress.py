"""ProgressReader: only what was appended since the last read, partial lines wait."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tunegym.metrics.progress import ProgressReader, ProgressSource, progress_regex_problem


def test_regex_points_are_read_as_they_are_appended(tmp_path: Path) -> None:
    out = tmp_path / "stdout.txt"
    reader = ProgressReader(ProgressSource("loss", regex=r"epoch (\d+) loss=(\S+)"), tmp_path)
    assert reader.read_new() == []  # no file yet
    out.write_text("starting\nepoch 1 loss=0.9\nepoch 2 lo")
    assert reader.read_new() == [(1, 0.9)]  # the partial line waits
    with out.open("a") as fh:
        fh.write("ss=0.7\nepoch 2 loss=0.1\nepoch 3 loss=nan\nepoch 4 loss=0.5\n")
    # a repeated step and a non-finite value are dropped
    assert reader.read_new() == [(2, 0.7), (4, 0.5)]
    assert reader.read_new() == []


def test_named_groups_may_come_in_any_order(tmp_path: Path) -> None:
    (tmp_path / "stdout.txt").write_text("acc=0.5 at 10\nacc=0.6 at 20")
    source = ProgressSource("acc", regex=r"acc=(?P<value>\S+) at (?P<step>\d+)")
    reader = ProgressReader(source, tmp_path)
    assert reader.read_new() == [(10, 0.5)]
    assert reader.read_new(final=True) == [(20, 0.6)]  # the trial ended: last line counts


def test_json_lines_use_the_metric_name_or_value(tmp_path: Path) -> None:
    lines = [{"step": 1, "loss": 2.0}, {"step": 2, "value": 1.5}, "junk", [1], {"step": "x"}]
    text = "\n".join(json.dumps(x) if not isinstance(x, str) else x for x in lines) + "\n"
    (tmp_path / "p.jsonl").write_text(text)
    reader = ProgressReader(ProgressSource("loss", file="p.jsonl"), tmp_path)
    assert reader.read_new() == [(1, 2.0), (2, 1.5)]


@pytest.mark.parametrize(
    ("pattern", "says"),
    [
        (r"epoch (\d+)", "needs two groups"),
        (r"(\d+) (\S+) (\S+)", "it has 3"),
        (r"epoch (\d+ loss=(\S+)", "not a valid regular expression"),
    ],
)
def test_bad_progress_regexes_say_why(pattern: str, says: str) -> None:
    problem = progress_regex_problem(pattern)
    assert problem is not None and says in problem


def test_a_source_is_a_regex_or_a_file() -> None:
    with pytest.raises(ValueError):
        ProgressSource("loss")
    assert progress_regex_problem(r"(?P<step>\d+) (?P<value>\S+) (x)") is None
