"""``tunegym.procgroup``: the subreaper, trial tags, and the watchdog that outlives ``kill -9``.

Real processes throughout. Each test that needs a clean process (no child of its own, its
own subreaper flag) runs a small Python program in a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tunegym import procgroup
from tunegym.procgroup import TAG_VARIABLE, environ_has, kill_tagged, process_table, read_proc

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")

SRC = Path(procgroup.__file__).resolve().parents[1]


def _python(code: str, timeout: float = 60) -> dict:
    """Run ``code`` in a fresh interpreter that can import tunegym; its last stdout line
    is JSON."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _alive(pid: int) -> bool:
    proc = read_proc(pid)
    return proc is not None and proc.alive


def _wait_dead(pids: list[int], within_s: float = 10.0) -> list[int]:
    deadline = time.monotonic() + within_s
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return [p for p in pids if _alive(p)]


def test_the_subreaper_adopts_orphaned_grandchildren_and_has_children_sees_them() -> None:
    result = _python(
        """
        import json, os, time
        from tunegym.procgroup import has_children, set_child_subreaper
        before = has_children()
        on = set_child_subreaper(True)
        child = os.fork()
        if child == 0:
            if os.fork() == 0:       # the grandchild outlives its parent
                time.sleep(30)
                os._exit(0)
            os._exit(0)
        os.waitpid(child, 0)          # the parent is gone: the grandchild is orphaned
        time.sleep(0.2)
        from tunegym.procgroup import process_table
        kids = [p.pid for p in process_table().values() if p.ppid == os.getpid()]
        adopted = has_children()
        for pid in kids:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        print(json.dumps({"before": before, "on": on, "adopted": adopted, "kids": len(kids),
                          "after": has_children(), "off": set_child_subreaper(False)}))
        """
    )
    assert result == {
        "before": False,
        "on": True,
        "adopted": True,
        "kids": 1,
        "after": False,
        "off": True,
    }


def test_environ_has_matches_whole_entries(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"],
        env={"A": "1", TAG_VARIABLE: "123.ab.12"},
    )
    try:
        time.sleep(0.2)
        assert environ_has(proc.pid, f"{TAG_VARIABLE}=123.ab.12\0".encode())
        assert not environ_has(proc.pid, f"{TAG_VARIABLE}=123.ab.1\0".encode())  # trial 1
        assert environ_has(proc.pid, f"{TAG_VARIABLE}=123.ab.".encode())  # the prefix
        assert environ_has(proc.pid, b"A=1\0")
        assert not environ_has(proc.pid, b"B=1\0")
    finally:
        proc.kill()
        proc.wait()
    assert not environ_has(proc.pid, b"A=1\0")  # gone


def test_kill_tagged_takes_tagged_processes_and_their_sessions() -> None:
    """A tagged session leader and an untagged (``env -i``) member of its session."""
    code = "import os, subprocess, sys, time; "
    code += "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], env={}); "
    code += "time.sleep(60)"
    prefix = f"{os.getpid()}.test{time.monotonic_ns()}."
    leader = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, TAG_VARIABLE: f"{prefix}1"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            members = [p.pid for p in process_table().values() if p.sid == leader.pid and p.alive]
            if len(members) == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert len(members) == 2
        assert kill_tagged(f"{TAG_VARIABLE}={prefix}".encode()) == 2
        assert _wait_dead(members) == []
    finally:
        leader.kill()
        leader.wait()


WATCHED = """
import json, os, subprocess, sys, time
from tunegym.procgroup import TAG_VARIABLE, start_watchdog, tag_prefix
assert start_watchdog() and start_watchdog()  # once per process
tag = tag_prefix() + "1"
env = {**os.environ, TAG_VARIABLE: tag}
folder = sys.argv[1]
code = ("import os, sys, time\\n"
        "def note(name):\\n"
        "    open(os.path.join(sys.argv[1], name + '.tmp'), 'w').write(str(os.getpid()))\\n"
        "    path = os.path.join(sys.argv[1], name)\\n"
        "    os.rename(path + '.tmp', path)\\n"
        "if os.fork() == 0:\\n"
        "    os.setsid()\\n"
        "    if os.fork() == 0:\\n"
        "        os.closerange(0, 1024)\\n"
        "        note('daemon')\\n"
        "        time.sleep(120)\\n"
        "    os._exit(0)\\n"
        "note('leader')\\n"
        "time.sleep(120)\\n")
subprocess.Popen([sys.executable, "-c", code, folder], env=env, start_new_session=True)
print(json.dumps({"pid": os.getpid(), "prefix": tag_prefix()}), flush=True)
sys.stdin.readline()  # the test says when to exit (normally, without cleaning up)
"""


def _watchdogs_of(pid: int) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"watch" in cmdline and str(pid).encode() in cmdline and _alive(int(name)):
                found.append(int(name))
    return found


@pytest.mark.parametrize("end", ["sigkill", "normal-exit"])
def test_the_watchdog_kills_tagged_processes_when_its_process_dies(
    end: str, tmp_path: Path
) -> None:
    """``kill -9`` of the watched process (or an exit without clean-up): the tagged
    processes, a daemon that closed its files included, die; the watchdog leaves too."""
    proc = subprocess.Popen(
        [sys.executable, "-c", WATCHED, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    info = json.loads(proc.stdout.readline())  # type: ignore[union-attr]
    notes = [tmp_path / "leader", tmp_path / "daemon"]
    deadline = time.monotonic() + 60
    while not all(n.exists() for n in notes) and time.monotonic() < deadline:
        time.sleep(0.02)
    tagged = [int(n.read_text()) for n in notes]
    watchdogs = _watchdogs_of(info["pid"])
    entry = f"{TAG_VARIABLE}={info['prefix']}".encode()
    try:
        assert all(_alive(p) and environ_has(p, entry) for p in tagged)
        assert len(watchdogs) == 1
        assert read_proc(watchdogs[0]).ppid != info["pid"]  # double-forked: not its child
        if end == "sigkill":
            proc.send_signal(signal.SIGKILL)
        else:
            proc.stdin.write("exit\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        proc.wait(timeout=30)
        assert _wait_dead(tagged) == []
        assert _wait_dead(watchdogs) == []
    finally:
        for pid in tagged + watchdogs:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
            proc.wait()


ON_DEATH = """
import json, os, sys
from tunegym.procgroup import death_commands_path, on_death
folder = sys.argv[1]
def note(name):
    return [sys.executable, "-c", f"open({os.path.join(folder, name)!r}, 'w').write('ran')"]
assert on_death("kept", note("kept"), {"PATH": os.environ["PATH"]})
assert on_death("cleared", note("cleared"))
assert on_death("replaced", note("first")) and on_death("replaced", note("second"))
assert on_death("cleared", None)
print(json.dumps({"path": death_commands_path()}), flush=True)
sys.stdin.readline()
"""


def test_the_watchdog_runs_the_commands_left_with_on_death_when_its_process_dies(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", ON_DEATH, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    try:
        path = Path(json.loads(proc.stdout.readline())["path"])  # type: ignore[union-attr]
        assert path.stat().st_mode & 0o777 == 0o600  # it holds an environment: ours alone
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while not (tmp_path / "kept").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the commands run one after another: let the others land too
        assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "second"]
        assert not path.exists(), "the watchdog left the commands file behind"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_commands_cleared_before_the_process_ends_are_not_run(tmp_path: Path) -> None:
    left = _python(
        f"""
        import json, sys
        from tunegym.procgroup import death_commands_path, on_death
        assert on_death("k", [sys.executable, "-c", "open({str(tmp_path / "ran")!r}, 'w')"])
        assert on_death("k", None)
        print(json.dumps({{"left": __import__("os").path.exists(death_commands_path())}}))
        """
    )
    assert left == {"left": False}, "no command is left: the file is removed"
    time.sleep(2)  # the watchdog has seen the process end by now
    assert not (tmp_path / "ran").exists()
