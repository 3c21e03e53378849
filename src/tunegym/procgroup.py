"""Processes tunegym starts: signal their groups, find the ones that escaped, and make sure
none outlives tunegym, not even after ``kill -9``.

Every child tunegym starts (a trial, a resource server) leads its own session, hence its
own process group whose id is the child's pid; cleaning up means the whole group. A trial
process can leave its group (``setsid``, a daemon's double fork); two Linux mechanisms,
neither needing root, catch those:

* **Tags.** Each trial's environment carries ``TUNEGYM_TRIAL_TAG=<process prefix><n>``,
  inherited by every descendant that keeps its environment, so a process found later can
  be told apart by trial (:func:`environ_has`).
* **Subreaper.** While local trials run, tunegym is a child subreaper
  (``PR_SET_CHILD_SUBREAPER``): a trial process whose parent dies is re-parented to
  tunegym instead of init, so "has tunegym any child left?" (one ``waitid`` call,
  :func:`has_children`) tells whether anything escaped; only then is ``/proc`` read.
* **Watchdog.** ``kill -9`` leaves tunegym no chance to clean up, so a tiny process of its
  own (this file run as a script: ``python -I -S procgroup.py watch PID PREFIX``) waits for
  tunegym to die and then kills every process that carries tunegym's tag prefix, and the
  process groups and sessions they lead (:func:`start_watchdog`). It then runs the
  commands registered with :func:`on_death` (the Slurm runner's ``scancel`` of the jobs
  it has in flight: a batch job outlives the process that submitted it).

Limits: a descendant that both leaves its session and clears its environment (``env -i``)
is invisible to the watchdog after ``kill -9`` (a normal end, a timeout, Ctrl-C and SIGTERM
still catch it through the subreaper while it is a descendant: at its trial's end when
that trial ran alone, else when the last of the trials running beside it ends); a
process that becomes another user's (setuid) cannot be signalled; only cgroups, which
need delegation from root here, could do better. Everything here is Linux; elsewhere only
the group is cleaned up.

This module imports only the standard library: the watchdog runs it as a script.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

TAG_VARIABLE = "TUNEGYM_TRIAL_TAG"
"""The environment variable that marks a trial's processes, and a resource server's (see
the module docstring)."""

_PR_SET_CHILD_SUBREAPER = 36


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def signal_pids(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def wait_group_gone(pgid: int, deadline: float) -> bool:
    """Wait until no live process is in group ``pgid``, or ``deadline``; return if gone.

    The common case (nothing left behind) is one syscall; only leftovers make it poll.
    """
    delay = 0.001
    while group_alive(pgid):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(delay, remaining))
        delay = min(delay * 2, 0.05)
    return True


def group_alive(pgid: int) -> bool:
    """Whether any non-zombie process is in group ``pgid`` (the leader must be reaped)."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if not os.path.isdir("/proc"):
        return True
    # Members exist, but orphaned zombies count as members until their new parent reaps
    # them (and some init processes never do): look at each process's state.
    return any(p.pgid == pgid and p.alive for p in process_table().values())


# -- the process table ---------------------------------------------------------------------
class Proc:
    """One line of ``/proc/<pid>/stat``: what tunegym needs to know about a process."""

    __slots__ = ("pgid", "pid", "ppid", "sid", "state")

    def __init__(self, pid: int, state: bytes, ppid: int, pgid: int, sid: int) -> None:
        self.pid, self.state, self.ppid, self.pgid, self.sid = pid, state, ppid, pgid, sid

    @property
    def alive(self) -> bool:
        return self.state not in (b"Z", b"X")


def read_proc(pid: int) -> Proc | None:
    """``/proc/<pid>/stat`` parsed, or ``None`` when the process is gone."""
    try:
        fd = os.open(f"/proc/{pid}/stat", os.O_RDONLY)
    except OSError:
        return None
    try:
        stat = os.read(fd, 1024)
    except OSError:
        return None
    finally:
        os.close(fd)
    fields = stat[stat.rfind(b")") + 2 :].split(maxsplit=4)
    if len(fields) < 4:
        return None
    return Proc(pid, fields[0], int(fields[1]), int(fields[2]), int(fields[3]))


def process_table() -> dict[int, Proc]:
    """Every process visible in ``/proc`` (a few ms: read only when something is left)."""
    table: dict[int, Proc] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return table
    for name in names:
        if name.isdigit():
            proc = read_proc(int(name))
            if proc is not None:
                table[proc.pid] = proc
    return table


def descendants(table: dict[int, Proc], roots: Iterable[int]) -> set[int]:
    """``roots`` and every process below them in ``table``."""
    kids: dict[int, list[int]] = {}
    for proc in table.values():
        kids.setdefault(proc.ppid, []).append(proc.pid)
    found: set[int] = set()
    stack = list(roots)
    while stack:
        pid = stack.pop()
        if pid not in found:
            found.add(pid)
            stack.extend(kids.get(pid, ()))
    return found


def environ_has(pid: int, entry: bytes) -> bool:
    """Whether ``/proc/<pid>/environ`` holds ``entry`` (``b"NAME=value"``, or a prefix of
    one ending anywhere in the value). False for zombies and other users' processes."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environ = fh.read()
    except OSError:
        return False
    return environ.startswith(entry) or b"\0" + entry in environ


def tagged(table: dict[int, Proc], entry: bytes, among: Iterable[int] | None = None) -> set[int]:
    """Live processes of ``table`` (or of the pids ``among``) whose environment has
    ``entry``; the caller's own process is never among them."""
    me = os.getpid()
    pids: Iterable[int] = table if among is None else among
    return {
        pid
        for pid in pids
        if pid != me and pid in table and table[pid].alive and environ_has(pid, entry)
    }


# -- the subreaper ---------------------------------------------------------------------------
_libc: Any = None


def set_child_subreaper(on: bool) -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); return whether
    the kernel agreed."""
    global _libc
    if not sys.platform.startswith("linux"):
        return False
    try:
        if _libc is None:
            import ctypes

            _libc = ctypes.CDLL(None, use_errno=True)
        return bool(_libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def has_children() -> bool:
    """Whether this process has any child at all (live or not yet reaped): one syscall."""
    try:
        os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return False
    return True


def adopted(table: dict[int, Proc], known: Collection[int]) -> list[int]:
    """Children of this process in ``table`` that it did not start (not in ``known``):
    orphans the subreaper took in."""
    me = os.getpid()
    return [p.pid for p in table.values() if p.ppid == me and p.pid not in known]


def reap(pids: Iterable[int]) -> None:
    """Collect the exit status of those ``pids`` that are this process's exited children."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)


# -- the watchdog ------------------------------------------------------------------------------
_watchdog_lock = threading.Lock()
_watchdog_owner: int | None = None
_tag_prefix: str | None = None
_tag_prefix_owner: int | None = None
_death_commands: dict[str, dict[str, Any]] = {}


def tag_prefix() -> str:
    """This process's tag prefix (``<pid>.<random>.``); each trial adds its own number.
    The same for the life of the process, before its watchdog starts and after (a forked
    child gets its own)."""
    global _tag_prefix, _tag_prefix_owner
    with _watchdog_lock:
        if _tag_prefix is None or _tag_prefix_owner != os.getpid():
            _tag_prefix = f"{os.getpid()}.{os.urandom(4).hex()}."
            _tag_prefix_owner = os.getpid()
        return _tag_prefix


def start_watchdog() -> bool:
    """Start (once per process) the watchdog that kills this process's tagged trial
    processes when this process dies, however it dies. Returns whether one runs.

    The watchdog is double-forked, so it is no child of ours (:func:`has_children` stays
    exact), lives in its own session (a Ctrl-C in the terminal does not reach it), and has
    no file of ours open. Start it before turning the subreaper on.
    """
    global _watchdog_owner
    prefix = tag_prefix()
    with _watchdog_lock:
        if _watchdog_owner == os.getpid():
            return True
        if not (sys.platform.startswith("linux") and os.path.isdir("/proc")):
            return False
        try:
            script = os.path.abspath(__file__)
            argv = [sys.executable, "-I", "-S", script, "watch", str(os.getpid()), prefix]
            proc = subprocess.Popen(
                [*argv, death_commands_path(prefix)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            proc.wait()  # the first fork exits at once; the watchdog lives on
        except OSError:
            return False
        _watchdog_owner = os.getpid()
        return True


def death_commands_path(prefix: str | None = None) -> str:
    """The file (private to this user) where :func:`on_death` keeps the commands that this
    process's watchdog runs when the process dies."""
    return os.path.join(tempfile.gettempdir(), f"tunegym-on-death-{prefix or tag_prefix()}json")


def on_death(key: str, argv: Sequence[str] | None, env: Mapping[str, str] | None = None) -> bool:
    """Have the watchdog run ``argv`` (with ``env`` as its whole environment) should this
    process die before it calls ``on_death(key, None)``; a later call for ``key`` replaces
    the command. Returns whether a watchdog will run it (Linux only).

    For what this process keeps outside itself, such as Slurm jobs, which outlive the
    process that submitted them: the runner keeps ``scancel <the jobs in flight>`` here.
    """
    if not start_watchdog():
        return False
    path = death_commands_path()
    with _watchdog_lock:
        if argv is None:
            _death_commands.pop(key, None)
        else:
            _death_commands[key] = {"argv": list(argv), "env": dict(env or {})}
        if not _death_commands:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return True
        part = f"{path}.{threading.get_ident()}.tmp"
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(_death_commands, fh)
        os.replace(part, path)
    return True


def _run_death_commands(path: str) -> None:
    """Run what :func:`on_death` left in ``path`` (each for up to 60 s), then remove it."""
    try:
        with open(path) as fh:
            commands = json.load(fh)
        os.unlink(path)
    except (OSError, ValueError):
        return
    for command in commands.values() if isinstance(commands, dict) else ():
        with contextlib.suppress(OSError, subprocess.SubprocessError, TypeError, KeyError):
            subprocess.run(
                command["argv"],
                env=command["env"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
                check=False,
            )


def kill_tagged(entry: bytes, rounds: int = 50) -> int:
    """SIGKILL every process whose environment has ``entry``, and every member of the
    groups and sessions they lead, until a scan finds none; returns how many were killed."""
    killed: set[int] = set()
    for _ in range(rounds):
        table = process_table()
        marked = tagged(table, entry)
        leaders = {table[p].pgid for p in marked} | {table[p].sid for p in marked}
        me = os.getpid()
        marked |= {
            p.pid
            for p in table.values()
            if p.alive and p.pid != me and (p.pgid in leaders or p.sid in leaders)
        }
        if not marked:
            break
        signal_pids(marked, signal.SIGKILL)
        killed |= marked
        time.sleep(0.01)
    return len(killed)


def _watch(parent: int, prefix: str, death_commands: str) -> None:
    """The watchdog's life: wait for ``parent`` to die, then kill its tagged processes and
    run the commands it registered with :func:`on_death`."""
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    if os.fork():  # detach: the parent's child exits now, the watchdog is adopted
        os._exit(0)
    os.chdir("/")
    try:
        pidfd = os.pidfd_open(parent)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        select.select([pidfd], [], [])
    else:
        while _exists(parent):
            time.sleep(0.2)
    kill_tagged(f"{TAG_VARIABLE}={prefix}".encode())
    _run_death_commands(death_commands)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    proc = read_proc(pid)
    return proc is not None and proc.alive


if __name__ == "__main__" and sys.argv[1:2] == ["watch"]:
    _watch(int(sys.argv[2]), sys.argv[3], sys.argv[4])
