"""The README's generated reference tables equal what the models and the schema say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from tunegym.devtools import reference
from tunegym.spec import models

README = Path(__file__).resolve().parents[1] / "README.md"
REGENERATE = "python -m tunegym.devtools.reference --write README.md"


def test_readme_spec_reference_equals_the_models() -> None:
    section = reference.read_section(README.read_text(), reference.SPEC_SECTION)
    assert section is not None, "README.md lost its spec-reference markers"
    assert section == reference.spec_reference(), f"out of date: run `{REGENERATE}`"


def test_readme_summary_reference_equals_the_schema() -> None:
    section = reference.read_section(README.read_text(), reference.SUMMARY_SECTION)
    assert section is not None, "README.md lost its summary-reference markers"
    assert section == reference.summary_reference(), f"out of date: run `{REGENERATE}`"


def test_every_spec_field_is_in_the_table_with_a_meaning() -> None:
    assert reference.missing_meanings() == [], (
        "give these fields a docstring in tunegym/spec/models.py (or an entry in "
        "tunegym.devtools.reference.MEANINGS)"
    )
    table = reference.spec_reference()
    for name, info in models.WorkloadSpec.model_fields.items():
        assert f"| `{info.alias or name}` |" in table
    for name in models.AgentSpec.model_fields:
        assert f"| `agent.{name}` |" in table
    assert "| `metrics[].json` |" in table  # the alias users write, not json_path
    assert "| `jobs[].iterations` |" in table


def test_rows_follow_the_model() -> None:
    class Inner(BaseModel):
        depth: int = Field(default=2, ge=1)
        """How deep."""

    class Outer(BaseModel):
        kind: Literal["a", "b"]
        """Which one."""
        inner: Inner = Field(default_factory=Inner)
        items: list[Inner] = Field(default_factory=list, description="Several.")

    rows = {r.path: r for r in reference.spec_rows(Outer)}
    assert list(rows) == ["kind", "inner", "inner.depth", "items", "items[].depth"]
    assert (rows["kind"].type, rows["kind"].default, rows["kind"].meaning) == (
        '"a" or "b"',
        "**required**",
        "Which one.",
    )
    assert (rows["inner.depth"].type, rows["inner.depth"].default) == ("integer, ≥ 1", "`2`")
    assert rows["items"].meaning == "Several." and rows["items"].type == "array of tables"


def test_update_text_replaces_only_the_sections() -> None:
    stale = "\n".join(
        [
            "intro",
            reference.begin_marker(reference.SPEC_SECTION),
            "old table",
            reference.end_marker(reference.SPEC_SECTION),
            "middle",
            reference.begin_marker(reference.SUMMARY_SECTION),
            reference.end_marker(reference.SUMMARY_SECTION),
            "outro",
        ]
    )
    new = reference.update_text(stale)
    assert new.startswith("intro\n") and new.endswith("\noutro") and "\nmiddle\n" in new
    assert "old table" not in new
    assert reference.read_section(new, reference.SPEC_SECTION) == reference.spec_reference()
    assert reference.update_text(new) == new
    with pytest.raises(ValueError, match="markers"):
        reference.update_text("no markers here")


def test_check_command(tmp_path: Path) -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "tunegym.devtools.reference", "--check", str(README)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    stale = tmp_path / "README.md"
    stale.write_text(README.read_text().replace("| `agent.seed` |", "| `agent.sead` |"))
    assert reference.main(["--check", str(stale)]) == 1
    assert reference.main(["--write", str(stale)]) == 0
    assert stale.read_text() == README.read_text()
