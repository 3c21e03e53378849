"""ResourceServerProcess: real child processes; after every test no process of the group lives."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from harness_testkit import assert_group_gone, pid_alive

from tunegym.errors import UsageError
from tunegym.harness import process as process_module
from tunegym.harness.process import (
    ResourceServerProcess,
    ResourceServerStartupError,
    ResourceServerTimeout,
)

ARITH_BODY = {
    "responses_create_params": {"input": [{"role": "user", "content": "What is 2 + 3?"}]},
    "response": {"output": [{"type": "message", "content": [{"text": "5"}]}]},
    "expected_answer": "5",
}


def test_normal_start_and_stop(tmp_path):
    log_path = tmp_path / "server.log"
    server = ResourceServerProcess("arithmetic", kwargs={"size": 4}, log_path=log_path)
    with server:
        pgid = server.pid
        assert pgid is not None and pid_alive(pgid)
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert httpx.get(f"{server.url}/dataset_size").json() == {"dataset_size": 4}
        assert httpx.post(f"{server.url}/verify", json=ARITH_BODY).json()["reward"] == 1.0
    assert server.pid is None
    assert server.returncode is not None
    assert server.log_path == log_path
    assert "ready at http://127.0.0.1:" in log_path.read_text()
    assert_group_gone(pgid)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{server.port}/health", timeout=2)


def test_child_that_crashes_at_start_fails_with_the_log_tail(testkit_env):
    server = ResourceServerProcess(
        "harness_testkit:CrashAtStartHarness", env=testkit_env, startup_timeout=60
    )
    with pytest.raises(ResourceServerStartupError) as info:
        server.start()
    message = str(info.value)
    assert "exited with status 1 during startup" in message
    assert "model weights not found: /nonexistent/model.bin" in message
    assert "loading weights from /nonexistent/model.bin" in message
    assert not isinstance(info.value, ResourceServerTimeout)
    assert server.pid is None
    assert_group_gone(server.last_pid)


def test_child_that_never_becomes_ready_times_out(testkit_env):
    server = ResourceServerProcess(
        "harness_testkit:NeverReadyHarness", env=testkit_env, startup_timeout=2.0
    )
    with pytest.raises(ResourceServerTimeout, match="not ready within 2s") as info:
        server.start()
    assert isinstance(info.value, TimeoutError)
    assert "[tunegym] stopped" not in str(info.value)  # the server's last lines, not stop()'s
    assert_group_gone(server.last_pid)


def test_child_that_ignores_sigterm_is_killed(testkit_env):
    server = ResourceServerProcess(
        "harness_testkit:IgnoresSigtermHarness", env=testkit_env, stop_timeout=0.5
    )
    with server:
        pgid = server.pid
        assert httpx.get(f"{server.url}/health").status_code == 200
    assert server.returncode == -signal.SIGKILL
    assert_group_gone(pgid)


def test_polite_child_exits_on_sigterm(testkit_env):
    server = ResourceServerProcess("harness_testkit:EchoHarness", env=testkit_env)
    with server:
        pgid = server.pid
    assert server.returncode in (0, -signal.SIGTERM)
    assert_group_gone(pgid)


@pytest.mark.timeout(60)
def test_a_served_verify_that_never_finishes_is_masked_after_verify_timeout(testkit_env):
    server = ResourceServerProcess(
        "harness_testkit:StuckHarness", env=testkit_env, verify_timeout=0.5
    )
    with server:
        reply = httpx.post(
            f"{server.url}/verify", json={"response": "beta", "expected": "beta"}, timeout=30
        )
    assert reply.status_code == 200, reply.text[:200]
    assert reply.json()["failure_reason"] == ("VerifyTimeout: verify() did not finish within 0.5 s")


def test_grandchild_ignoring_sigterm_is_killed_with_the_group(testkit_env, tmp_path):
    pid_file = tmp_path / "helper.pid"
    server = ResourceServerProcess(
        "harness_testkit:GrandchildHarness",
        env=testkit_env,
        kwargs={"pid_file": str(pid_file)},
        stop_timeout=0.5,
    )
    with server:
        pgid = server.pid
        helper = int(pid_file.read_text())
        assert pid_alive(helper)
    assert not pid_alive(helper)
    assert_group_gone(pgid)


def test_a_helper_that_left_the_group_is_killed_on_stop(testkit_env, tmp_path):
    pid_file = tmp_path / "helper.pid"
    server = ResourceServerProcess(
        "harness_testkit:EscapingHarness", env=testkit_env, kwargs={"pid_file": str(pid_file)}
    )
    with server:
        helper = int(pid_file.read_text())
        assert pid_alive(helper)
        assert os.getpgid(helper) != server.pid  # out of the group a killpg reaches
    assert not pid_alive(helper)


PARENT = """
import sys, time
from tunegym.harness.process import ResourceServerProcess
server = ResourceServerProcess("arithmetic", kwargs={"size": 4})
server.start()
print(server.pid, server.url, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["kill-9", "sigterm"])
def test_a_parent_that_dies_without_stopping_its_server_leaves_no_orphan(how, tmp_path):
    """``kill -9`` gives the parent no chance to clean up, and a SIGTERM it does not
    handle skips ``atexit``: the watchdog kills the server all the same, and the kwargs
    file (secrets) was gone from the disk as soon as the server was ready."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        start_new_session=True,
    )
    try:
        assert parent.stdout is not None
        pid_text, url = parent.stdout.readline().split()
        server_pid = int(pid_text)
        assert httpx.get(f"{url}/dataset_size").json() == {"dataset_size": 4}
        assert not list(tmp_path.glob("tunegym-harness-*/kwargs.json"))
        parent.send_signal(how)
        assert parent.wait(timeout=30) == -how
        assert_group_gone(server_pid)
    finally:
        parent.kill()
        parent.wait()


def test_exception_inside_with_propagates_and_leaves_no_orphan(testkit_env):
    server = ResourceServerProcess("harness_testkit:EchoHarness", env=testkit_env)
    with pytest.raises(KeyError, match="inside the block"), server:
        pgid = server.pid
        raise KeyError("inside the block")
    assert server.pid is None
    assert_group_gone(pgid)


def test_exception_survives_a_failing_stop(testkit_env, monkeypatch):
    server = ResourceServerProcess("harness_testkit:EchoHarness", env=testkit_env)

    def broken_stop():
        ResourceServerProcess.stop(server)
        raise RuntimeError("stop failed")

    with pytest.raises(ValueError, match="original") as info, server:
        pgid = server.pid
        monkeypatch.setattr(server, "stop", broken_stop)
        raise ValueError("original")
    assert any("stop failed" in note for note in info.value.__notes__)
    assert_group_gone(pgid)


def test_double_exit_and_double_stop_are_harmless(testkit_env):
    server = ResourceServerProcess("harness_testkit:EchoHarness", env=testkit_env)
    server.__enter__()
    pgid = server.pid
    server.__exit__(None, None, None)
    first = server.returncode
    server.__exit__(None, None, None)
    assert server.stop() == first
    assert server.pid is None
    assert_group_gone(pgid)


class _StrangerHandler(http.server.BaseHTTPRequestHandler):
    """Another process's server on the port: it answers /health with ``status: ok``."""

    def do_GET(self):
        body = json.dumps({"status": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def stranger():
    """A healthy-looking HTTP server holding a port on 127.0.0.1."""
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _StrangerHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def test_readiness_ignores_a_stranger_on_an_explicit_port(testkit_env, stranger):
    server = ResourceServerProcess(
        "harness_testkit:EchoHarness", port=stranger, env=testkit_env, startup_timeout=30
    )
    with pytest.raises(ResourceServerStartupError, match="address already in use"):
        server.start()
    assert_group_gone(server.last_pid)


def test_automatic_port_retries_when_the_port_is_taken(testkit_env, stranger, monkeypatch):
    real_pick = process_module.pick_free_port
    picks: list[int] = []

    def pick(host: str = "127.0.0.1") -> int:
        picks.append(stranger if not picks else real_pick(host))
        return picks[-1]

    monkeypatch.setattr(process_module, "pick_free_port", pick)
    with ResourceServerProcess("harness_testkit:EchoHarness", env=testkit_env) as server:
        pgid = server.pid
        assert server.port != stranger
        assert server.port == picks[-1]
        assert httpx.get(f"{server.url}/dataset_size").json() == {"dataset_size": 3}
    assert len(picks) == 2
    assert f"port {stranger} was taken; retrying" in server.log_path.read_text()
    assert_group_gone(pgid)


def test_kwargs_and_token_stay_out_of_argv_and_logs(testkit_env, tmp_path):
    secret_key, password, token = "sk-live-51xyzSECRET", "hunter2-very-secret", "tok-abcdef-123456"
    log_path = tmp_path / "server.log"
    server = ResourceServerProcess(
        "harness_testkit:SecretHarness",
        env={**testkit_env, "HARNESS_TOKEN": token},
        kwargs={"api_key": secret_key, "password": password, "model": "small"},
        token_env="HARNESS_TOKEN",
        log_path=log_path,
    )
    with server:
        pgid = server.pid
        argv = Path(f"/proc/{server.pid}/cmdline").read_bytes().decode().split("\0")
        kwargs_file = Path(argv[argv.index("--kwargs-file") + 1])
        assert not kwargs_file.exists()  # read by the server, then removed once it was ready
        assert httpx.post(f"{server.url}/verify", json=ARITH_BODY).status_code == 401
        reply = httpx.post(f"{server.url}/verify", json=ARITH_BODY, headers=server.auth_headers)
        assert reply.status_code == 200
    for secret in (secret_key, password, token):
        assert not any(secret in arg for arg in argv)
    log = log_path.read_text()
    assert "connecting with api_key=***" in log
    assert "password is ***" in log
    assert "model=small key=***" in log  # non-secret values are left alone
    assert "kwargs file mode 600" in log  # private while it existed
    for secret in (secret_key, password, token):
        assert secret not in log
    assert_group_gone(pgid)


def test_startup_error_message_is_redacted(testkit_env):
    server = ResourceServerProcess(
        "harness_testkit:SecretHarness",
        env=testkit_env,
        kwargs={"api_key": "sk-should-not-leak-999", "password": "pw-x", "unexpected": 1},
        startup_timeout=60,
    )
    with pytest.raises(ResourceServerStartupError) as info:
        server.start()
    assert "sk-should-not-leak-999" not in str(info.value)
    assert "cannot construct with kwargs (api_key, password, unexpected)" in str(info.value)
    assert_group_gone(server.last_pid)


def test_token_env_must_be_set():
    with pytest.raises(UsageError, match="NOT_SET_ANYWHERE_123"):
        ResourceServerProcess("arithmetic", token_env="NOT_SET_ANYWHERE_123")


def test_port_is_free_again_after_stop():
    with ResourceServerProcess("arithmetic", kwargs={"size": 2}) as server:
        port = server.port
        pgid = server.pid
    assert_group_gone(pgid)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))  # raises if anything still holds it


def test_missing_interpreter_is_a_startup_error(tmp_path):
    server = ResourceServerProcess("arithmetic", python=str(tmp_path / "no-python"))
    with pytest.raises(ResourceServerStartupError, match="cannot start"):
        server.start()
    assert server.pid is None


def test_a_stopped_server_can_be_started_again():
    server = ResourceServerProcess("arithmetic", kwargs={"size": 2})
    with server:
        first = server.pid
    with server:
        second = server.pid
        assert httpx.get(f"{server.url}/dataset_size").json() == {"dataset_size": 2}
    assert first != second
    assert_group_gone(first)
    assert_group_gone(second)


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"port": 70000}, "port must be from 0 to 65535 (or None), got 70000"),
        ({"port": "8000"}, "port must be an integer from 0 to 65535"),
        ({"startup_timeout": float("nan")}, "startup_timeout must be a number of seconds above 0"),
        ({"stop_timeout": 0}, "stop_timeout must be a number of seconds above 0, got 0"),
        ({"probe_timeout": float("inf")}, "probe_timeout must be a number of seconds above 0"),
        ({"port_retries": -1}, "port_retries must be an integer >= 0, got -1"),
        ({"startup_timeout": "5"}, "startup_timeout must be a number of seconds above 0, got '5'"),
        ({"stop_timeout": True}, "stop_timeout must be a number of seconds above 0, got True"),
        ({"verify_timeout": 0}, "verify_timeout must be a number of seconds above 0, got 0"),
        ({"env": {"X": 5}}, "env['X'] must be a string, got int"),
        ({"env": {1: "x"}}, "env keys must be strings, got 1"),
        ({"host": "no-such-host.invalid"}, "host 'no-such-host.invalid' cannot be resolved"),
        ({"host": ""}, "host must be a non-empty string, got ''"),
        ({"log_path": "."}, "log_path '.' is a directory, not a file"),
        ({"harness_path": ""}, "harness_path must be a non-empty string, got ''"),
    ],
)
def test_settings_that_cannot_work_are_refused_before_a_child_starts(setting, message):
    # a port out of range used to start a child that exited 2; a NaN startup_timeout
    # meant no deadline at all; a string timeout, an int in env, an unresolvable host or
    # a directory as log were raw TypeError, gaierror and IsADirectoryError from start()
    setting = {"harness_path": "arithmetic", **setting}
    with pytest.raises(UsageError, match=re.escape(message)), ResourceServerProcess(**setting):
        pass


CRASHING = '''
import os, subprocess, sys
from pathlib import Path
from tunegym.harness import GymHarness


class CrashOnVerify(GymHarness):
    """Starts a helper that leaves the server's group, then dies on its first verify."""

    name = "crash"

    def __init__(self, pid_file):
        code = "import os, time; os.setsid(); time.sleep(600)"
        Path(pid_file).write_text(str(subprocess.Popen([sys.executable, "-c", code]).pid))

    def get_dataset(self):
        return [{"expected_answer": "x"}]

    async def verify(self, response_text, expected_answer, **row_fields):
        os._exit(9)
'''


def test_a_server_that_crashes_is_cleaned_up_at_once_and_can_start_again(tmp_path):
    # Before, its helper ran on until stop(), pid named the dead child, returncode was
    # None and start() refused: "the resource server is already running".
    (tmp_path / "crashing.py").write_text(CRASHING)
    pid_file = tmp_path / "helper.pid"
    server = ResourceServerProcess(
        "crashing:CrashOnVerify",
        env={"PYTHONPATH": str(tmp_path)},
        kwargs={"pid_file": str(pid_file)},
    )
    with server:
        dead, helper = server.pid, int(pid_file.read_text())
        with pytest.raises(httpx.TransportError):
            httpx.post(f"{server.url}/verify", json={"response": "a", "expected": "x"})
        deadline = time.monotonic() + 30
        while server.pid is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (server.pid, server.returncode) == (None, 9)
        assert not pid_alive(helper)
        assert_group_gone(dead)
        assert "exited by itself (exit status 9)" in server.log_path.read_text()
        server.start()  # a new child, ready
        assert server.pid not in (None, dead)
        assert httpx.get(f"{server.url}/health").status_code == 200
    assert server.pid is None


def test_a_harness_path_like_an_option_is_a_harness_path():
    """``--help`` as harness path was parsed by the child as its option: help, exit 0."""
    server = ResourceServerProcess("--help", startup_timeout=30)
    said = re.escape("expected 'package.module:Class'")
    with pytest.raises(ResourceServerStartupError, match=said):
        server.start()
