"""A resume refuses a recorded trial it cannot replay before it writes anything."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.cli.main import main


def _contents(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize(
    ("agent", "edited"),
    [
        ("grid", '{"x": 9, "y": "a"}'),  # grid replayed it silently, counting 9 as tried
        ("auto", '{"x": 2, "y": "zz"}'),  # "internal error: ValueError: y: 'zz' is not one..."
        ("random", '{"x": 2}'),
    ],
)
def test_a_row_edited_outside_the_space_is_named_and_the_folder_left_as_it_was(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    agent: str,
    edited: str,
) -> None:
    path = write_toml("w.toml", objective_workload(agent={"type": agent, "max_steps": 6}))
    assert main(["run", str(path), "--output", str(tmp_path / "out"), "--quiet"]) == 0
    (run_dir,) = (tmp_path / "out").iterdir()
    db_path = run_dir / "trials.sqlite"
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE trials SET action = ? WHERE step = 2", (edited,))
    conn.execute("DELETE FROM trials WHERE step >= 5")  # the run stopped after step 4
    conn.commit()
    conn.close()
    before = _contents(run_dir)
    capsys.readouterr()
    assert main(["run", "--resume", str(run_dir), "--quiet"]) == 2  # a damaged file: bad input
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(
        f"tunegym: error: cannot resume: {db_path}: trial 2 of job 'objective' has an "
        "action outside the search space ("
    ), last
    assert last.endswith("); was the row edited?")
    assert _contents(run_dir) == before
