"""The README's reference tables, generated so they cannot drift from the code.

* **Spec fields**: every field of ``workload.toml`` and ``scenario.toml``, walked from the
  pydantic models in :mod:`tunegym.spec.models` (type, default, constraints), with its
  meaning taken from the field's description, else its attribute docstring, else
  :data:`MEANINGS` below.
* **summary.json**: every key of its JSON Schema (generated from
  :mod:`tunegym.outputs.summary_schema`) with its type and description.

The README holds each table between ``<!-- BEGIN <name> -->`` and ``<!-- END <name> -->``
markers; a test asserts they equal what this module generates. Regenerate with::

    python -m tunegym.devtools.reference --write README.md
"""

from __future__ import annotations

import argparse
import ast
import inspect
import itertools
import json
import re
import sys
import textwrap
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from tunegym.outputs.summary_schema import summary_schema as generated_summary_schema
from tunegym.spec import models

SPEC_SECTION = "spec-reference"
SUMMARY_SECTION = "summary-reference"

# Meanings of fields whose model gives none (no description, no attribute docstring).
# Prefer a docstring under the field in tunegym/spec/models.py for new fields.
MEANINGS: dict[str, str] = {
    "WorkloadSpec.name": "workload name: names the job and its folder",
    "WorkloadSpec.description": "free text, for people",
    "WorkloadSpec.command": (
        "argv list, never a shell; `{param}` placeholders are substituted per argument, "
        "plus `{python}`, `{workload_dir}`, `{trial_dir}`, `{step}`"
    ),
    "WorkloadSpec.server_args": "live mode: keyword arguments for the server class",
    "WorkloadSpec.params": (
        "the search space: a list is categorical, a `{low, high}` table continuous, a scalar fixed"
    ),
    "WorkloadSpec.env": "environment variables, in the same three forms as `params`",
    "WorkloadSpec.timeout_s": "seconds before a trial's process group is killed (`timeout`)",
    "WorkloadSpec.metrics": "how to read each metric from a trial's output",
    "WorkloadSpec.constraints": (
        "boolean expressions over params; a trial that breaks one is not run (`constraint_failed`)"
    ),
    "WorkloadSpec.when": (
        'conditional params: `param = "expression"` over params declared before it; an '
        "inactive param is left out of the action, command, env and cache key"
    ),
    "WorkloadSpec.env_params": (
        "list-valued params sampled per trial (domain randomization) instead of chosen"
    ),
    "WorkloadSpec.agent": "who chooses the trials and how they are scored",
    "WorkloadSpec.ray": "Ray runner settings",
    "WorkloadSpec.slurm": "Slurm runner settings",
    "ContinuousParam.low": "lower bound (inclusive)",
    "ContinuousParam.high": (
        "upper bound (inclusive); must be greater than `low`, and `high - low` finite"
    ),
    "ContinuousParam.dtype": (
        "`int` rounds to whole numbers (bounds must be integers within ±2^62)"
    ),
    "ContinuousParam.log": "sample on a log scale (needs `low` a positive normal float)",
    "MetricSpec.name": "metric name (an identifier), used by `agent.metrics` and rewards",
    "MetricSpec.regex": "search stdout; group 1 of the last match is the value",
    "MetricSpec.json_path": (
        "`file.json:dotted.path` in the trial folder (`stdout:path` parses stdout)"
    ),
    "MetricSpec.csv": "`file.csv:column[:last|first|mean|min|max|sum]`",
    "EnvParamSpec.weights": (
        "probability of each candidate value (must sum to 1); uniform when unset"
    ),
    "PenaltySpec.constraint_failure": "reward recorded for a `constraint_failed` trial",
    "PenaltySpec.metric_failure": "reward for a `failed`, `timeout` or `metric_missing` trial",
    "AgentSpec.type": "agent name (`tunegym list agents`); unset: grid if it fits, else auto",
    "AgentSpec.max_steps": (
        "trial budget; unset: the space size if small, else a default, times `agent.repeats`"
    ),
    "AgentSpec.metrics": "metrics the agent observes, in order; unset: every declared metric",
    "AgentSpec.reward": (
        '`identity`, `negative`, `inverse` or `"expr: <expression>"` over metrics; unset '
        "with `objectives`: `negative` when the first is `min` (the best trial is its best); "
        "unset over `duration_s` alone (no metric declared): `negative`, the fastest is best"
    ),
    "AgentSpec.seed": "seed of the agent and of env-param draws (plus the iteration)",
    "AgentSpec.config": "agent-specific options, validated by the agent",
    "AgentSpec.penalties": "rewards recorded for trials without usable metrics",
    "RaySpec.num_cpus": "CPUs reserved per trial",
    "RaySpec.num_gpus": "GPUs reserved per trial",
    "RaySpec.resources": "custom Ray resources reserved per trial",
    "SlurmSpec.partition": "`--partition`",
    "SlurmSpec.account": "`--account`",
    "SlurmSpec.time": "`--time` limit, e.g. `120` (minutes), `30:00`, `1-00:00:00` or `UNLIMITED`",
    "SlurmSpec.nodes": "`--nodes`",
    "SlurmSpec.gpus": "`--gpus`",
    "SlurmSpec.container_image": "container image (pyxis `--container-image`)",
    "SlurmSpec.container_mounts": "container mounts (pyxis `--container-mounts`)",
    "SlurmSpec.poll_interval_s": (
        "seconds between job state polls (a trial that ends is seen within a second: its "
        "exit-code file is watched between polls)"
    ),
    "ScenarioSpec.name": "scenario name: names the run folder",
    "ScenarioSpec.description": "free text, for people",
    "ScenarioSpec.jobs": "the jobs, run in order",
    "JobSpec.workload": "path of the workload file, relative to the scenario",
    "JobSpec.iterations": "how many times to run the job (each with seed + iteration)",
}


@dataclass(frozen=True)
class FieldRow:
    """One row of the spec reference."""

    path: str
    type: str
    default: str
    meaning: str
    owner: str
    """``Model.field`` the row documents (for error messages)."""


# -- spec fields -----------------------------------------------------------------------
def spec_rows(model: type[BaseModel], prefix: str = "") -> Iterator[FieldRow]:
    """Every field of ``model`` and of the models nested in it, depth first."""
    docs = attribute_docstrings(model)
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{prefix}{key}"
        yield FieldRow(
            path,
            _constraints(render_type(info.annotation), info),
            render_default(info),
            _meaning(model, name, info, docs),
            f"{model.__name__}.{name}",
        )
        for nested, suffix in _nested_models(info.annotation):
            yield from spec_rows(nested, f"{path}{suffix}.")


def attribute_docstrings(model: type) -> dict[str, str]:
    """``{field: docstring}`` from string literals right under annotated class attributes."""
    out: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        except (OSError, TypeError, SyntaxError):
            continue
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node, after in itertools.pairwise(body):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr)
                and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)
            ):
                out[node.target.id] = inspect.cleandoc(after.value.value)
    return out


def _meaning(model: type, name: str, info: FieldInfo, docs: dict[str, str]) -> str:
    text = info.description or docs.get(name) or MEANINGS.get(f"{model.__name__}.{name}", "")
    text = " ".join(text.split())
    return re.sub(r"``([^`]+)``", r"`\1`", text)  # rST literals to Markdown


def _nested_models(annotation: Any) -> Iterator[tuple[type[BaseModel], str]]:
    """Models inside an annotation, with the path suffix their fields hang from."""
    seen: set[type] = set()

    def walk(tp: Any, suffix: str) -> Iterator[tuple[type[BaseModel], str]]:
        origin = typing.get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp not in seen:
                seen.add(tp)
                yield tp, suffix
        elif origin is typing.Annotated:
            yield from walk(typing.get_args(tp)[0], suffix)
        elif origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(tp):
                yield from walk(arg, suffix)
        elif origin is list:
            yield from walk(typing.get_args(tp)[0], f"{suffix}[]")
        elif origin is dict:
            yield from walk(typing.get_args(tp)[1], f"{suffix}.<name>")

    yield from walk(annotation, "")


_SCALARS = {str: "string", int: "integer", float: "number", bool: "bool", type(None): "none"}


def render_type(tp: Any) -> str:
    """A short, readable type: ``list of string``, ``"offline" or "live"``, ``table``."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return "any"
    if tp in _SCALARS:
        return _SCALARS[tp]
    if isinstance(tp, type) and issubclass(tp, models.ContinuousParam):
        return "range table"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "table"
    if origin is typing.Annotated:
        return render_type(typing.get_args(tp)[0])
    if origin is typing.Literal:
        return " or ".join(json.dumps(a) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if {*args} >= {str, int, float, bool}:
            rest = [a for a in args if a not in (str, int, float, bool)]
            return " or ".join([*(render_type(a) for a in rest), "scalar"])
        return " or ".join(render_type(a) for a in args)
    if origin is list:
        inner = render_type(typing.get_args(tp)[0])
        plural = {"scalar": "scalars", "string": "strings", "number": "numbers"}
        inner = plural.get(inner, inner)
        return f"list of {inner}" if inner != "table" else "array of tables"
    if origin is dict:
        value = typing.get_args(tp)[1]
        inner = render_type(value)
        return "table" if value is Any else f"table of {inner}"
    return getattr(tp, "__name__", str(tp))


def _constraints(text: str, info: FieldInfo) -> str:
    marks = []
    for item in info.metadata:
        if isinstance(item, Ge):
            marks.append(f"≥ {item.ge:g}")
        elif isinstance(item, Gt):
            marks.append(f"> {item.gt:g}")
        elif isinstance(item, Le):
            marks.append(f"≤ {item.le:g}")
        elif isinstance(item, Lt):
            marks.append(f"< {item.lt:g}")
        elif isinstance(item, MinLen) and item.min_length > 0:
            marks.append("non-empty")
        elif isinstance(item, MaxLen):
            marks.append(f"at most {item.max_length} long")
    return f"{text}, {', '.join(marks)}" if marks else text


def render_default(info: FieldInfo) -> str:
    if info.default_factory is not None:
        value = info.default_factory()  # type: ignore[call-arg]
        if isinstance(value, BaseModel):
            return "(table)"
        return f"`{json.dumps(value)}`"
    if info.default is PydanticUndefined:
        return "**required**"
    if info.default is None:
        return "unset"
    if isinstance(info.default, float) and abs(info.default) >= 1e6:
        return f"`{info.default:.6g}`"
    return f"`{json.dumps(info.default)}`"


def spec_reference() -> str:
    """The Markdown of both spec tables (``workload.toml`` and ``scenario.toml``)."""
    parts = [
        "`workload.toml` (a scenario job may override any of these):",
        "",
        _table(spec_rows(models.WorkloadSpec)),
        "",
        "`scenario.toml`:",
        "",
        _table(
            [
                *spec_rows(models.ScenarioSpec),
                FieldRow(
                    "jobs[].<workload field>",
                    "any",
                    "",
                    "overrides that workload field for this job (tables merge key by key)",
                    "JobSpec.<extra>",
                ),
            ]
        ),
    ]
    return "\n".join(parts)


def _table(rows: Any) -> str:
    lines = ["| field | type | default | meaning |", "|---|---|---|---|"]
    for row in rows:
        cells = (f"`{row.path}`", row.type, row.default, row.meaning)
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def missing_meanings() -> list[str]:
    """``Model.field`` of every spec field that has no meaning to show."""
    rows = [*spec_rows(models.WorkloadSpec), *spec_rows(models.ScenarioSpec)]
    return [row.owner for row in rows if not row.meaning]


# -- summary.json --------------------------------------------------------------------------
def summary_schema() -> dict[str, Any]:
    """The JSON Schema of ``summary.json`` (generated from its pydantic models)."""
    return generated_summary_schema()


def summary_reference() -> str:
    """The Markdown table of every ``summary.json`` key, from its JSON Schema."""
    schema = summary_schema()
    lines = ["| key | type | meaning |", "|---|---|---|"]
    for path, node, required in _schema_keys(schema, schema, ""):
        kind = _schema_type(node, schema) + ("" if required else ", optional")
        lines.append(
            f"| `{path}` | {_cell(kind)} | {_cell(' '.join(node.get('description', '').split()))} |"
        )
    return "\n".join(lines)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref:
        target = root
        for part in ref.removeprefix("#/").split("/"):
            target = target[part]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _object_of(node: dict[str, Any], root: dict[str, Any]) -> tuple[dict[str, Any], str] | None:
    """The object schema a key leads into (through arrays and nullable refs), with suffix."""
    node = _resolve(node, root)
    if node.get("type") == "array" and isinstance(node.get("items"), dict):
        inner = _object_of(node["items"], root)
        return (inner[0], "[]" + inner[1]) if inner else None
    for option in node.get("oneOf", []):
        inner = _object_of(option, root)
        if inner:
            return inner
    if "properties" in node:
        return node, ""
    return None


def _schema_keys(
    node: dict[str, Any], root: dict[str, Any], prefix: str
) -> Iterator[tuple[str, dict[str, Any], bool]]:
    node = _resolve(node, root)
    required = set(node.get("required", []))
    for key, child in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path, _resolve(child, root), key in required
        inner = _object_of(child, root)
        if inner is not None:
            yield from _schema_keys(inner[0], root, f"{path}{inner[1]}.")


def _schema_type(node: dict[str, Any], root: dict[str, Any]) -> str:
    node = _resolve(node, root)
    if "const" in node:
        return json.dumps(node["const"])
    if "enum" in node:
        return "string"
    if "oneOf" in node:
        return " or ".join(_schema_type(option, root) for option in node["oneOf"])
    kind = node.get("type", "object")
    kinds = kind if isinstance(kind, list) else [kind]
    out = []
    for k in kinds:
        if k == "array":
            items = _resolve(node.get("items", {}), root)
            out.append(f"array of {_schema_type(items, root)}s")
        else:
            out.append({"boolean": "bool"}.get(str(k), str(k)))
    return " or ".join(out)


# -- README sections -----------------------------------------------------------------------
SECTIONS = {SPEC_SECTION: spec_reference, SUMMARY_SECTION: summary_reference}


def begin_marker(name: str) -> str:
    return (
        f"<!-- BEGIN {name} (generated: python -m tunegym.devtools.reference --write README.md) -->"
    )


def end_marker(name: str) -> str:
    return f"<!-- END {name} -->"


def read_section(text: str, name: str) -> str | None:
    """The text between a section's markers (without them), or ``None`` if absent."""
    begin, end = begin_marker(name), end_marker(name)
    if begin not in text or end not in text:
        return None
    return text.split(begin, 1)[1].split(end, 1)[0].strip("\n")


def update_text(text: str) -> str:
    """``text`` with every generated section replaced by its current content."""
    for name, render in SECTIONS.items():
        begin, end = begin_marker(name), end_marker(name)
        if begin not in text or end not in text:
            raise ValueError(f"no {begin!r} ... {end!r} markers")
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{begin}\n{render()}\n{end}{tail}"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tunegym.devtools.reference",
        description="Print the generated README reference tables, or update them in place.",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", type=Path, metavar="README", help="rewrite the sections")
    group.add_argument("--check", type=Path, metavar="README", help="exit 1 if out of date")
    args = parser.parse_args(argv)
    if args.write or args.check:
        path: Path = args.write or args.check
        text = path.read_text(encoding="utf-8")
        new = update_text(text)
        if args.check:
            if new != text:
                print(f"{path}: generated reference sections are out of date", file=sys.stderr)
                return 1
            return 0
        if new != text:
            path.write_text(new, encoding="utf-8")
            print(f"{path}: updated")
        return 0
    for name, render in SECTIONS.items():
        print(f"{begin_marker(name)}\n{render()}\n{end_marker(name)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
