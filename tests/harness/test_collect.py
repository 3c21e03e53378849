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
