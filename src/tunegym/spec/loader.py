"""Load a scenario or a single workload file into validated jobs.

``load(path)`` accepts either file kind: a TOML with ``[[jobs]]`` is a scenario, any
other is a workload and becomes a one-job scenario. Every problem found is reported at
once, each naming the file that holds the offending value and its field path.

Hostile files fail fast and clearly: a file larger than :data:`MAX_SPEC_BYTES`, one that
is not a regular file, not UTF-8, nested deeper than :data:`MAX_DEPTH`, or holding NUL
characters or nan/inf values anywhere (``server_args`` excepted: they go to the live
server as they are) is a ``SpecError`` before any model sees it.
"""

from __future__ import annotations

import copy
import math
import os
import stat
import tomllib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tunegym.errors import SpecError, os_reason
from tunegym.spec.checks import check_workload
from tunegym.spec.errors import (
    Loc,
    Problem,
    problems_from_validation,
    raise_problems,
)
from tunegym.spec.models import ScenarioSpec, WorkloadSpec

# Scenario job keys that are not workload overrides.
_JOB_KEYS = ("workload", "iterations", "unset")

MAX_SPEC_BYTES = 4 * 1024 * 1024
"""Largest spec file read; a bigger one is refused before parsing (it is not a spec)."""
MAX_DEPTH = 32
"""Deepest nesting of tables and lists accepted in a spec file."""
_FREE_FORM = ("server_args",)
"""Top-level tables handed to user code as they are: nan/inf and NUL allowed there."""


@dataclass(frozen=True)
class Job:
    """One validated job: a workload (with the scenario's overrides applied)."""

    name: str
    workload: WorkloadSpec
    iterations: int
    workload_path: Path
    index: int

    @property
    def workload_dir(self) -> Path:
        return self.workload_path.parent


@dataclass(frozen=True)
class Scenario:
    name: str
    path: Path
    jobs: tuple[Job, ...]
    description: str = ""


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file, turning I/O, size, encoding and syntax errors and hostile values
    into SpecErrors naming the file (and the field, for a value)."""
    data, problem = _read_toml(path)
    if problem is not None:
        raise_problems([Problem(path, (), problem)])
    assert data is not None
    raise_problems(Problem(path, loc, message) for loc, message in hostile_values(data))
    return data


def _read_toml(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(data, None)`` or ``(None, why the file cannot be read as a spec)``."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        return None, "no such file"
    except IsADirectoryError:
        return None, "is a directory, expected a .toml file"
    except OSError as exc:
        return None, f"cannot read: {os_reason(exc)}"
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            return None, "is a directory, expected a .toml file"
        if not stat.S_ISREG(info.st_mode):
            return None, "is not a regular file, expected a .toml file"
        if info.st_size > MAX_SPEC_BYTES:
            return None, (
                f"is {info.st_size / 2**20:.1f} MiB; a spec file is at most "
                f"{MAX_SPEC_BYTES // 2**20} MiB (is this the right file?)"
            )
        with os.fdopen(fd, "rb", closefd=False) as fh:
            raw = fh.read(MAX_SPEC_BYTES + 1)
    except OSError as exc:
        return None, f"cannot read: {os_reason(exc)}"
    finally:
        os.close(fd)
    if len(raw) > MAX_SPEC_BYTES:
        return None, f"is larger than {MAX_SPEC_BYTES // 2**20} MiB; a spec file is smaller"
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark (Windows editors write one) is not TOML
    except UnicodeDecodeError as exc:
        return None, (
            f"is not UTF-8 text: byte {raw[exc.start]:#04x} at offset {exc.start} "
            "(save the file as UTF-8)"
        )
    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        return None, f"invalid TOML: {exc}"
    except RecursionError:
        return None, f"invalid TOML: nested more than {MAX_DEPTH} levels deep"


def hostile_values(data: Mapping[str, Any]) -> Iterator[tuple[Loc, str]]:
    """Values no spec field accepts, wherever they are: nesting deeper than
    :data:`MAX_DEPTH`, NUL characters (in keys too) and nan/inf. ``server_args`` may hold
    nan/inf and NUL (they go to the live server unchanged) but not the deep nesting."""
    stack: list[tuple[Loc, Any, bool]] = [((), data, True)]
    while stack:
        loc, node, strict = stack.pop()
        if len(loc) > MAX_DEPTH:
            yield loc[:2], f"nested more than {MAX_DEPTH} levels deep"
            continue
        if isinstance(node, Mapping):
            for key, value in node.items():
                if strict and "\0" in key:
                    yield (*loc, key), "a key must not contain a NUL character"
                    continue
                stack.append(((*loc, key), value, strict and not (not loc and key in _FREE_FORM)))
        elif isinstance(node, list):
            stack.extend(((*loc, i), value, strict) for i, value in enumerate(node))
        elif not strict:
            continue
        elif isinstance(node, str) and "\0" in node:
            yield loc, "must not contain a NUL character (it cannot reach a command or variable)"
        elif isinstance(node, float) and not math.isfinite(node):
            yield loc, f"must be a finite number, got {node!r}"


def load(path: str | Path) -> Scenario:
    """Load and validate a scenario or workload file; raises ``SpecError`` (exit 2)."""
    path = Path(path).resolve()
    data = read_toml(path)
    if "jobs" in data:
        return _load_scenario(path, data)
    workload = _validate_workload(path, data, overrides={}, scenario_path=None, index=0)
    job = Job(workload.name, workload, 1, path, 0)
    return Scenario(workload.name, path, (job,), workload.description)


def _load_scenario(path: Path, data: dict[str, Any]) -> Scenario:
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        raise_problems(_attribute(problems_from_validation(exc, data, ScenarioSpec), path, ()))
        raise AssertionError("unreachable") from exc

    jobs: list[Job] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for index, job_spec in enumerate(spec.jobs):
        overrides = dict(job_spec.model_extra or {})
        workload_path = (path.parent / job_spec.workload).resolve()
        loc: Loc = ("jobs", index, "workload")
        if not workload_path.is_file():
            why = "is not a regular file" if workload_path.exists() else "no such file"
            problems.append(Problem(path, loc, f"{why}: {workload_path}"))
            continue
        workload_data, unreadable = _read_toml(workload_path)
        if unreadable is not None:
            problems.append(Problem(path, loc, f"cannot load {workload_path}: {unreadable}"))
            continue
        assert workload_data is not None
        if "jobs" in workload_data:  # a scenario named as a workload: say so, not "unknown key"
            kind = "this scenario itself" if workload_path == path else "a scenario"
            problems.append(
                Problem(
                    path,
                    loc,
                    f"{workload_path} is {kind} (it has jobs), not a workload; name a "
                    "workload file",
                )
            )
            continue
        context = f"jobs[{index}] of {path.name}"
        hostile = [
            Problem(workload_path, where, why, context)
            for where, why in hostile_values(workload_data)
        ]
        if hostile:
            problems.extend(hostile)
            continue
        unset_problems = _unset(workload_data, job_spec.unset, workload_path.name)
        if unset_problems:
            problems.extend(
                Problem(path, ("jobs", index, "unset", i), why) for i, why in unset_problems
            )
            continue
        try:
            workload = _validate_workload(
                workload_path, workload_data, overrides, scenario_path=path, index=index
            )
        except _Problems as exc:
            problems.extend(exc.problems)
            continue
        if workload.name in seen:
            problems.append(
                Problem(
                    path,
                    ("jobs", index, "name"),
                    f"job name {workload.name!r} is already used by jobs[{seen[workload.name]}]; "
                    "give this job its own name = '...'",
                )
            )
            continue
        seen[workload.name] = index
        jobs.append(Job(workload.name, workload, job_spec.iterations, workload_path, index))
    raise_problems(problems)
    return Scenario(spec.name, path, tuple(jobs), spec.description)


class _Problems(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(problems)
        self.problems = problems


def _validate_workload(
    path: Path,
    data: dict[str, Any],
    overrides: Mapping[str, Any],
    scenario_path: Path | None,
    index: int,
) -> WorkloadSpec:
    merged = deep_merge(data, overrides)
    try:
        workload = WorkloadSpec.model_validate(merged)
    except ValidationError as exc:
        problems = problems_from_validation(exc, merged, WorkloadSpec)
    else:
        problems = [Problem(Path(), loc, msg) for loc, msg in check_workload(workload)]
        if not problems:
            problems = _check_paths(workload, path.parent)
    if not problems:
        return workload
    located = [_locate(p, path, overrides, scenario_path, index) for p in problems]
    if scenario_path is None:
        raise_problems(located)
    raise _Problems(located)


def _locate(
    problem: Problem,
    workload_path: Path,
    overrides: Mapping[str, Any],
    scenario_path: Path | None,
    index: int,
) -> Problem:
    """Blame the scenario when the offending value came from a job override; a problem in
    the workload file itself says which job of the scenario loaded it."""
    if scenario_path is None:
        return Problem(workload_path, problem.loc, problem.message)
    if _overridden(problem.loc, overrides):
        return Problem(scenario_path, ("jobs", index, *problem.loc), problem.message)
    context = f"jobs[{index}] of {scenario_path.name}"
    if overrides:
        context += f", with its overrides of {', '.join(sorted(overrides))}"
    return Problem(workload_path, problem.loc, problem.message, context)


def _check_paths(workload: WorkloadSpec, base: Path) -> list[Problem]:
    """Paths the spec names that must exist before anything runs (``agent.warm_start``)."""
    if workload.agent.warm_start is None:
        return []
    from tunegym.spec.paths import resolve_store

    try:
        resolve_store(workload.agent.warm_start, base)
    except SpecError as exc:
        message = str(exc).removeprefix("warm_start: ")
        return [Problem(Path(), ("agent", "warm_start"), message)]
    return []


def _overridden(loc: Loc, overrides: Mapping[str, Any]) -> bool:
    node: Any = overrides
    for part in loc:
        if not isinstance(node, Mapping):
            return True  # the override replaced a whole value that contains the problem
        if part not in node:
            return False
        node = node[part]
    return bool(loc)


def _attribute(problems: list[Problem], path: Path, prefix: Loc) -> list[Problem]:
    return [Problem(path, (*prefix, *p.loc), p.message) for p in problems]


def _unset(data: dict[str, Any], paths: Sequence[str], name: str) -> list[tuple[int, str]]:
    """Remove each dotted path of ``paths`` from ``data`` (in place); returns
    ``(index, why)`` for each path that names nothing there."""
    problems: list[tuple[int, str]] = []
    for i, dotted in enumerate(paths):
        keys = dotted.split(".")
        node: Any = data
        for key in keys[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if not all(keys) or not isinstance(node, dict) or keys[-1] not in node:
            problems.append((i, f"{dotted!r} is not a field of {name}: nothing to unset"))
            continue
        del node[keys[-1]]
    return problems


def deep_merge(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) replaces the base's."""
    out = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out
