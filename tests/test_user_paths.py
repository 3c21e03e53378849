"""Paths a user names for tunegym to write are checked before any work is done."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegym.errors import UsageError
from tunegym.user_paths import output_file, output_folder


def test_an_output_file_gets_its_folder_and_is_not_created(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "rows.csv"
    assert output_file(target, "--output") == target
    assert target.parent.is_dir() and not target.exists()


def test_an_output_file_that_is_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=rf"^--output {tmp_path}: is a folder; give a file path$"):
        output_file(tmp_path, "--output")


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("x")
    where = f"{tmp_path}/a-file is a file, not a folder"
    target = tmp_path / "a-file" / "b" / "c.txt"
    with pytest.raises(UsageError, match=rf"^-o {target}: cannot write it: {where}$"):
        output_file(target, "-o")
    with pytest.raises(UsageError, match=rf"^DIR {tmp_path}/a-file: cannot write there: {where}$"):
        output_folder(tmp_path / "a-file", "DIR")
    assert (tmp_path / "a-file").read_text() == "x"  # left alone
