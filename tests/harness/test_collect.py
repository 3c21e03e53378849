"""``tunegym harness collect`` and ``export-data`` with inputs they cannot use: exit 2,
one line naming the file, nothing half written."""

from __future__ import annotations

import json
import os

import pytest

from tunegym.cli.main import main

COLLECT = [
    "harness",
    "collect",
    "mcqa",
    "--base-url",
    "http://127.0.0.1:9/v1",
    "--model",
    "m",
    "--no-progress",
]


def _unusable_rows(tmp_path, kind: str):
    path = tmp_path / "rows.jsonl"
    if kind == "fifo":
        os.mkfifo(path)  # no writer: a read blocks for ever
        return path, "is not a regular file"
    if kind == "device":
        return "/dev/zero", "is not a regular file"
    if kind == "binary":
        path.write_bytes(b'{"a": 1}\n\xff\xfe\n')
        return path, ":2: not UTF-8 text (byte 0xff at offset 9)"
    path.write_text('{"a": 1}\n' + "[" * 100_000 + "\n")
    return path, ":2: JSON nested too deeply"


KINDS = ["fifo", "device", "binary", "deep"]


@pytest.mark.timeout(30)  # a FIFO hung the read
@pytest.mark.parametrize("kind", KINDS)
def test_collect_refuses_an_input_it_cannot_read_naming_it(tmp_path, capsys, kind):
    path, reason = _unusable_rows(tmp_path, kind)
    output = tmp_path / "o.jsonl"
    code = main([*COLLECT, "--output", str(output), "--input", str(path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"{path}{'' if reason.startswith(':') else ': '}{reason}" in err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1
    assert not output.exists()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("kind", KINDS)
def test_serve_refuses_an_mcqa_dataset_path_it_cannot_read(tmp_path, capsys, monkeypatch, kind):
    path, reason = _unusable_rows(tmp_path, kind)
    monkeypatch.setenv("TUNEGYM_HARNESS_KWARGS", json.dumps({"dataset_path": str(path)}))
    code = main(["harness", "serve", "mcqa", "--port", "0"])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert "http://" not in captured.out
    assert f"harness 'mcqa': {path}" in captured.err and reason in captured.err


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("none", "get_dataset() returned NoneType, not a list of row objects"),
        ("ints", "dataset row 0 is int, not a dict"),
        ("nan", "dataset row 1 is not JSON: Out of range float values are not JSON compliant"),
        ("set", "dataset row 1 is not JSON: Object of type set is not JSON serializable"),
    ],
)
def test_export_data_refuses_rows_it_cannot_write_and_writes_nothing(
    tmp_path, capsys, monkeypatch, rows, message
):
    monkeypatch.setenv("TUNEGYM_HARNESS_KWARGS", json.dumps({"rows": rows}))
    out = tmp_path / "out"
    out.mkdir()
    (out / "bad-rows.jsonl").write_text('{"kept": true}\n')  # an earlier export
    code = main(["harness", "export-data", "harness_testkit:DatasetHarness", str(out)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.strip() == f"tunegym: error: harness 'bad-rows': {message}"
    assert (out / "bad-rows.jsonl").read_text() == '{"kept": true}\n'
    assert sorted(p.name for p in out.iterdir()) == ["bad-rows.jsonl"]


def test_serve_refuses_the_rows_export_data_refuses(capsys, monkeypatch):
    monkeypatch.setenv("TUNEGYM_HARNESS_KWARGS", json.dumps({"rows": "ints"}))
    assert main(["harness", "serve", "harness_testkit:DatasetHarness", "--port", "0"]) == 2
    assert "dataset row 0 is int, not a dict" in capsys.readouterr().err


def test_export_data_keeps_a_lone_surrogate_as_its_escape(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TUNEGYM_HARNESS_KWARGS", json.dumps({"rows": "surrogate"}))
    out = tmp_path / "out"
    assert main(["harness", "export-data", "harness_testkit:DatasetHarness", str(out)]) == 0
    text = (out / "bad-rows.jsonl").read_text()
    assert json.loads(text) == {"expected_answer": "\ud800"}


@pytest.mark.parametrize(("rows", "message"), [("none", "returned NoneType"), ("ints", "row 0")])
def test_collect_and_the_gym_server_refuse_the_rows_serve_refuses(
    tmp_path, capsys, monkeypatch, rows, message
):
    # collect without --input read get_dataset() unchecked: "internal error: TypeError".
    from tunegym.errors import UsageError
    from tunegym.harness.env import HarnessGymServer

    monkeypatch.setenv("TUNEGYM_HARNESS_KWARGS", json.dumps({"rows": rows}))
    argv = [*COLLECT[:2], "harness_testkit:DatasetHarness", *COLLECT[3:]]
    assert main([*argv, "--output", str(tmp_path / "o.jsonl")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()
    with pytest.raises(UsageError, match=message):
        HarnessGymServer("harness_testkit:DatasetHarness", json.loads(f'{{"rows": "{rows}"}}'))
