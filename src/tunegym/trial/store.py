"""``TrialStore``: every trial row, in SQLite and in the per-job CSV files.

One SQLite file per run (``trials.sqlite``, WAL) holds the rows of every job; each row
is committed on its own, so a crash or Ctrl-C loses nothing that was recorded. Each job
iteration also gets ``trajectory.csv`` and, when env params exist, ``env.csv``; both are
appended and flushed per row and stay aligned 1:1 by step.
"""

from __future__ import annotations

import csv
import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tunegym.layout import ENV_PARAMS_NAME, RUN_DB_NAME, TRAJECTORY_NAME
from tunegym.trial.rows import Episode, TrialRow
from tunegym.trial.sqlite_file import (
    DamagedDatabaseError,
    TrialStoreError,
    check_run_file,
    check_run_tables,
    connect_read_only,
    leaving_no_trace,
    open_failure,
    read_failure,
)
from tunegym.trial.status import SCORED_STATUSES, STATUSES
from tunegym.values import is_finite_number

TRAJECTORY_COLUMNS = ("step", "action", "reward", "observation", "status", "cached", "duration_s")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS trials (
    job         TEXT    NOT NULL,
    iteration   INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    env_params  TEXT    NOT NULL,
    observation TEXT    NOT NULL,
    reward      REAL,
    status      TEXT    NOT NULL,
    cached      INTEGER NOT NULL,
    returncode  INTEGER,
    duration_s  REAL    NOT NULL,
    started_at  REAL    NOT NULL,
    seq         INTEGER NOT NULL,   -- order in which rows were recorded (completion order)
    error       TEXT,               -- why a trial failed (runner, metrics or constraint)
    PRIMARY KEY (job, iteration, step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS episodes (
    job          TEXT    NOT NULL,
    iteration    INTEGER NOT NULL,
    episode      INTEGER NOT NULL,
    first_step   INTEGER NOT NULL,
    last_step    INTEGER NOT NULL,
    steps        INTEGER NOT NULL,
    total_reward REAL,
    terminated   INTEGER NOT NULL,
    truncated    INTEGER NOT NULL,
    seed         INTEGER,
    PRIMARY KEY (job, iteration, episode)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS curves (
    job           TEXT    NOT NULL,
    iteration     INTEGER NOT NULL,
    step          INTEGER NOT NULL,   -- the trial
    progress_step INTEGER NOT NULL,   -- the step of its intermediate value (an epoch)
    value         REAL    NOT NULL,
    at            REAL    NOT NULL,   -- Unix time it was read
    PRIMARY KEY (job, iteration, step, progress_step)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dispatched (
    job         TEXT    NOT NULL,
    iteration   INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    action      TEXT    NOT NULL,
    env_params  TEXT    NOT NULL,
    started_at  REAL    NOT NULL,
    PRIMARY KEY (job, iteration, step)
) WITHOUT ROWID;
"""


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)
_encode = _ENCODER.encode  # one encoder for every row: json.dumps(**kw) builds one per call


def _dumps(value: Any) -> str:
    if isinstance(value, dict) and not value:
        return "{}"  # most rows have no env params: skip the encoder
    return _encode(value)


@dataclass(frozen=True)
class EncodedRow:
    """A row's JSON columns, serialised once for both SQLite and the CSV files."""

    action: str
    env_params: str
    observation: str
    reward: float | None

    @classmethod
    def of(cls, row: TrialRow) -> EncodedRow:
        reward = row.reward if row.reward is not None and math.isfinite(row.reward) else None
        return cls(
            _dumps(row.action), _dumps(row.env_params), _dumps(_finite(row.observation)), reward
        )


class TrialDatabase:
    """The run's SQLite file. One connection, autocommit: each row is its own transaction
    (a read's curve points are one, see :meth:`add_points`).

    ``read_only`` opens an existing file without creating or changing anything (for
    reading a run, still going or finished, e.g. a report or a warm start), in a folder
    this user may not write to as well; its reads raise :class:`TrialStoreError` when the
    file is not a tunegym trial database (a :class:`DamagedDatabaseError` when its
    contents are at fault).
    """

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only
        try:
            self.conn = self._connect(path, read_only)
        except sqlite3.DatabaseError as exc:
            raise open_failure(path, exc) from None
        self._seq: dict[tuple[str, int], int] = {}
        self._lock = threading.RLock()
        """Held around every write: a watcher thread's transaction of points
        (:meth:`add_points`) must not take in another thread's statement."""

    @staticmethod
    def _connect(path: Path, read_only: bool) -> sqlite3.Connection:
        if read_only:
            return connect_read_only(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            # Small pages: each per-row commit writes one page to the WAL (a new file
            # only; an existing run keeps its page size).
            conn.execute("PRAGMA page_size=1024")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _read(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.DatabaseError as exc:
            raise read_failure(self.path, exc) from None

    def set_meta(self, key: str, value: Any) -> None:
        with self._lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, _dumps(value))
            )

    def meta(self) -> dict[str, Any]:
        records = self._read("SELECT key, value FROM meta")
        try:
            return {k: json.loads(v) for k, v in records}
        except (TypeError, ValueError):
            bad = next(k for k, v in records if not _is_json(v))
            raise DamagedDatabaseError(f"{self.path}: meta {bad!r} is damaged (not JSON)") from None

    def insert(
        self, job: str, iteration: int, row: TrialRow, encoded: EncodedRow | None = None
    ) -> None:
        enc = encoded or EncodedRow.of(row)
        with self._lock:
            self._insert(job, iteration, row, enc)

    def _insert(self, job: str, iteration: int, row: TrialRow, enc: EncodedRow) -> None:
        seq = self._next_seq(job, iteration)
        self.conn.execute(
            "INSERT INTO trials VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                job,
                iteration,
                row.step,
                enc.action,
                enc.env_params,
                enc.observation,
                enc.reward,
                str(row.status),  # a plain str: SQLite adapts str subclasses the slow way
                int(row.cached),
                row.returncode,
                row.duration_s,
                row.started_at,
                seq,
                row.error,
            ),
        )
        self._seq[(job, iteration)] = seq + 1

    def _next_seq(self, job: str, iteration: int) -> int:
        key = (job, iteration)
        if key not in self._seq:
            (top,) = self.conn.execute(
                "SELECT coalesce(max(seq), -1) FROM trials WHERE job = ? AND iteration = ?", key
            ).fetchone()
            self._seq[key] = top + 1
        return self._seq[key]

    def mark_dispatched(
        self,
        job: str,
        iteration: int,
        step: int,
        action: Mapping[str, Any],
        env_params: Mapping[str, Any],
    ) -> None:
        """Record that a trial started, so a resume can tell started from finished."""
        with self._lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO dispatched VALUES (?, ?, ?, ?, ?, ?)",
                (job, iteration, step, _dumps(action), _dumps(env_params), time.time()),
            )

    def unfinished(self, job: str, iteration: int) -> list[tuple[int, dict, dict]]:
        """``(step, action, env_params)`` of trials that started but have no row."""
        cursor = self.conn.execute(
            "SELECT d.step, d.action, d.env_params FROM dispatched d LEFT JOIN trials t"
            " ON t.job = d.job AND t.iteration = d.iteration AND t.step = d.step"
            " WHERE d.job = ? AND d.iteration = ? AND t.step IS NULL ORDER BY d.step",
            (job, iteration),
        )
        return [(step, json.loads(a), json.loads(e)) for step, a, e in cursor]

    def rows(self, job: str, iteration: int) -> list[TrialRow]:
        """The rows of one job iteration, in the order they were recorded (each with its
        curve, when it has one)."""
        rows = self._decode_rows(
            job,
            self._read(
                f"SELECT {_ROW_COLUMNS} FROM trials WHERE job = ? AND iteration = ? ORDER BY seq",
                (job, iteration),
            ),
        )
        curves = {step: points for (_, step), points in self.curves(job, iteration).items()}
        return _with_curves(rows, lambda row: curves.get(row.step))

    def job_rows(self, job: str) -> list[TrialRow]:
        """Every row of ``job``, all iterations, in (iteration, step) order (with curves)."""
        records = self._read(
            f"SELECT iteration, {_ROW_COLUMNS} FROM trials WHERE job = ? ORDER BY iteration, step",
            (job,),
        )
        rows = self._decode_rows(job, [record[1:] for record in records])
        curves = self.curves(job)
        keys = iter([(int(record[0]), row.step) for record, row in zip(records, rows, strict=True)])
        return _with_curves(rows, lambda row: curves.get(next(keys)))

    # -- intermediate values -------------------------------------------------------------
    def add_points(
        self, job: str, iteration: int, step: int, points: list[tuple[int, float]]
    ) -> None:
        """Record intermediate values of trial ``step`` as they are read (a crash keeps
        them). Safe to call from a watcher thread while the main thread records rows."""
        now = time.time()
        with self._lock:
            self.conn.execute("BEGIN")  # one transaction for the read's points, not one each
            try:
                self.conn.executemany(
                    "INSERT OR REPLACE INTO curves VALUES (?, ?, ?, ?, ?, ?)",
                    [(job, iteration, step, s, v, now) for s, v in points],
                )
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def clear_curve(self, job: str, iteration: int, step: int) -> None:
        """Forget trial ``step``'s points (it runs again after a crash)."""
        with self._lock:
            self.conn.execute(
                "DELETE FROM curves WHERE job = ? AND iteration = ? AND step = ?",
                (job, iteration, step),
            )

    def curves(
        self, job: str, iteration: int | None = None
    ) -> dict[tuple[int, int], tuple[tuple[int, float], ...]]:
        """``{(iteration, step): ((progress_step, value), ...)}`` of ``job`` (one
        iteration, or all), points in step order; empty for a run made before curves were
        recorded."""
        sql = "SELECT iteration, step, progress_step, value FROM curves WHERE job = ?"
        args: tuple[Any, ...] = (job,)
        if iteration is not None:
            sql += " AND iteration = ?"
            args = (job, iteration)
        try:
            with self._lock:
                records = self.conn.execute(
                    sql + " ORDER BY iteration, step, progress_step", args
                ).fetchall()
        except sqlite3.OperationalError:  # a read-only database from before the table
            return {}
        except sqlite3.DatabaseError as exc:
            raise read_failure(self.path, exc) from None
        out: dict[tuple[int, int], list[tuple[int, float]]] = {}
        for it, step, progress_step, value in records:
            out.setdefault((int(it), int(step)), []).append((int(progress_step), float(value)))
        return {key: tuple(points) for key, points in out.items()}

    def insert_episode(self, job: str, iteration: int, episode: Episode) -> None:
        total = episode.total_reward if math.isfinite(episode.total_reward) else None
        with self._lock:
            self.conn.execute(
                "INSERT OR REPLACE INTO episodes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job,
                    iteration,
                    episode.index,
                    episode.first_step,
                    episode.last_step,
                    episode.steps,
                    total,
                    int(episode.terminated),
                    int(episode.truncated),
                    episode.seed,
                ),
            )

    def episodes(self, job: str, iteration: int) -> list[Episode]:
        """The finished episodes of a live job iteration, in order (none for other jobs,
        and for runs made before episodes were recorded)."""
        try:
            records = self.conn.execute(
                "SELECT episode, first_step, last_step, steps, total_reward, terminated,"
                " truncated, seed FROM episodes WHERE job = ? AND iteration = ? ORDER BY episode",
                (job, iteration),
            ).fetchall()
        except sqlite3.OperationalError:  # a read-only database from before the table
            return []
        except sqlite3.DatabaseError as exc:
            raise read_failure(self.path, exc) from None
        return [
            Episode(i, a, b, n, math.nan if r is None else float(r), bool(te), bool(tr), seed)
            for i, a, b, n, r, te, tr, seed in records
        ]

    def jobs(self) -> list[str]:
        """The names of the jobs that have rows, sorted."""
        return [name for (name,) in self._read("SELECT DISTINCT job FROM trials ORDER BY job")]

    def iterations_with_rows(self) -> set[tuple[str, int]]:
        """``(job, iteration)`` of every job iteration that recorded a row."""
        return {
            (job, int(it)) for job, it in self._read("SELECT DISTINCT job, iteration FROM trials")
        }

    def last_trial_end(self) -> float | None:
        """When the last recorded trial ended (``started_at + duration_s``), if any."""
        (last,) = self._read("SELECT max(started_at + duration_s) FROM trials")[0]
        return None if last is None else float(last)

    def _decode_rows(self, job: str, records: list[tuple[Any, ...]]) -> list[TrialRow]:
        """Rows from their columns; a :class:`DamagedDatabaseError` names a damaged one."""
        try:
            rows = [
                TrialRow(
                    step, json.loads(a), json.loads(e), json.loads(o), r, s, bool(c), rc, d, t, err
                )
                for step, a, e, o, r, s, c, rc, d, t, err in records
            ]
        except (TypeError, ValueError) as exc:
            raise DamagedDatabaseError(f"{self.path}: {_damage(job, records, exc)}") from None
        for row in rows:
            for name in ("action", "env_params", "observation"):
                value = getattr(row, name)
                if not isinstance(value, dict):
                    raise DamagedDatabaseError(
                        f"{self.path}: trial {row.step} of job {job!r} is damaged: its {name} "
                        f"is not a JSON object (a {type(value).__name__})"
                    )
        return rows

    def close(self) -> None:
        self.conn.close()


_ROW_COLUMNS = (
    "step, action, env_params, observation, reward, status, cached, returncode,"
    " duration_s, started_at, error"
)


def _damage(job: str, records: list[tuple[Any, ...]], exc: Exception) -> str:
    """Which row of ``job`` could not be decoded (``exc``), and what in it is damaged."""
    names = ("action", "env_params", "observation")
    for step, *json_columns in (record[:4] for record in records):
        for name, text in zip(names, json_columns, strict=True):
            if not _is_json(text):
                return f"trial {step} of job {job!r} is damaged: its {name} is not JSON"
    for step, _a, _e, _o, _reward, status, *_ in records:
        if status not in STATUSES:
            return f"trial {step} of job {job!r} is damaged: its status is {status!r}"
    return f"a trial of job {job!r} is damaged: {exc}"


def _is_json(text: Any) -> bool:
    try:
        json.loads(text)
    except (TypeError, ValueError):
        return False
    return True


def _with_curves(
    rows: list[TrialRow], curve_of: Callable[[TrialRow], tuple[tuple[int, float], ...] | None]
) -> list[TrialRow]:
    out = []
    for row in rows:
        curve = curve_of(row)
        out.append(replace(row, curve=curve) if curve else row)
    return out


def _finite(observation: Mapping[str, float]) -> dict[str, float]:
    return {  # floats (nearly every value) without the call: this runs once per row
        k: v
        for k, v in observation.items()
        if (math.isfinite(v) if v.__class__ is float else is_finite_number(v))
    }


class TrialStore:
    """The rows of one job iteration: SQLite plus ``trajectory.csv`` and ``env.csv``."""

    def __init__(
        self, db: TrialDatabase, job: str, iteration: int, folder: Path, env_param_names: list[str]
    ) -> None:
        self.db = db
        self.job = job
        self.iteration = iteration
        self.folder = folder
        self.env_param_names = list(env_param_names)
        folder.mkdir(parents=True, exist_ok=True)
        self.trajectory_path = folder / TRAJECTORY_NAME
        self.env_path = folder / ENV_PARAMS_NAME if env_param_names else None
        self._trajectory = self._open(self.trajectory_path, TRAJECTORY_COLUMNS)
        self._env = (
            self._open(self.env_path, ("step", *self.env_param_names)) if self.env_path else None
        )

    @staticmethod
    def _open(path: Path, header: tuple[str, ...]) -> tuple[Any, Any]:
        new = not path.exists() or path.stat().st_size == 0
        fh = path.open("a", newline="", encoding="utf-8")
        writer = csv.writer(fh)
        if new:
            writer.writerow(header)
            fh.flush()
        return fh, writer

    def append(self, row: TrialRow) -> None:
        """Commit ``row`` to SQLite, then append and flush both CSV files."""
        encoded = EncodedRow.of(row)
        self.db.insert(self.job, self.iteration, row, encoded)
        self._write_csv(row, encoded)

    def _write_csv(self, row: TrialRow, encoded: EncodedRow | None = None) -> None:
        enc = encoded or EncodedRow.of(row)
        fh, writer = self._trajectory
        writer.writerow(
            (
                row.step,
                enc.action,
                "" if enc.reward is None else repr(enc.reward),
                enc.observation,
                str(row.status),
                int(row.cached),
                f"{row.duration_s:.6f}",
            )
        )
        fh.flush()
        if self._env is not None:
            efh, ewriter = self._env
            ewriter.writerow((row.step, *(row.env_params.get(n, "") for n in self.env_param_names)))
            efh.flush()

    def mark_dispatched(
        self, step: int, action: Mapping[str, Any], env_params: Mapping[str, Any]
    ) -> None:
        """Record that ``step`` started (its row comes when it finishes)."""
        self.db.mark_dispatched(self.job, self.iteration, step, action, env_params)

    def rows(self) -> list[TrialRow]:
        """This job iteration's rows in the order they were recorded."""
        return self.db.rows(self.job, self.iteration)

    def add_points(self, step: int, points: list[tuple[int, float]]) -> None:
        """Record intermediate values of trial ``step`` (see :meth:`TrialDatabase.add_points`)."""
        if points:
            self.db.add_points(self.job, self.iteration, step, points)

    def clear_curve(self, step: int) -> None:
        self.db.clear_curve(self.job, self.iteration, step)

    def curves(self) -> dict[int, tuple[tuple[int, float], ...]]:
        """``{step: points}`` of this job iteration."""
        return {s: c for (_, s), c in self.db.curves(self.job, self.iteration).items()}

    def record_episode(self, episode: Episode) -> None:
        """Commit a finished episode (live jobs)."""
        self.db.insert_episode(self.job, self.iteration, episode)

    def episodes(self) -> list[Episode]:
        return self.db.episodes(self.job, self.iteration)

    def rebuild_csv(self) -> None:
        """Rewrite ``trajectory.csv`` and ``env.csv`` from SQLite (after a crash tore them)."""
        self.close()
        for path in (self.trajectory_path, self.env_path):
            if path is not None:
                path.unlink(missing_ok=True)
        self._trajectory = self._open(self.trajectory_path, TRAJECTORY_COLUMNS)
        if self.env_path is not None:
            self._env = self._open(self.env_path, ("step", *self.env_param_names))
        for row in self.rows():
            self._write_csv(row)

    def close(self) -> None:
        for handle in (self._trajectory, self._env):
            if handle is not None and not handle[0].closed:
                handle[0].close()


def open_run_db(run_dir: Path, *, read_only: bool = False) -> TrialDatabase:
    """An existing run folder's database. A folder that is not a run's is a clear
    ``UsageError``; a ``trials.sqlite`` that is not a tunegym run's database (not SQLite,
    cut short, without tunegym's tables or columns) a
    :class:`~tunegym.trial.sqlite_file.DamagedDatabaseError` (exit 2), found before
    anything writes to it and leaving it as it was. ``read_only``: for readers (reports,
    ``tunegym show``), which then work on a run still going and on a folder this user
    may not write to."""
    from tunegym.errors import UsageError

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        what = "is a file, not a run folder" if run_dir.exists() else "no such folder"
        raise UsageError(f"{run_dir}: {what}")
    path = run_dir / RUN_DB_NAME
    if not path.exists():
        raise UsageError(f"{run_dir}: no {RUN_DB_NAME} here; is it a tunegym run folder?")
    check_run_file(path)
    with leaving_no_trace(path):
        if read_only:  # one connection: it reads the schema, then serves the reader
            db = TrialDatabase(path, read_only=True)
            try:
                check_run_tables(db.conn, path)
            except BaseException:
                db.close()
                raise
            return db
        # Read before the writer's open, which would add tunegym's tables to the file.
        try:
            conn = connect_read_only(path)
        except sqlite3.DatabaseError:
            conn = None  # the writer's open says what is wrong
        if conn is not None:
            try:
                check_run_tables(conn, path)
            finally:
                conn.close()
    return TrialDatabase(path)


__all__ = [
    "RUN_DB_NAME",
    "SCORED_STATUSES",
    "STATUSES",
    "TRAJECTORY_COLUMNS",
    "DamagedDatabaseError",
    "TrialDatabase",
    "TrialRow",
    "TrialStore",
    "TrialStoreError",
    "open_run_db",
]
