"""Reading what a trial left behind: only regular files, and a bounded amount of them.

The trial's command owns its folder; these are the things a command can leave where
tunegym reads a metric (found by the runtime audit: a FIFO hung the run, a link to
``/dev/zero`` ran it out of memory)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tunegym.metrics import MetricSource, build_extractor, extract_metrics
from tunegym.metrics.trial_files import MAX_FILE_BYTES, TrialFileError, read_trial_file


def _left_behind(path: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        path.mkdir()


def test_a_regular_file_is_read_whole_up_to_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    path.write_bytes(b"0123456789")
    assert read_trial_file(path, limit=10) == b"0123456789"
    assert read_trial_file(path, limit=4, tail=True) == b"6789"  # stdout: its newest part
    with pytest.raises(TrialFileError, match=r"out.txt is larger than"):
        read_trial_file(path, limit=4)  # a JSON file: all of it or nothing
    with pytest.raises(FileNotFoundError):
        read_trial_file(tmp_path / "missing.txt")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero"])
def test_what_is_not_a_regular_file_is_refused_at_once(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "result.json"
    _left_behind(path, kind)
    with pytest.raises(TrialFileError, match=r"^result.json is not a regular file$"):
        read_trial_file(path)  # returns at once: a FIFO with no writer does not block


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "folder"])
@pytest.mark.parametrize("source", ["json:result.json:score", "csv:result.json:score"])
def test_a_metric_file_the_trial_replaced_is_missing_with_its_reason(
    tmp_path: Path, kind: str, source: str
) -> None:
    metric_kind, spec = source.split(":", 1)
    _left_behind(tmp_path / "result.json", kind)
    metric = build_extractor(MetricSource("score", metric_kind, spec))  # type: ignore[arg-type]
    readout = extract_metrics([metric], tmp_path, "")
    assert readout.missing == ["score"]
    if kind == "folder":
        assert readout.reasons == {
            "score": "metric 'score': cannot read result.json: Is a directory"
        }
    else:
        assert readout.reasons == {"score": "metric 'score': result.json is not a regular file"}


def test_a_json_file_too_large_to_read_is_missing_with_its_size(tmp_path: Path) -> None:
    with (tmp_path / "result.json").open("wb") as fh:
        fh.truncate(MAX_FILE_BYTES + 1)  # sparse: 64 MiB and a byte, no disk used
    metric = build_extractor(MetricSource("score", "json", "result.json:score"))
    readout = extract_metrics([metric], tmp_path, "")
    assert readout.missing == ["score"]
    assert readout.reasons == {
        "score": f"metric 'score': result.json is larger than 64 MiB ({MAX_FILE_BYTES + 1} "
        "bytes); it is not read"
    }


@pytest.mark.parametrize(
    ("kind", "source"),
    [("json", "/dev/zero:a"), ("json", "../../etc/x.json:a"), ("csv", "/tmp/x.csv:c")],
)
def test_a_metric_file_outside_the_trial_folder_is_refused(kind: str, source: str) -> None:
    with pytest.raises(ValueError, match=r"must be inside the trial folder \(a relative path"):
        build_extractor(MetricSource("m", kind, source))  # type: ignore[arg-type]
