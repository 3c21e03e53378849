"""LocalRunner and DryRunRunner, against real subprocesses (no mocks)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

import tunegym.runners.local as local_module
from tunegym.runners import DryRunRunner, LocalRunner, Runner, TrialResult, TrialSpec

PY = sys.executable

# A child that starts a grandchild ignoring SIGTERM, writes both pids to pids.json once
# the grandchild is ready, then either sleeps (LEADER_MODE=sleep) or exits 0 (exit).
FAMILY = r"""
import json, os, subprocess, sys, time
gc = subprocess.Popen([sys.executable, "-c", '''
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
open("gc_ready", "w").close()
while True:
    time.sleep(60)
'''])
while not os.path.exists("gc_ready"):
    time.sleep(0.005)
with open("pids.tmp", "w") as f:
    json.dump({"leader": os.getpid(), "grandchild": gc.pid}, f)
os.rename("pids.tmp", "pids.json")
if os.environ.get("LEADER_MODE") == "exit":
    sys.exit(0)
while True:
    time.sleep(60)
"""


def _spec(tmp_path: Path, *argv: str, **kwargs: object) -> TrialSpec:
    return TrialSpec(argv=tuple(argv), cwd=tmp_path, **kwargs)  # type: ignore[arg-type]


def _live_in_group(pid: int, pgid: int) -> bool:
    """Whether ``pid`` is a live (non-zombie) process in group ``pgid``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_bytes() if Path(f"/proc/{pid}").exists() else b""
    if not stat:
        return False
    fields = stat[stat.rfind(b")") + 2 :].split()
    return fields[0] not in (b"Z", b"X") and int(fields[2]) == pgid


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) pids whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _live_in_group(int(entry.name), pgid):
            members.append(int(entry.name))
    return members


def _assert_family_dead(tmp_path: Path) -> None:
    pids = json.loads((tmp_path / "pids.json").read_text())
    pgid = pids["leader"]
    assert not _live_in_group(pids["leader"], pgid)
    assert not _live_in_group(pids["grandchild"], pgid)
    assert _group_members(pgid) == []


def test_runners_implement_the_protocol() -> None:
    assert isinstance(LocalRunner(), Runner)
    assert isinstance(DryRunRunner(), Runner)


def test_ok_run_captures_stdout_and_stderr_in_files(tmp_path: Path) -> None:
    code = "import sys; print('hello out'); print('hello err', file=sys.stderr)"
    result = LocalRunner().run(_spec(tmp_path, PY, "-c", code))
    assert isinstance(result, TrialResult)
    assert result.status == "ok"
    assert result.returncode == 0
    assert result.error is None
    assert result.stdout_path == tmp_path / "stdout.txt"
    assert result.stderr_path == tmp_path / "stderr.txt"
    assert result.stdout_path.read_text() == "hello out\n"
    assert result.stderr_path.read_text() == "hello err\n"
    assert result.duration_s >= 0
    assert abs(result.started_at - time.time()) < 600


def test_non_zero_exit_is_failed_with_returncode(tmp_path: Path) -> None:
    result = LocalRunner().run(_spec(tmp_path, PY, "-c", "import sys; sys.exit(3)"))
    assert result.status == "failed"
    assert result.returncode == 3
    assert result.error == "exit code 3"


def test_death_by_signal_is_failed_with_negative_returncode(tmp_path: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    result = LocalRunner().run(_spec(tmp_path, PY, "-c", code))
    assert result.status == "failed"
    assert result.returncode == -signal.SIGKILL
    assert result.error == "killed by SIGKILL"


def test_command_not_found_is_failed_data_not_an_exception(tmp_path: Path) -> None:
    result = LocalRunner().run(_spec(tmp_path, "tunegym-no-such-command-xyz", "arg"))
    assert result.status == "failed"
    assert result.returncode is None
    assert result.error == "command not found: tunegym-no-such-command-xyz"
    assert "command not found: tunegym-no-such-command-xyz" in result.stderr_path.read_text()
    assert result.stdout_path.read_text() == ""


def test_not_executable_is_failed_data(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    result = LocalRunner().run(_spec(tmp_path, str(script)))
    assert result.status == "failed"
    assert result.returncode is None
    assert result.error is not None and str(script) in result.error
    assert result.error in result.stderr_path.read_text()


def test_arguments_arrive_verbatim(tmp_path: Path) -> None:
    args = [
        "two words",
        "it's",
        '"double"',
        "a;b",
        "; rm -rf /",
        "$HOME",
        "*",
        "line1\nline2",
        "`id`",
        "$(id)",
        "",
        "--level={level}",
        "ünïcödé",
    ]
    code = "import json, sys; print(json.dumps(sys.argv[1:]))"
    result = LocalRunner().run(_spec(tmp_path, PY, "-c", code, *args))
    assert result.status == "ok"
    assert json.loads(result.stdout_path.read_text()) == args


def test_env_overlay_is_visible_to_the_child(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("TUNEGYM_TEST_INHERITED", "from-parent")
    code = (
        "import json, os; print(json.dumps({k: os.environ.get(k) for k in "
        "['TUNEGYM_TEST_INHERITED', 'TUNEGYM_PARAM_LEVEL', 'TUNEGYM_TEST_SPACES']}))"
    )
    env = {"TUNEGYM_PARAM_LEVEL": "3", "TUNEGYM_TEST_SPACES": "a b; $HOME"}
    result = LocalRunner().run(_spec(tmp_path, PY, "-c", code, env=env))
    assert result.status == "ok"
    assert json.loads(result.stdout_path.read_text()) == {
        "TUNEGYM_TEST_INHERITED": "from-parent",
        "TUNEGYM_PARAM_LEVEL": "3",
        "TUNEGYM_TEST_SPACES": "a b; $HOME",
    }
    assert "TUNEGYM_PARAM_LEVEL" not in os.environ


def test_argv0_is_resolved_via_the_path_of_the_overlay(tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "tunegym-test-tool"
    tool.write_text("#!/bin/sh\necho tool ran\n")
    tool.chmod(0o755)
    env = {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = LocalRunner().run(_spec(tmp_path, "tunegym-test-tool", env=env))
    assert result.status == "ok"
    assert result.stdout_path.read_text() == "tool ran\n"


def test_cwd_is_the_trial_folder(tmp_path: Path) -> None:
    trial = tmp_path / "job" / "0" / "1"
    trial.mkdir(parents=True)
    code = "import os; open('made_here.txt', 'w').write('x'); print(os.getcwd())"
    result = LocalRunner().run(_spec(trial, PY, "-c", code))
    assert result.status == "ok"
    assert Path(result.stdout_path.read_text().strip()).resolve() == trial.resolve()
    assert (trial / "made_here.txt").exists()
    assert result.stdout_path.parent == trial


def test_child_runs_in_its_own_process_group_with_no_stdin(tmp_path: Path) -> None:
    code = (
        "import json, os, sys; "
        "print(json.dumps([os.getpid(), os.getpgid(0), os.getsid(0), sys.stdin.read()]))"
    )
    result = LocalRunner().run(_spec(tmp_path, PY, "-c", code))
    pid, pgid, sid, stdin = json.loads(result.stdout_path.read_text())
    assert pid == pgid == sid
    assert pgid != os.getpgid(0)
    assert stdin == ""


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    spec = _spec(tmp_path, PY, "-c", FAMILY, timeout_s=2.0, kill_grace_s=0.3)
    result = LocalRunner().run(spec)
    assert result.status == "timeout"
    assert result.error == "timed out after 2.0 s"
    # The leader died of SIGTERM; the grandchild ignored it and needed SIGKILL.
    assert result.returncode == -signal.SIGTERM
    assert 2.0 <= result.duration_s < 60
    _assert_family_dead(tmp_path)


@pytest.mark.parametrize("mode", ["sleep", "exit"])
def test_group_is_swept_without_pidfd_too(tmp_path: Path, monkeypatch, mode: str) -> None:
    """The fallback for kernels without pidfd_open keeps the same contract."""
    monkeypatch.setattr(local_module, "_pidfd_supported", False)
    spec = _spec(
        tmp_path, PY, "-c", FAMILY, env={"LEADER_MODE": mode}, timeout_s=3.0, kill_grace_s=0.3
    )
    result = LocalRunner().run(spec)
    assert result.status == ("timeout" if mode == "sleep" else "ok")
    _assert_family_dead(tmp_path)


def test_timeout_kills_a_leader_that_ignores_sigterm(tmp_path: Path) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "open('ready', 'w').close(); time.sleep(600)"
    )
    spec = _spec(tmp_path, PY, "-c", code, timeout_s=1.0, kill_grace_s=0.2)
    result = LocalRunner().run(spec)
    assert result.status == "timeout"
    assert result.returncode == -signal.SIGKILL


def test_leftover_background_processes_are_killed_after_a_normal_exit(tmp_path: Path) -> None:
    spec = _spec(tmp_path, PY, "-c", FAMILY, env={"LEADER_MODE": "exit"}, kill_grace_s=0.3)
    result = LocalRunner().run(spec)
    assert result.status == "ok"
    assert result.returncode == 0
    _assert_family_dead(tmp_path)


def test_keyboard_interrupt_kills_the_group_and_reraises(tmp_path: Path) -> None:
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("SIGINT is delivered to the main thread only")
    spec = _spec(tmp_path, PY, "-c", FAMILY, kill_grace_s=0.3)
    pids_file = tmp_path / "pids.json"

    def interrupt_when_started() -> None:
        deadline = time.monotonic() + 60
        while not pids_file.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt_when_started, daemon=True)
    thread.start()
    with pytest.raises(KeyboardInterrupt):
        LocalRunner().run(spec)
    thread.join()
    _assert_family_dead(tmp_path)


def test_stdout_files_are_truncated_between_runs(tmp_path: Path) -> None:
    runner = LocalRunner()
    runner.run(_spec(tmp_path, PY, "-c", "print('a much longer first line')"))
    result = runner.run(_spec(tmp_path, PY, "-c", "print('b')"))
    assert result.stdout_path.read_text() == "b\n"


def test_dry_run_writes_command_and_runs_nothing(tmp_path: Path) -> None:
    marker = tmp_path / "should-not-exist.txt"
    argv = (PY, "-c", f"open({str(marker)!r}, 'w').close()", "two words", "$HOME")
    env = {"TUNEGYM_PARAM_LEVEL": "3", "SPACED": "a b"}
    result = DryRunRunner().run(TrialSpec(argv=argv, cwd=tmp_path, env=env))
    assert not marker.exists()
    assert result.status == "ok"
    assert result.returncode == 0
    assert result.duration_s == 0
    assert result.stdout_path.read_text() == ""
    assert result.stderr_path.read_text() == ""
    lines = (tmp_path / "command.txt").read_text().splitlines()
    assert lines[:2] == ["TUNEGYM_PARAM_LEVEL=3", "SPACED='a b'"]
    assert shlex.split(lines[2]) == list(argv)


def test_spec_normalises_argv_and_cwd(tmp_path: Path) -> None:
    env = {"A": "1"}
    spec = TrialSpec(argv=["echo", "x"], cwd=str(tmp_path), env=env)  # type: ignore[arg-type]
    env["A"] = "2"
    assert spec.argv == ("echo", "x")
    assert spec.cwd == tmp_path
    assert spec.env == {"A": "1"}
    with pytest.raises(ValueError):
        TrialSpec(argv=(), cwd=tmp_path)


# -- processes that leave the trial's group (issue 13) -------------------------------------
HOSTILE = Path(__file__).resolve().parents[1] / "cli" / "hostile_workload.py"
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux /proc")


def _recorded_alive(pid_dir: Path) -> dict[str, bool]:
    """``{kind: alive}`` of what hostile_workload.py recorded in ``pid_dir``."""
    out = {}
    for path in pid_dir.glob("*-*-*"):
        kind, pid, start = path.name.split("-")
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
        except OSError:
            out[kind] = False
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        out[kind] = fields[0] not in (b"Z", b"X") and fields[19].decode() == start
    return out


def _kill_recorded(pid_dir: Path) -> None:
    for path in pid_dir.glob("*-*-*"):
        if _recorded_alive(pid_dir).get(path.name.split("-")[0]):
            os.kill(int(path.name.split("-")[1]), signal.SIGKILL)


@linux_only
@pytest.mark.parametrize("mode", ["exit", "sleep"])
def test_a_daemon_that_left_the_group_dies_with_the_trial(tmp_path: Path, mode: str) -> None:
    """setsid + double fork + every fd closed: the trial still ends with it gone."""
    pid_dir = tmp_path / "pids"
    spec = _spec(
        tmp_path,
        PY,
        str(HOSTILE),
        str(pid_dir),
        mode,
        "child,orphan,daemon",
        timeout_s=None if mode == "exit" else 2.0,
        kill_grace_s=0.3,
    )
    try:
        result = LocalRunner().run(spec)
        assert result.status == ("ok" if mode == "exit" else "timeout")
        assert _recorded_alive(pid_dir) == {"child": False, "orphan": False, "daemon": False}
    finally:
        _kill_recorded(pid_dir)


@linux_only
def test_each_trial_has_its_own_tag(tmp_path: Path) -> None:
    code = f"import os; print(os.environ[{local_module.TAG_VARIABLE!r}])"
    tags = [
        LocalRunner().run(_spec(tmp_path, PY, "-c", code)).stdout_path.read_text() for _ in "ab"
    ]
    assert tags[0] != tags[1]
    assert all(t.startswith(f"{os.getpid()}.") for t in tags)


@linux_only
def test_parallel_trials_keep_their_own_daemons(tmp_path: Path) -> None:
    """Trial A ends while trial B runs: A's daemon dies, B's lives until B ends."""
    dirs = {name: tmp_path / name for name in ("a", "b")}
    for folder in dirs.values():
        folder.mkdir()
    runner = LocalRunner()
    b_spec = _spec(
        dirs["b"],
        PY,
        str(HOSTILE),
        str(dirs["b"] / "pids"),
        "sleep",
        "daemon",
        timeout_s=60.0,
        kill_grace_s=0.2,
    )
    b_done: list[TrialResult] = []
    b = threading.Thread(target=lambda: b_done.append(runner.run(b_spec)))
    b.start()
    try:
        deadline = time.monotonic() + 60
        while not (dirs["b"] / "pids" / "ready").exists():
            assert time.monotonic() < deadline
            time.sleep(0.02)
        a_spec = _spec(
            dirs["a"],
            PY,
            str(HOSTILE),
            str(dirs["a"] / "pids"),
            "exit",
            "daemon",
            kill_grace_s=0.2,
        )
        assert runner.run(a_spec).status == "ok"
        assert _recorded_alive(dirs["a"] / "pids") == {"daemon": False}
        assert _recorded_alive(dirs["b"] / "pids") == {"daemon": True}
        runner.cancel_all()  # as an interrupted parallel run does
        b.join(30)
        assert b_done and _recorded_alive(dirs["b"] / "pids") == {"daemon": False}
    finally:
        runner.cancel_all()
        b.join(30)
        for folder in dirs.values():
            _kill_recorded(folder / "pids")


ALONE = """
import json, sys
from pathlib import Path
from tunegym.runners import LocalRunner, TrialSpec
spec = TrialSpec([sys.executable, sys.argv[1], sys.argv[2], "exit", "envless"], Path(sys.argv[3]),
                 kill_grace_s=0.2)
print(LocalRunner().run(spec).status)
"""


@linux_only
def test_an_env_cleared_daemon_of_a_trial_that_ran_alone_dies_too(tmp_path: Path) -> None:
    """No tag (``execve`` with an empty environment), but it is the only trial's orphan.

    Run in a fresh interpreter: this process may have other children (a local Ray)."""
    import subprocess

    pid_dir = tmp_path / "pids"
    done = subprocess.run(
        [PY, "-c", ALONE, str(HOSTILE), str(pid_dir), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        assert done.stdout.strip() == "ok", done.stderr
        assert _recorded_alive(pid_dir) == {"envless": False}
    finally:
        _kill_recorded(pid_dir)


PARALLEL_ENVLESS = """
import sys, threading, time
from pathlib import Path
from tunegym.runners import LocalRunner, TrialSpec
hostile, pid_dir, a_dir, b_dir = sys.argv[1:5]
wait_for_go = (
    "import os, time; open('ready', 'w').close()\\n"
    "while not os.path.exists('go'): time.sleep(0.02)"
)
runner = LocalRunner()
b = TrialSpec([sys.executable, "-c", wait_for_go], Path(b_dir), kill_grace_s=0.2)
done = []
thread = threading.Thread(target=lambda: done.append(runner.run(b)))
thread.start()
while not (Path(b_dir) / "ready").exists():
    time.sleep(0.02)
a = TrialSpec([sys.executable, hostile, pid_dir, "exit", "envless"], Path(a_dir), kill_grace_s=0.2)
print(runner.run(a).status, flush=True)
thread.join()
print(done[0].status, flush=True)
"""


@linux_only
def test_an_env_cleared_daemon_of_parallel_trials_dies_when_the_last_one_ends(
    tmp_path: Path,
) -> None:
    """No tag, and trial B ran beside A, so the orphan cannot be told to be A's: it is
    ended when no trial runs any more (it outlived tunegym under ``--parallel``). Run in a
    fresh interpreter: this process may have other children (a local Ray)."""
    import subprocess

    pid_dir, a_dir, b_dir = tmp_path / "pids", tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    argv = [PY, "-c", PARALLEL_ENVLESS, str(HOSTILE), str(pid_dir), str(a_dir), str(b_dir)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ok"  # A ended, B still runs
        assert _recorded_alive(pid_dir) == {"envless": True}  # nothing tells it is A's yet
        (b_dir / "go").touch()
        assert proc.stdout.readline().strip() == "ok"
        assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
        assert _recorded_alive(pid_dir) == {"envless": False}
    finally:
        proc.kill()
        proc.wait()
        _kill_recorded(pid_dir)


def test_a_timeout_beyond_polls_range_does_not_overflow(tmp_path: Path) -> None:
    result = LocalRunner().run(_spec(tmp_path, PY, "-c", "print(1)", timeout_s=1e9))
    assert result.status == "ok"
