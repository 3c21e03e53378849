"""Reading a run folder back: its job records and its state, from ``trials.sqlite`` alone.

This is how reports, ``tunegym show`` and ``tunegym report`` see a run, finished, still
going, or killed (status ``crashed``). It never writes to the database, so it is safe
while the run is still going.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from tunegym.errors import TunegymError, UsageError
from tunegym.layout import RUN_DB_NAME
from tunegym.session.meta import checked_job_entry, checked_run_info
from tunegym.session.records import CRASHED_MESSAGE, JOB_KEY_PREFIX, JobRecord
from tunegym.spec.loader import Job
from tunegym.spec.models import WorkloadSpec
from tunegym.trial.store import TrialDatabase, open_run_db


@dataclass
class RunView:
    """A run folder opened for reading: its database, meta, job records and run info
    (``info`` is the recorded run info with the run's current state merged in)."""

    run_dir: Path
    db: TrialDatabase
    meta: dict[str, Any]
    records: list[JobRecord]
    info: dict[str, Any]

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> RunView:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_run(run_dir: Path, now: float | None = None) -> RunView:
    """Open ``run_dir`` for reading; :class:`UsageError` when it is not a run folder."""
    run_dir = Path(run_dir).resolve()
    db = open_run_db(run_dir, read_only=True)
    try:
        meta = db.meta()
        run = checked_run_info(db.path, meta)
        if not isinstance(run, dict):
            raise UsageError(f"{run_dir}: trials.sqlite has no run information (meta 'run')")
        records = load_records(run_dir, meta)
        now = time.time() if now is None else now
        info = {**run, "run_dir": str(run_dir), **run_state(meta, records, db, now)}
    except BaseException:
        db.close()
        raise
    return RunView(run_dir, db, meta, records, info)


def recorded_run_info(run_dir: Path) -> dict[str, Any]:
    """The run metadata a run folder recorded (seed, budget, spec...), read without a lock."""
    db = open_run_db(Path(run_dir), read_only=True)
    try:
        run = checked_run_info(db.path, db.meta())
    finally:
        db.close()
    return dict(run or {})


def recorded_spec(run_dir: Path) -> Path:
    """The spec file a run folder was started from; :class:`UsageError` when unknown."""
    db = open_run_db(Path(run_dir), read_only=True)
    try:
        run = checked_run_info(db.path, db.meta())
    finally:
        db.close()
    if run is None or "spec" not in run:
        raise UsageError(f"{run_dir}: its trials.sqlite has no run metadata")
    return Path(run["spec"])


def load_records(run_dir: Path, meta: dict[str, Any]) -> list[JobRecord]:
    """The job iterations the run started, in the order it started them."""
    path = run_dir / RUN_DB_NAME
    entries = sorted(
        (checked_job_entry(path, k, v) for k, v in meta.items() if k.startswith(JOB_KEY_PREFIX)),
        key=lambda e: (e.get("seq", 0), e.get("index", 0), e.get("iteration", 0)),
    )
    records = []
    for entry in entries:
        try:
            workload = WorkloadSpec.model_validate(entry["workload"])
        except (ValidationError, KeyError) as exc:
            raise TunegymError(
                f"{run_dir}: the stored workload of job {entry.get('name')!r} no longer "
                f"validates ({type(exc).__name__}); this tunegym cannot report on it"
            ) from exc
        job = Job(
            entry["name"],
            workload,
            int(entry.get("iterations", 1)),
            Path(entry["workload_path"]),
            int(entry.get("index", 0)),
        )
        record = JobRecord(
            job,
            int(entry["iteration"]),
            run_dir / job.name / str(entry["iteration"]),
            entry.get("agent"),
            int(entry.get("max_steps") or 1),
        )
        record.status = entry.get("status") or "running"
        record.exit_code = entry.get("exit_code")
        record.message = entry.get("message")
        record.extra = dict(entry.get("extra") or {})
        records.append(record)
    return records


def run_state(
    meta: dict[str, Any], records: Sequence[JobRecord], db: TrialDatabase, now: float
) -> dict[str, Any]:
    """``status``, ``finished_at`` and ``duration_s`` of a run, as far as the db tells.

    A run with a recorded result is finished. Otherwise it is ``running`` while its process
    is alive on this host, else ``crashed``: its unfinished jobs become ``crashed`` too, and
    its end is taken as the end of its last recorded trial.
    """
    run = meta.get("run") or {}
    started = float(run.get("started_at") or now)
    result = meta.get("result")
    if isinstance(result, dict) and result.get("status"):
        return dict(result)
    if "process" not in meta:  # a run from before process records: trust its summary
        previous = _read_summary(db.path.parent / "summary.json")
        if previous.get("status") not in (None, "running"):
            return {k: previous.get(k) for k in ("status", "finished_at", "duration_s")}
    if process_alive(meta.get("process")):
        return {"status": "running", "finished_at": None, "duration_s": round(now - started, 6)}
    for record in records:
        if record.status == "running":
            record.status = "crashed"
            record.message = record.message or CRASHED_MESSAGE
    last = db.last_trial_end()
    finished = max(started, last) if last is not None else started
    return {
        "status": "crashed",
        "finished_at": finished,
        "duration_s": round(finished - started, 6),
    }


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def process_alive(process: Any) -> bool:
    """Whether ``process`` (a ``{"pid", "host"}`` record of the process writing a run)
    is a process alive on this host (one on another host cannot be told: ``False``)."""
    if not isinstance(process, dict) or process.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(process["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return True
