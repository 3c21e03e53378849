"""``RunSession``: the one owner of a run folder while a run writes to it.

It creates the folder (absolute from the start, so every path a trial sees exists from
inside it) or reopens one to resume, holds its lock (one writer per run folder), opens
each job iteration's store under it, and writes every meta key of its database:

* ``run``: the run info (scenario, spec path, run folder, dry run, seed, budget, start
  time, and ``resumed_at`` for each resume);
* ``jobs``: the job fingerprints a resume is checked against;
* ``process``: pid and host of the process writing it, so a reader can tell a run still
  in progress from one that died;
* ``job:<name>:<iteration>``: per job iteration, its record (see :class:`JobRecord`);
* ``result``: status, end time and duration, written when the run finishes (``null``
  while it runs).

Reports read these (:mod:`tunegym.session.reading`); they never write them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import socket
import time
import traceback
from pathlib import Path
from typing import Any

from tunegym.errors import (
    DiskFullError,
    TunegymError,
    UsageError,
    full_disk_cause,
    full_disk_phrase,
    os_reason,
)
from tunegym.session.fingerprints import check_fingerprints, scenario_fingerprints
from tunegym.session.lock import RunLock
from tunegym.session.meta import checked_fingerprints, checked_run_info
from tunegym.session.records import JobRecord
from tunegym.session.replayable import check_replayable
from tunegym.spec.loader import Job, Scenario
from tunegym.trial.store import (
    RUN_DB_NAME,
    TrialDatabase,
    TrialStore,
    TrialStoreError,
    open_run_db,
)
from tunegym.user_paths import why_not_a_folder

FAILURE_NAME = "failure.txt"


class RunSession:
    """A run folder open for writing (see the module docstring); use :meth:`create` or
    :meth:`reopen`, and :meth:`close` at the end (or use it as a context manager)."""

    def __init__(self, run_dir: Path, db: TrialDatabase, lock: RunLock, info: dict[str, Any]):
        self.run_dir = run_dir
        self.db = db
        self.lock = lock
        self.info = info
        self.records: list[JobRecord] = []
        self.started = float(info.get("resumed_at", [info["started_at"]])[-1])

    # -- opening -------------------------------------------------------------------------
    @classmethod
    def create(
        cls,
        output: Path,
        scenario: Scenario,
        *,
        dry_run: bool = False,
        seed: int | None = None,
        max_steps: int | None = None,
        budget_s: float | None = None,
        budget_grace_s: float | None = None,
    ) -> RunSession:
        """A new run folder ``<output>/<scenario>_<timestamp>`` (absolute); ``budget_s``
        and ``budget_grace_s`` are ``--budget`` and ``--budget-grace``, recorded so a
        resume keeps them."""
        run_dir = make_run_dir(Path(output).resolve(), scenario.name)
        lock = RunLock(run_dir)
        started = time.time()
        info = {
            "scenario": scenario.name,
            "spec": str(scenario.path),
            "run_dir": str(run_dir),
            "dry_run": dry_run,
            "seed": seed,
            "max_steps": max_steps,
            "budget_s": budget_s,
            "budget_grace_s": budget_grace_s,
            "started_at": started,
        }
        db: TrialDatabase | None = None
        try:
            lock.acquire()
            db = TrialDatabase(run_dir / RUN_DB_NAME)
            session = cls(run_dir, db, lock, info)
            db.set_meta("jobs", scenario_fingerprints(scenario))
            session._mark_started()
        except BaseException as exc:  # nothing is recorded yet: leave no folder behind
            if db is not None:
                db.close()
            lock.release()
            shutil.rmtree(run_dir, ignore_errors=True)
            full = full_disk_cause(exc)
            if full is not None:
                raise DiskFullError(
                    f"{full_disk_phrase(full)}: a run cannot start in {output.resolve()} "
                    "(nothing was recorded; free some space and run it again)"
                ) from exc
            raise
        return session

    @classmethod
    def reopen(cls, run_dir: Path, scenario: Scenario) -> RunSession:
        """Reopen ``run_dir`` to resume it with ``scenario`` (its spec must not have
        changed: a ``SpecError`` names the field, and every recorded trial must be one
        it can replay: a ``DamagedDatabaseError`` names the row); refused while another
        process writes to it (:class:`~tunegym.session.lock.RunLockedError`). Nothing is
        written until these checks pass."""
        run_dir = Path(run_dir).resolve()
        try:
            db = open_run_db(run_dir)
        except UsageError as exc:
            raise UsageError(f"cannot resume: {exc}") from None
        except TrialStoreError as exc:  # damaged (exit 2), or read-only to this user (1)
            raise type(exc)(f"cannot resume: {exc}") from None
        lock = RunLock(run_dir)
        try:
            lock.acquire()
            meta = db.meta()
            recorded = checked_run_info(db.path, meta) or {}
            check_fingerprints(checked_fingerprints(db.path, meta), scenario)
            check_replayable(db, scenario)
        except TrialStoreError as exc:
            lock.release()
            db.close()
            raise type(exc)(f"cannot resume: {exc}") from None
        except BaseException:
            lock.release()
            db.close()
            raise
        info = dict(recorded)
        info.setdefault("started_at", time.time())
        info["run_dir"] = str(run_dir)
        info["resumed_at"] = [*info.get("resumed_at", []), time.time()]
        session = cls(run_dir, db, lock, info)
        session._mark_started()
        return session

    def set_budget(self, budget_s: float | None, grace_s: float | None = None) -> None:
        """A resume's own ``--budget`` and ``--budget-grace`` (``None``: not given): each
        given one replaces the recorded one (a later resume keeps it)."""
        if budget_s is not None:
            self.info["budget_s"] = budget_s
        if grace_s is not None:
            self.info["budget_grace_s"] = grace_s
        self.db.set_meta("run", self.info)

    def extend(self, max_steps: int) -> None:
        """Give every job of the resumed run the budget ``max_steps`` (recorded, so a later
        resume keeps it); the budgets before are kept in ``info["budgets"]``."""
        before = self.info.get("max_steps")
        self.info["budgets"] = [*self.info.get("budgets", [before]), max_steps]
        self.info["extended"] = [
            *self.info.get("extended", []),
            {"from_max_steps": before, "max_steps": max_steps, "at": time.time()},
        ]
        self.info["max_steps"] = max_steps
        self.db.set_meta("run", self.info)

    def _mark_started(self) -> None:
        self.db.set_meta("run", self.info)
        self.db.set_meta("process", {"pid": os.getpid(), "host": socket.gethostname()})
        self.db.set_meta("result", None)

    @property
    def resumed(self) -> bool:
        return bool(self.info.get("resumed_at"))

    # -- jobs ----------------------------------------------------------------------------
    def job_folder(self, job: Job, iteration: int) -> Path:
        """``<run folder>/<job>/<iteration>``; refuses a name that would leave the folder."""
        folder = self.run_dir / job.name / str(iteration)
        if folder.resolve().parent.parent != self.run_dir:
            raise UsageError(f"job name {job.name!r} does not name a folder inside {self.run_dir}")
        return folder

    def open_store(self, job: Job, iteration: int) -> TrialStore:
        """The trial store of one job iteration, in its folder and the run's database."""
        folder = self.job_folder(job, iteration)
        return TrialStore(self.db, job.name, iteration, folder, list(job.workload.env_params))

    def start_job(self, record: JobRecord) -> None:
        """Add a job iteration to the run and record it (status ``running``)."""
        self.records.append(record)
        self.record_job(record)

    def record_job(self, record: JobRecord) -> None:
        """Write ``record``'s current state to the run database."""
        self.db.set_meta(record.key, record.to_meta(self.records.index(record)))

    def mark_running(self, status: str, message: str) -> None:
        """Give every job iteration still ``running`` its final ``status``."""
        for record in self.records:
            if record.status == "running":
                record.status = status
                record.message = message

    # -- ending --------------------------------------------------------------------------
    def finish(self, status: str) -> dict[str, Any]:
        """Record the run's end (every job's record and the ``result``); return the run
        info the reports are written from. A successful resume drops the failure.txt the
        interrupted run left."""
        finished = time.time()
        info = {
            **self.info,
            "status": status,
            "finished_at": finished,
            "duration_s": round(finished - self.started, 6),
        }
        for record in self.records:
            self.record_job(record)
        self.db.set_meta("result", {k: info[k] for k in ("status", "finished_at", "duration_s")})
        if status == "ok" and self.resumed:
            (self.run_dir / FAILURE_NAME).unlink(missing_ok=True)
        return info

    def fail(self, exc: BaseException) -> None:
        """``failure.txt``: the type and message of the error that stopped a run, and the
        traceback of a bug (an error tunegym words for users, such as sbatch refusing a
        script or a Ray cluster that cannot be reached, is no bug: its message says all)."""
        text = f"type: {type(exc).__name__}\nmessage: {exc}\n"
        if not isinstance(exc, TunegymError):
            text += "\n" + "".join(traceback.format_exception(exc))
        (self.run_dir / FAILURE_NAME).write_text(text)

    def close(self) -> None:
        """Close the database and release the lock (after the reports are written)."""
        try:
            self.db.close()
        finally:
            self.lock.release()

    def __enter__(self) -> RunSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_run_dir(output: Path, name: str) -> Path:
    """``<output>/<name>_<timestamp>``, made unique if two runs start in the same second.
    A :class:`UsageError` says why when ``output`` cannot hold it (a file, a read-only
    folder)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        why = why_not_a_folder(output, exc)
        raise UsageError(f"{output}: cannot hold run folders: {why}") from None
    for n in range(1000):
        path = output / (f"{name}_{stamp}" if n == 0 else f"{name}_{stamp}-{n}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"{output}: cannot hold run folders: {os_reason(exc)}") from None
        return path
    raise TunegymError(f"could not create a run folder under {output}")
