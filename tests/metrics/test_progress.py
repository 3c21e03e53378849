"""ProgressReader: only what was appended since the last read, partial lines wait."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tunegym.metrics.progress import (
    FINAL_TAIL,
    MAX_LINE,
    ProgressReader,
    ProgressSource,
    progress_regex_problem,
)


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


def test_the_final_read_of_a_flood_reads_its_newest_part_to_the_end(tmp_path: Path) -> None:
    """More than :data:`FINAL_TAIL` left when the trial ends (a trial that floods its
    output in its last seconds): the last 4 MiB are read, to the end, so the trial is
    recorded in about a second, not minutes; the line the cut falls in is not taken for a
    whole one, and what was passed over is counted."""
    n = 250_000
    lines = "".join(f"epoch {e} loss=0.{e:09d}\n" for e in range(1, n + 1))
    assert len(lines) > FINAL_TAIL
    (tmp_path / "stdout.txt").write_text(lines + f"epoch {n + 1} loss=0.5")  # no newline
    reader = ProgressReader(ProgressSource("loss", regex=r"epoch (\d+) loss=(\S+)"), tmp_path)
    points = reader.read_new(final=True)
    first = points[0][0]
    assert [s for s, _ in points] == list(range(first, n + 2))  # none cut, the newest kept
    assert points[0] == (first, float(f"0.{first:09d}"))  # a whole line, not a cut one
    assert points[-1] == (n + 1, 0.5)  # the trial is over: its last line counts
    line = len(f"epoch {n} loss=0.{n:09d}\n")
    assert FINAL_TAIL - line < (n + 2 - first) * line <= FINAL_TAIL + line
    assert reader.skipped == len(lines) + len(f"epoch {n + 1} loss=0.5") - FINAL_TAIL


def test_a_line_longer_than_any_progress_line_is_passed_over(tmp_path: Path) -> None:
    """A trial printing a huge line without a newline (a progress bar's carriage returns,
    a dump) is not held in memory and parsed again at each read: it is passed over as it
    arrives, and the lines after it are read."""
    out = tmp_path / "stdout.txt"
    out.write_bytes(b"epoch 1 loss=0.9\n" + b"x" * (MAX_LINE + 10))
    reader = ProgressReader(ProgressSource("loss", regex=r"epoch (\d+) loss=(\S+)"), tmp_path)
    assert reader.read_new() == [(1, 0.9)]
    with out.open("ab") as fh:
        fh.write(b"x" * 3 * MAX_LINE + b" epoch 2 loss=0.1\nepoch 3 loss=0.05\n")
    assert reader.read_new() == [(3, 0.05)]  # the long line's end is not a line of its own


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_a_progress_file_that_is_not_a_regular_file_is_not_read(tmp_path: Path, kind: str) -> None:
    """A trial's FIFO would block the read, a link to ``/dev/zero`` never end it."""
    path = tmp_path / "progress.jsonl"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    reader = ProgressReader(ProgressSource("loss", file="progress.jsonl"), tmp_path)
    assert reader.read_new(final=True) == []
    assert reader.problem == (
        "the progress of 'loss' is read from progress.jsonl, which is not a regular file"
    )
    assert reader.why_missing(curve_empty=True) == reader.problem


def test_a_poll_reads_a_flood_over_several_reads(tmp_path: Path) -> None:
    lines = "".join(f"epoch {e} loss=1.{e:09d}\n" for e in range(1, 300_001))
    (tmp_path / "stdout.txt").write_text(lines)
    reader = ProgressReader(ProgressSource("loss", regex=r"epoch (\d+) loss=(\S+)"), tmp_path)
    first = reader.read_new()
    assert 0 < len(first) < 300_000  # one read's worth
    rest = reader.read_new() + reader.read_new(final=True)
    assert [s for s, _ in first + rest] == list(range(1, 300_001))
    assert reader.skipped == 0  # the final read had less than its limit left


@pytest.mark.parametrize(
    "line",
    [
        "epoch 9223372036854775808 loss=0.5",  # 2^63: more than SQLite stores
        "epoch 100000000000000000000001 loss=0.5",
        "epoch 1e300 loss=0.5",
        "epoch -3 loss=0.5",
        "epoch 2.5 loss=0.5",
        "epoch \u00b2 loss=0.5",  # a digit to str.isdigit(), not to int(): it crashed the reader
        "epoch 4 loss=1e999",
    ],
)
def test_steps_out_of_range_and_values_not_finite_are_ignored(tmp_path: Path, line: str) -> None:
    (tmp_path / "stdout.txt").write_text(f"epoch 1 loss=0.9\n{line}\nepoch 5 loss=0.4\n")
    reader = ProgressReader(ProgressSource("loss", regex=r"epoch (\S+) loss=(\S+)"), tmp_path)
    assert reader.read_new() == [(1, 0.9), (5, 0.4)]
    assert reader.unusable == 1


def test_the_largest_step_is_exact(tmp_path: Path) -> None:
    lines = ["epoch 9007199254740993 loss=0.5", "epoch 9223372036854775807 loss=0.4"]
    (tmp_path / "stdout.txt").write_text("\n".join(lines) + "\n")
    reader = ProgressReader(ProgressSource("loss", regex=r"epoch (\S+) loss=(\S+)"), tmp_path)
    assert reader.read_new() == [(2**53 + 1, 0.5), (2**63 - 1, 0.4)]  # not rounded by float


def test_json_steps_out_of_range_are_ignored(tmp_path: Path) -> None:
    records = [{"step": 1e300, "loss": 1.0}, {"step": 2**70, "loss": 1.0}, {"step": True}]
    text = "".join(json.dumps(r) + "\n" for r in [*records, {"step": 3.0, "loss": 0.2}])
    (tmp_path / "p.jsonl").write_text(text)
    reader = ProgressReader(ProgressSource("loss", file="p.jsonl"), tmp_path)
    assert reader.read_new() == [(3, 0.2)]


def test_lines_that_match_without_a_usable_point_say_so(tmp_path: Path) -> None:
    (tmp_path / "stdout.txt").write_text("epoch 1 loss=abc\nepoch 2 loss=nan\nother\n")
    reader = ProgressReader(ProgressSource("loss", regex=r"epoch (\S+) loss=(\S+)"), tmp_path)
    assert reader.read_new(final=True) == []
    why = reader.why_missing(curve_empty=True)
    assert why is not None and "2 progress line(s) of 'loss' matched" in why
    assert "'epoch 1 loss=abc'" in why
    assert reader.why_missing(curve_empty=False) is None


def test_a_regex_that_backtracks_makes_the_reader_give_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tunegym.metrics import progress

    monkeypatch.setattr(progress, "LINE_TIMEOUT_S", 0.05)
    pattern = r"^(\d*)(a|aa)+$"  # two groups: a valid progress regex, but it backtracks
    (tmp_path / "stdout.txt").write_text("1aa\n" + "a" * 60 + "!\n2a\n")
    reader = ProgressReader(ProgressSource("loss", regex=pattern), tmp_path)
    assert progress_regex_problem(pattern) is None
    assert reader.read_new() == []  # the first line has no usable value ('aa')...
    assert reader.problem is not None and "longer than 0.05 s on one line" in reader.problem
    assert reader.read_new(final=True) == []  # ...and nothing is read once it gave up
    assert reader.why_missing(curve_empty=False) == reader.problem


@pytest.mark.parametrize("pattern", [r"loss=(?P<value>\S+) epoch (\d+)", r"(?P<step>\d+) (\S+)"])
def test_a_regex_naming_one_group_of_two_is_refused(pattern: str) -> None:
    problem = progress_regex_problem(pattern)
    assert problem is not None and "name both" in problem


def test_a_step_written_as_a_whole_float_or_a_string_counts_as_documented(tmp_path: Path) -> None:
    """docs/pruning.md: `3`, `"3"`, `3.0` and `3e0` are all step 3."""
    (tmp_path / "stdout.txt").write_text(
        "epoch 1 loss=0.9\nepoch 2.0 loss=0.8\nepoch 3e0 loss=0.7\n"
    )
    reader = ProgressReader(ProgressSource("loss", regex=r"epoch (\S+) loss=(\S+)"), tmp_path)
    assert reader.read_new() == [(1, 0.9), (2, 0.8), (3, 0.7)]
    records = [{"step": "4", "loss": 0.6}, {"step": 5.0, "loss": 0.5}, {"step": "6.5", "loss": 0.4}]
    (tmp_path / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    reader = ProgressReader(ProgressSource("loss", file="p.jsonl"), tmp_path)
    assert reader.read_new() == [(4, 0.6), (5, 0.5)]
