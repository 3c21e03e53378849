"""Shared error helpers: `import_failure` (a user module that cannot be imported, with
where), the full-disk cause and the OS reason as messages word it."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tunegym.errors import import_failure, os_reason


@pytest.fixture
def user_modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _failure(folder: Path, name: str, source: str) -> str:
    (folder / f"{name}.py").write_text(source)
    with pytest.raises(Exception) as raised:
        importlib.import_module(name)
    return import_failure(raised.value)


def test_a_syntax_error_names_the_file_and_line(user_modules: Path) -> None:
    text = _failure(user_modules, "ie_syntax", "x = 1\ndef f(:\n    pass\n")
    assert text == f"SyntaxError: invalid syntax ({user_modules / 'ie_syntax.py'}:2)"


def test_a_top_level_that_raises_names_its_line_not_the_librarys(user_modules: Path) -> None:
    # json raised, but the line to fix is the module's own
    text = _failure(user_modules, "ie_config", 'import json\n\nCONFIG = json.loads("{")\n')
    assert text.startswith("JSONDecodeError: Expecting property name")
    assert text.endswith(f"(at {user_modules / 'ie_config.py'}:3)")


def test_a_missing_dependency_names_the_import_that_needs_it(user_modules: Path) -> None:
    (user_modules / "ie_inner.py").write_text("import no_such_dependency_xyz\n")
    text = _failure(user_modules, "ie_outer", "import os\nimport ie_inner\n")
    # the innermost module that raised: the one whose import is missing
    assert text == (
        f"No module named 'no_such_dependency_xyz' (at {user_modules / 'ie_inner.py'}:1)"
    )


def test_a_module_that_is_not_there_is_just_not_found() -> None:
    with pytest.raises(ImportError) as raised:
        importlib.import_module("no_such_module_xyz")
    assert import_failure(raised.value) == "No module named 'no_such_module_xyz'"


def test_a_full_disk_is_found_in_an_exception_chain() -> None:
    import errno
    import sqlite3

    from tunegym.errors import full_disk_cause, full_disk_phrase

    enospc = OSError(errno.ENOSPC, "No space left on device", "/runs/r/trials.csv")
    try:
        try:
            raise enospc
        except OSError as inner:
            raise RuntimeError("writing a row failed") from inner
    except RuntimeError as outer:
        assert full_disk_cause(outer) is enospc
    assert full_disk_phrase(enospc) == "no space left on device (writing /runs/r/trials.csv)"
    quota = OSError(errno.EDQUOT, "Disk quota exceeded")
    assert full_disk_cause(quota) is quota and full_disk_phrase(quota) == "disk quota exceeded"
    db = sqlite3.OperationalError("database or disk is full")
    db.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert full_disk_cause(db) is db
    assert full_disk_cause(OSError(errno.EACCES, "Permission denied")) is None
    assert full_disk_cause(sqlite3.OperationalError("database is locked")) is None


def test_the_os_reason_is_worded_as_tunegyms_messages_are(tmp_path: Path) -> None:
    with pytest.raises(OSError) as caught:
        (tmp_path / "missing" / "file").read_text()
    assert os_reason(caught.value) == "no such file or directory"
    assert os_reason(OSError("bare message")) == "bare message"  # no strerror: the message
