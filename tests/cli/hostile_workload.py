"""A trial that does its best to outlive tunegym (used by test_run_lifecycle.py).

Usage: hostile_workload.py PID_DIR MODE [KINDS]. It starts, each ignoring SIGTERM and
SIGHUP and sleeping forever:

* ``child``: a forked child in the trial's process group;
* ``orphan``: a grandchild in the group whose parent exits (re-parented);
* ``daemon``: a classic daemon: fork, setsid, fork, close every file descriptor;
* ``envless``: a daemon that also clears its environment (``execve`` with ``{}``).

``KINDS`` (comma-separated) picks some (default: all). Each process records itself as a
file ``<kind>-<pid>-<starttime>`` in PID_DIR; when all are recorded the leader prints
``ready`` (and writes ``ready``), then exits 0 (MODE ``exit``) or sleeps, ignoring SIGTERM
too (MODE ``sleep``).
"""

import os
import signal
import sys
import time

STUBBORN = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
signal.signal(signal.SIGHUP, signal.SIG_IGN)
stat = open("/proc/self/stat", "rb").read()
start = stat[stat.rfind(b")") + 2:].split()[19].decode()
open(os.path.join(sys.argv[1], f"{sys.argv[2]}-{os.getpid()}-{start}"), "w").close()
while True:
    time.sleep(1)
"""


def stubborn(pid_dir: str, kind: str, env: dict | None = None) -> None:
    """Become a stubborn sleeper (exec, so the process is a fresh python)."""
    argv = [sys.executable, "-c", STUBBORN, pid_dir, kind]
    if env is None:
        os.execv(sys.executable, argv)
    os.execve(sys.executable, argv, env)


def main() -> None:
    pid_dir, mode = sys.argv[1], sys.argv[2]
    os.makedirs(pid_dir, exist_ok=True)
    kinds = (
        sys.argv[3].split(",") if len(sys.argv) > 3 else ["child", "orphan", "daemon", "envless"]
    )
    if "child" in kinds and os.fork() == 0:
        stubborn(pid_dir, "child")
    if "orphan" in kinds and os.fork() == 0:
        if os.fork() == 0:
            stubborn(pid_dir, "orphan")
        os._exit(0)
    for kind in ("daemon", "envless"):
        if kind in kinds and os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                os.closerange(0, 4096)
                stubborn(pid_dir, kind, {} if kind == "envless" else None)
            os._exit(0)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        recorded = {name.split("-")[0] for name in os.listdir(pid_dir)}
        if recorded >= set(kinds):
            break
        time.sleep(0.01)
    for _ in kinds:  # reap the direct children that exited (orphan's and daemons' parents)
        try:
            os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
    open(os.path.join(pid_dir, "ready"), "w").close()
    print("ready", flush=True)
    if mode == "sleep":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        time.sleep(600)


if __name__ == "__main__":
    main()
