"""``best_config.toml``: a job's workload with a chosen action fixed, runnable as is."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

from tunegym.outputs import toml
from tunegym.outputs.files import atomic_write_text
from tunegym.spec.loader import Job
from tunegym.trial.rows import TrialRow


def best_workload_data(job: Job, action: dict[str, Any]) -> dict[str, Any]:
    """The job's workload with the best action fixed, as plain TOML-ready data."""
    data = job.workload.model_dump(by_alias=True, exclude_defaults=True, mode="json")
    for table in ("params", "env"):
        for name in list(data.get(table, {})):
            if name in action:
                data[table][name] = action[name]
            elif name in job.workload.when and name not in job.workload.env_params:
                # Inactive for this action: any value will do, its condition (kept)
                # leaves it out of the command again.
                data[table][name] = _a_value(data[table][name])
    if "command" in data:
        data["command"] = [_bake_workload_dir(a, job.workload_dir) for a in data["command"]]
    return {k: v for k, v in data.items() if v not in ({}, [], "")}


def _a_value(value: Any) -> Any:
    """One value of a list or range (its first candidate, its low bound)."""
    if isinstance(value, list):
        return value[0]
    if isinstance(value, dict):
        low = value["low"]
        return int(low) if value.get("dtype") == "int" else low
    return value


def write_best_config(job: Job, row: TrialRow, path: Path) -> Path:
    """Write the job's workload with the action of ``row`` fixed."""
    title = f"Best configuration of job {job.name!r}: step {row.step}, reward {row.reward!r}"
    return _write_config(job, dict(row.action), path, title)


def write_action_config(job: Job, action: dict[str, Any], path: Path, note: str) -> Path:
    """Write the job's workload with ``action`` fixed; ``note`` says why it was chosen.

    Used for the robust best under env params and for each Pareto-front member
    (``best_config_<i>.toml``), where the choice is not a single row.
    """
    return _write_config(job, action, path, f"Configuration of job {job.name!r}: {note}")


def _write_config(job: Job, action: dict[str, Any], path: Path, title: str) -> Path:
    header = f"# {title}.\n# Written by tunegym; run it again with: tunegym run {path.name}\n"
    return atomic_write_text(path, header + toml.dumps(best_workload_data(job, action)))


def _bake_workload_dir(arg: str, workload_dir: Path) -> str:
    """Replace ``{workload_dir}`` by the original folder so the file runs from anywhere."""
    out = []
    for literal, field, spec, conversion in string.Formatter().parse(arg):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if field is None:
            continue
        if field == "workload_dir" and not spec and not conversion:
            out.append(str(workload_dir).replace("{", "{{").replace("}", "}}"))
        else:
            out.append(
                "{"
                + field
                + (f"!{conversion}" if conversion else "")
                + (f":{spec}" if spec else "")
                + "}"
            )
    return "".join(out)
