"""Every Python example in README.md and docs/ runs as printed, so none can rot.

An example is a fenced ``python`` block. Each runs as its own program, in a fresh folder
that holds a link to the repository's ``examples/`` (the paths the docs use), in a
subprocess with a deadline. Two markers, an HTML comment on the line before the fence,
change that:

* ``<!-- not run: REASON -->``: a fragment (it names the reader's own code or files);
* ``<!-- continues the example above -->``: run after the block before it, as one program.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(
    r"^(?P<indent>[ \t]*)```python\n(?P<code>.*?)^(?P=indent)```", re.MULTILINE | re.DOTALL
)
MARKER = re.compile(r"<!--\s*(?P<kind>not run|continues the example above)(?::(?P<why>.*?))?\s*-->")
DEADLINE_S = 240


@dataclass(frozen=True)
class Example:
    where: str
    """``page:line`` of the (first) fence."""
    code: str
    skipped_because: str | None = None


def _marker(text: str, start: int) -> re.Match[str] | None:
    """The marker comment on the line just before the fence at ``start``, if any."""
    before = text[:start].rstrip("\n").rsplit("\n", 1)[-1]
    return MARKER.search(before)


def examples() -> list[Example]:
    found: list[Example] = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in BLOCK.finditer(text):
            line = text.count("\n", 0, block.start()) + 1
            code = textwrap.dedent(block.group("code"))
            marker = _marker(text, block.start())
            kind = marker.group("kind") if marker else None
            if kind == "continues the example above":
                assert found and found[-1].where.startswith(f"{page.name}:"), (
                    f"{page.name}:{line}: nothing above to continue"
                )
                found[-1] = Example(found[-1].where, f"{found[-1].code}\n{code}")
            elif kind == "not run":
                why = (marker.group("why") or "").strip() if marker else ""
                found.append(Example(f"{page.name}:{line}", code, why))
            else:
                found.append(Example(f"{page.name}:{line}", code))
    return found


RUNNABLE = [e for e in examples() if e.skipped_because is None]


def test_the_docs_have_examples_and_every_fragment_says_why_it_is_not_run() -> None:
    every = examples()
    assert len(RUNNABLE) >= 10, [e.where for e in every]
    fragments = [e for e in every if e.skipped_because is not None]
    assert all(e.skipped_because for e in fragments), [e.where for e in fragments]
    assert len(fragments) <= len(RUNNABLE) // 2, "most examples must run"


@pytest.mark.parametrize("example", RUNNABLE, ids=[e.where for e in RUNNABLE])
def test_example_runs(example: Example, tmp_path: Path) -> None:
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    (tmp_path / "example.py").write_text(example.code, encoding="utf-8")
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, "example.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    assert done.returncode == 0, f"{example.where} failed:\n{done.stdout}\n{done.stderr}"
