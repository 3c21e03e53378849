"""summary.json is valid against its documented JSON Schema, in every state a run can end in."""

from __future__ import annotations

import copy
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tunegym.cli.main import main
from tunegym.devtools.reference import summary_schema
from tunegym.report.writing import regenerate

Validator = jsonschema.Draft202012Validator


@pytest.fixture(scope="module")
def validator() -> Validator:
    schema = summary_schema()
    Validator.check_schema(schema)
    return Validator(schema)


def _run(tmp_path: Path, write_toml: Callable[..., Path], data: dict[str, Any], *flags: str):
    path = write_toml(f"{data['name']}.toml", data)
    out = tmp_path / f"out-{data['name']}"
    code = main(["run", str(path), "--output", str(out), "--quiet", *flags])
    (run_dir,) = out.iterdir()
    return code, run_dir, json.loads((run_dir / "summary.json").read_text())


def _undocumented(schema: dict[str, Any], node: dict[str, Any], value: Any, path: str = ""):
    """Keys of ``value`` that the schema does not describe, at any depth it describes."""
    while "$ref" in node:
        node = schema["$defs"][node["$ref"].split("/")[-1]]
    for option in node.get("oneOf", []):
        if Validator(dict(option, **{"$defs": schema["$defs"]})).is_valid(value):
            yield from _undocumented(schema, option, value, path)
    if isinstance(value, dict) and "properties" in node:
        for key, item in value.items():
            if key not in node["properties"]:
                yield f"{path}{key}"
            else:
                yield from _undocumented(schema, node["properties"][key], item, f"{path}{key}.")
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            yield from _undocumented(schema, node["items"], item, f"{path}[].")


def test_finished_runs_are_valid_and_fully_documented(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    validator: Validator,
) -> None:
    with_env = objective_workload(
        name="withenv",
        params={"x": [1, 2, 3], "y": ["a", "b"]},
        env_params={"y": {}},
        agent={"type": "grid", "metrics": ["score"], "max_steps": 6},
    )
    failing = objective_workload(
        name="failing",
        command=[*objective_workload()["command"], "--fail=yes"],
        params={"x": [1, 2]},
    )
    once = objective_workload(name="once", params={"x": 3, "y": "b"})
    several = objective_workload(
        name="several",
        params={"x": [1, 2, 3], "y": ["a", "b"]},
        agent={"type": "grid", "metrics": ["score", "duration_s"], "objectives": ["max", "min"]},
    )
    summaries = []
    for data, flags, code in (
        (with_env, (), 0),
        (failing, (), 1),  # agent_failed: no trial succeeded
        (once, (), 0),
        (several, (), 0),
        (objective_workload(name="dry"), ("--dry-run",), 0),
    ):
        got, _, summary = _run(tmp_path, write_toml, data, *flags)
        assert got == code
        validator.validate(summary)
        summaries.append(summary)
    assert [s["status"] for s in summaries] == ["ok", "agent_failed", "ok", "ok", "ok"]
    assert summaries[1]["jobs"][0]["best"] is None and summaries[1]["jobs"][0]["message"]
    assert summaries[2]["jobs"][0]["agent"] is None
    # The optional entries are exercised too: robust best (env params), Pareto front.
    assert summaries[0]["jobs"][0]["robust"]["best"]["count"] >= 1
    assert summaries[3]["jobs"][0]["pareto_front"] and summaries[3]["jobs"][0]["objectives"]
    schema = summary_schema()
    for summary in summaries:
        assert list(_undocumented(schema, schema, summary)) == []
    # The undocumented-key check is live: it sees a key the schema does not describe.
    summaries[0]["jobs"][0]["best"]["surprise"] = 1
    assert list(_undocumented(schema, schema, summaries[0])) == ["jobs.[].best.surprise"]


def test_regenerated_running_and_crashed_summaries_are_valid(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    validator: Validator,
) -> None:
    _, run_dir, finished = _run(tmp_path, write_toml, objective_workload())
    again = regenerate(run_dir)
    validator.validate(again)
    assert again["status"] == "ok" and again["regenerated_at"] >= finished["finished_at"]
    assert again["jobs"] == finished["jobs"]
    db = sqlite3.connect(run_dir / "trials.sqlite")
    # As if the run were still going (its process is this one) ...
    db.execute("UPDATE meta SET value = 'null' WHERE key = 'result'")
    db.commit()
    running = regenerate(run_dir)
    validator.validate(running)
    assert running["status"] == "running" and running["finished_at"] is None
    # ... and as if its process had died without a result.
    dead = json.dumps({"pid": 2**22 + 12345, "host": "no-such-host"})
    db.execute("UPDATE meta SET value = ? WHERE key = 'process'", (dead,))
    db.execute("UPDATE meta SET value = ? WHERE key LIKE 'job:%'", (_as_running(db),))
    db.commit()
    db.close()
    crashed = regenerate(run_dir)
    validator.validate(crashed)
    assert crashed["status"] == "crashed" and crashed["jobs"][0]["status"] == "crashed"
    assert crashed["finished_at"] <= finished["finished_at"]


def _as_running(db: sqlite3.Connection) -> str:
    (value,) = db.execute("SELECT value FROM meta WHERE key LIKE 'job:%'").fetchone()
    entry = json.loads(value)
    entry.update(status="running", message=None, exit_code=None)
    return json.dumps(entry)


def test_schema_rejects_what_it_documents_as_required(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    validator: Validator,
) -> None:
    _, _, summary = _run(tmp_path, write_toml, objective_workload())
    broken = []
    for mutate in (
        lambda s: s.pop("status"),
        lambda s: s.update(status="fine"),
        lambda s: s.update(schema_version=2),
        lambda s: s["jobs"][0].pop("counts"),
        lambda s: s["jobs"][0]["counts"].pop("timeout"),
        lambda s: s["jobs"][0]["best"].update(reward="high"),
        lambda s: s["jobs"][0].update(fingerprint="xyz"),
    ):
        bad = copy.deepcopy(summary)
        mutate(bad)
        broken.append(not validator.is_valid(bad))
    assert broken == [True] * len(broken)
