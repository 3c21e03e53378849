"""Job fingerprints: a resume with a changed workload is refused, naming the field.

The spec of every job is fingerprinted into the run database's ``jobs`` meta key when a
run starts (by :class:`~tunegym.session.RunSession`); reopening compares them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tunegym.errors import SpecError
from tunegym.spec.errors import format_loc
from tunegym.spec.loader import Job, Scenario


def job_fingerprint(job: Job) -> dict[str, Any]:
    return {"workload": job.workload.model_dump(mode="json"), "iterations": job.iterations}


def scenario_fingerprints(scenario: Scenario) -> dict[str, Any]:
    """The ``jobs`` meta value of a run of ``scenario``."""
    return {job.name: job_fingerprint(job) for job in scenario.jobs}


def check_fingerprints(stored: Mapping[str, Any], scenario: Scenario) -> None:
    """Refuse to resume when a job's spec differs from the one the run started with
    (``stored``: the run's ``jobs`` meta value)."""
    for job in scenario.jobs:
        if job.name not in stored:
            raise SpecError(
                f"cannot resume: job {job.name!r} is not part of the run being resumed "
                f"(it has: {', '.join(sorted(stored)) or 'no jobs'})"
            )
        before, now = stored[job.name], job_fingerprint(job)
        for loc, old, new in _differences(before, now):
            raise SpecError(
                f"cannot resume: the spec of job {job.name!r} changed at {format_loc(loc)} "
                f"(was {old!r}, now {new!r}); start a new run instead"
            )


def _differences(
    old: Any, new: Any, loc: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], Any, Any]]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            yield from _differences(old.get(key), new.get(key), (*loc, key))
    elif old != new:
        yield (loc[1:] if loc[:1] == ("workload",) else loc), old, new
