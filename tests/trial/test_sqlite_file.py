"""A run folder's ``trials.sqlite`` that is not a tunegym run's database: every command
that reads one (``show``, ``report``, ``export``, ``compare``, ``run --resume``) says
what is wrong with it in one line, exits 2 (the user's file is bad input), writes
nothing, and leaves the file as it was. It was exit 1 for garbage bytes, a file cut
short and a table without tunegym's columns, while someone else's database was exit 2.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tunegym.cli.main import main
from tunegym.outputs.toml import dumps
from tunegym.trial.sqlite_file import DamagedDatabaseError, check_run_file

PAGE = 1024  # the page size tunegym gives a new run's database


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A finished run folder of four trials, made by a real ``tunegym run``, and its
    workload file."""
    folder = tmp_path_factory.mktemp("recorded")
    (folder / "obj.py").write_text(
        "import sys\nprint(f'score: {-(float(sys.argv[1]) - 3) ** 2}')\n"
    )
    workload = {
        "name": "tiny",
        "command": [sys.executable, str(folder / "obj.py"), "{x}"],
        "params": {"x": [1, 2, 3, 4]},
        "metrics": [{"name": "score", "regex": r"score: (\S+)"}],
        "agent": {"type": "grid"},
    }
    spec = folder / "workload.toml"
    spec.write_text(dumps(workload))
    assert main(["run", str(spec), "--output", str(folder / "runs"), "--quiet"]) == 0
    (run_dir,) = (folder / "runs").iterdir()
    assert not list(run_dir.glob("trials.sqlite-*"))  # the run closed its database
    return run_dir, spec


def _sql(*statements: str) -> Callable[[Path], None]:
    """Damage: run ``statements`` on the run's own file (it stays in WAL mode)."""

    def damage(db: Path) -> None:
        conn = sqlite3.connect(db)
        for statement in statements:
            conn.execute(statement)
        conn.commit()
        conn.close()

    return damage


def _bytes(edit: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    """Damage: the file's bytes replaced by ``edit`` of them."""
    return lambda db: db.write_bytes(edit(db.read_bytes())) and None


def _someone_elses(db: Path) -> None:
    db.unlink()
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE inventory (item TEXT)")
    conn.commit()
    conn.close()


def _directory(db: Path) -> None:
    db.unlink()
    db.mkdir()


DAMAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "garbage bytes": (
        _bytes(lambda data: bytes(range(256)) * 16),
        "not an SQLite database (it does not begin with SQLite's header)",
    ),
    "cut mid-page": (
        _bytes(lambda data: data[:1500]),
        "a damaged SQLite database: cut short (1500 bytes, not a whole number of its "
        f"{PAGE}-byte pages)",
    ),
    "cut to whole pages": (
        _bytes(lambda data: data[: 2 * PAGE]),
        f"a damaged SQLite database: cut short ({2 * PAGE} bytes of the {{size}} its header "
        "counts)",
    ),
    "zero bytes": (_bytes(lambda data: b""), "an empty file (0 bytes), not an SQLite database"),
    "a directory": (_directory, "a directory, not an SQLite database"),
    "someone else's database": (
        _someone_elses,
        "not a tunegym run's database (it has no trials and meta tables); left as it is",
    ),
    "no trials table": (
        _sql("DROP TABLE trials"),
        "not a tunegym run's database (it has no trials table); left as it is",
    ),
    "wrong columns": (
        _sql("ALTER TABLE trials RENAME COLUMN reward TO score"),
        "not a tunegym run's database (its trials table has no reward column); left as it is",
    ),
}

COMMANDS: dict[str, Callable[[Path, Path, Path], list[str]]] = {
    "show": lambda run, other, spec: ["show", str(run)],
    "report": lambda run, other, spec: ["report", str(run)],
    "export": lambda run, other, spec: ["export", str(run)],
    "export -o": lambda run, other, spec: ["export", str(run), "-o", str(run.parent / "t.csv")],
    "compare": lambda run, other, spec: ["compare", str(other), str(run)],
    "run --resume": lambda run, other, spec: ["run", "--resume", str(run), "--quiet"],
    "run SPEC --resume": lambda run, other, spec: [
        "run",
        str(spec),
        "--resume",
        str(run),
        "--quiet",
    ],
}


def _contents(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (``None`` for a folder) with its bytes."""
    return {
        str(p.relative_to(folder)): None if p.is_dir() else p.read_bytes()
        for p in sorted(folder.rglob("*"))
    }


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("damage", list(DAMAGES))
def test_every_command_refuses_a_damaged_database_with_exit_2_and_leaves_it(
    recorded: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    damage: str,
    command: str,
) -> None:
    source, spec = recorded
    run_dir = tmp_path / "run"
    shutil.copytree(source, run_dir)
    other = tmp_path / "other"
    shutil.copytree(source, other)
    db = run_dir / "trials.sqlite"
    make, what = DAMAGES[damage]
    what = what.format(size=db.stat().st_size)
    make(db)
    before = _contents(tmp_path)
    capsys.readouterr()

    code = main(COMMANDS[command](run_dir, other, spec))

    out, err = capsys.readouterr()
    resuming = "cannot resume: " if command.startswith("run") else ""
    assert err.splitlines() == [f"tunegym: error: {resuming}{db}: {what}"], err
    assert code == 2
    assert out == ""
    after = _contents(tmp_path)
    assert after[str(db.relative_to(tmp_path))] == before[str(db.relative_to(tmp_path))]
    # Nothing written beside it either (no report, no export, no SQLite -wal or -shm).
    in_run = [name for name in after if name.startswith("run")]
    assert in_run == [name for name in before if name.startswith("run")]
    assert {n: after[n] for n in in_run} == {n: before[n] for n in in_run}
    assert not (tmp_path / "t.csv").exists()


def test_a_database_that_sqlite_finds_damaged_inside_is_exit_2(
    recorded: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Whole pages, SQLite's header, the right length: only SQLite itself can tell.
    run_dir = tmp_path / "run"
    shutil.copytree(recorded[0], run_dir)
    db = run_dir / "trials.sqlite"
    data = db.read_bytes()
    db.write_bytes(data[:PAGE] + b"\xa5" * (len(data) - PAGE))
    before = db.read_bytes()
    for command in (["show"], ["export"], ["run", "--resume"]):
        capsys.readouterr()
        assert main([*command, str(run_dir)]) == 2, command
        (line,) = capsys.readouterr().err.splitlines()
        assert f"{db}: " in line and "database disk image is malformed" in line, line
        assert "internal error" not in line
    assert db.read_bytes() == before


def test_a_fifo_is_refused_without_opening_it(tmp_path: Path) -> None:
    # Opening a FIFO to read its header would wait for a writer.
    fifo = tmp_path / "trials.sqlite"
    os.mkfifo(fifo)
    with pytest.raises(DamagedDatabaseError, match="not a regular file"):
        check_run_file(fifo)
    assert check_run_file(tmp_path / "missing") is None  # the open says it is missing
