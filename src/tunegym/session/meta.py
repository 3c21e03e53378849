"""The run database's meta keys, checked for the shape the run wrote them in before a
resume or a report relies on them: a key whose JSON has another shape (``jobs = [1]``,
``run.spec = 5``) is a :class:`~tunegym.trial.store.DamagedDatabaseError` naming the
file and the key (exit 2), as a key that is not JSON is, not a ``TypeError`` from deep
inside."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tunegym.spec.errors import show_value
from tunegym.trial.store import DamagedDatabaseError

__all__ = ["checked_fingerprints", "checked_job_entry", "checked_run_info", "damaged_meta"]


def damaged_meta(path: Path, key: str, why: str) -> DamagedDatabaseError:
    """The error for the meta ``key`` of the database at ``path``, damaged as ``why`` says."""
    return DamagedDatabaseError(f"{path}: meta {key!r} is damaged ({why})")


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _or_null(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or check(value)


def _list_of(check: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and all(map(check, value))


def _string(value: Any) -> bool:
    return isinstance(value, str)


def _object(value: Any) -> bool:
    return isinstance(value, dict)


_RUN_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "scenario": (_string, "a string"),
    "spec": (_string, "a path"),
    "run_dir": (_string, "a path"),
    "dry_run": (lambda v: isinstance(v, bool), "true or false"),
    "seed": (_or_null(_whole), "an integer or null"),
    "max_steps": (_or_null(_whole), "an integer or null"),
    "budget_s": (_or_null(_number), "a number or null"),
    "budget_grace_s": (_or_null(_number), "a number or null"),
    "started_at": (_number, "a time"),
    "resumed_at": (_list_of(_number), "a list of times"),
    "budgets": (_list_of(_or_null(_whole)), "a list of integers"),
    "extended": (_list_of(_object), "a list of objects"),
}
"""What each field of the ``run`` key holds, as :class:`~tunegym.session.RunSession`
writes it."""

_JOB_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "name": (_string, "a string"),
    "iteration": (_whole, "an integer"),
    "workload": (_object, "an object"),
    "workload_path": (_string, "a path"),
    "seq": (_whole, "an integer"),
    "index": (_whole, "an integer"),
    "iterations": (_whole, "an integer"),
    "agent": (_or_null(_string), "a string or null"),
    "max_steps": (_or_null(_whole), "an integer or null"),
    "status": (_or_null(_string), "a string or null"),
    "exit_code": (_or_null(_whole), "an integer or null"),
    "message": (_or_null(_string), "a string or null"),
    "extra": (_or_null(_object), "an object or null"),
}
_JOB_REQUIRED = ("name", "iteration", "workload", "workload_path")


def _fields(
    path: Path,
    key: str,
    value: Any,
    fields: Mapping[str, tuple[Callable[[Any], bool], str]],
    required: tuple[str, ...] = (),
) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise damaged_meta(path, key, f"{_kind(value)}, not a JSON object")
    for name in required:
        if name not in value:
            raise damaged_meta(path, key, f"it has no {name}")
    for name, (check, expected) in fields.items():
        if name in value and not check(value[name]):
            raise damaged_meta(
                path, key, f"its {name} is {show_value(value[name], 40)}, not {expected}"
            )
    return value


def checked_run_info(path: Path, meta: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ``run`` key of ``meta`` (read from the database at ``path``), or ``None`` when
    there is none."""
    run = meta.get("run")
    return None if run is None else _fields(path, "run", run, _RUN_FIELDS)


def checked_fingerprints(path: Path, meta: Mapping[str, Any]) -> dict[str, Any]:
    """The ``jobs`` key of ``meta``: each job's name and fingerprint (``{}`` when absent)."""
    jobs = meta.get("jobs", {})
    if not isinstance(jobs, dict):
        raise damaged_meta(path, "jobs", f"{_kind(jobs)}, not a JSON object of job fingerprints")
    for name, fingerprint in jobs.items():
        if not (
            isinstance(fingerprint, dict)
            and isinstance(fingerprint.get("workload"), dict)
            and _whole(fingerprint.get("iterations"))
        ):
            raise damaged_meta(
                path, "jobs", f"the fingerprint of job {show_value(name, 40)} is no workload"
            )
    return jobs


def checked_job_entry(path: Path, key: str, entry: Any) -> dict[str, Any]:
    """The meta entry ``key`` (``job:<name>:<iteration>``) of a job iteration."""
    return _fields(path, key, entry, _JOB_FIELDS, _JOB_REQUIRED)


def _kind(value: Any) -> str:
    kinds = {list: "a JSON list", str: "a JSON string", bool: "true or false", type(None): "null"}
    return kinds.get(type(value), f"the JSON value {show_value(value, 40)}")
