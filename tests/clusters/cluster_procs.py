"""Process helpers the test clusters share: free ports, sessions, PID files, waiting.

Every daemon a test cluster starts leads its own session (``start_new_session``), so
stopping it means signalling every process of that session, found by its session id in
``/proc``: nothing is ever stopped by name, and a PID is trusted only while its command
line still names the cluster's own folder (a recycled PID is left alone).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def default_root(kind: str) -> Path:
    """A short folder per checkout and kind (Unix socket paths must stay < 108 bytes)."""
    here = str(Path(__file__).resolve().parents[2])
    digest = hashlib.sha1(here.encode()).hexdigest()[:8]
    return Path("/tmp") / f"tg-{kind}-{digest}"


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def alive(pid: int) -> bool:
    """Whether ``pid`` is a running (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2 :].split()[0] not in (b"Z", b"X")


def owned(pid: int, marker: str) -> bool:
    """Whether ``pid`` is alive and its command line (or its environment) names ``marker``."""
    if not alive(pid):
        return False
    if marker in cmdline(pid):
        return True
    try:
        return marker.encode() in Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False


def session_members(sid: int) -> list[int]:
    """Live processes whose session id is ``sid``."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry.name}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3 and int(fields[3]) == sid and fields[0] not in (b"Z", b"X"):
            members.append(int(entry.name))
    return members


def carrying(variable: str) -> list[int]:
    """Live processes whose environment holds ``variable`` (``NAME=value``) exactly."""
    wanted = variable.encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            env = Path(f"/proc/{entry.name}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in env and alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def stop_session(sid: int, grace_s: float = 2.0) -> None:
    """SIGTERM every process of session ``sid``, SIGKILL what is left after ``grace_s``."""
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5.0)):
        members = session_members(sid)
        if not members:
            return
        for pid in members:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        wait_until(lambda: not session_members(sid), wait_s, what=None)


def stop_pid(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)


def stop_pid_file(path: Path, marker: str, grace_s: float = 2.0) -> None:
    """Stop the session led by the PID in ``path`` (if it is still ours), then remove it."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        path.unlink(missing_ok=True)
        return
    if owned(pid, marker):
        stop_session(pid, grace_s)
    path.unlink(missing_ok=True)


def wait_until(
    condition: Callable[[], object], timeout_s: float, what: str | None, interval_s: float = 0.1
) -> bool:
    """Poll ``condition`` until true; on timeout raise (``what`` names it) or return False."""
    deadline = time.monotonic() + timeout_s
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            if what is None:
                return False
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(interval_s)


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"({path} missing)"


def all_dead(pids: Iterable[int]) -> bool:
    return not any(alive(pid) for pid in pids)


def pids_of(trial_dir: Path) -> list[int]:
    """The pids a test trial wrote to its folder's ``pids.txt`` (its leader, its child)."""
    return [int(p) for p in (trial_dir / "pids.txt").read_text().split()]
