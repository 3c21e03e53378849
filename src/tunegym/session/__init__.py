"""The run folder's owner: create, reopen, lock, finish and fail a run folder, write
every meta key of its database (:class:`RunSession`), and read a run back
(:func:`read_run`)."""

from tunegym.session.folder import FAILURE_NAME, RunSession, make_run_dir
from tunegym.session.lock import RunLock, RunLockedError, run_folder_locked
from tunegym.session.reading import RunView, load_records, read_run, recorded_spec, run_state
from tunegym.session.records import JobRecord

__all__ = [
    "FAILURE_NAME",
    "JobRecord",
    "RunLock",
    "RunLockedError",
    "RunSession",
    "RunView",
    "load_records",
    "make_run_dir",
    "read_run",
    "recorded_spec",
    "run_folder_locked",
    "run_state",
]
