"""``ResourceServerProcess``: start a harness server in a child process and leave no orphans.

The child is ``python -m tunegym.cli.harness serve ...`` (an argv list, no shell) in its
own session, so it leads its own process group; its stdout and stderr go to a log file.
Harness kwargs travel in a private 0600 JSON file and the bearer token in an environment
variable, never in argv; secret values are scrubbed from every line this module writes or
quotes (see :mod:`tunegym.harness.redaction`).

Readiness is a ``GET /health`` with a per-probe timeout inside the overall deadline, and it
only counts when the answer carries this instance's random ``X-Tunegym-Instance`` value and
the child is still alive, so a stranger on the port or a dead child never looks ready. A
child that exits during startup fails the start at once, quoting the log tail; with an
automatic port (``port=None``) a child that reports "address already in use" (exit code
98) is restarted on a fresh port.

Stopping sends SIGTERM to the group, waits ``stop_timeout`` for the leader, then sends
SIGKILL to the group (the leader, if it ignored SIGTERM, and any straggler), waits until no
live process of the group is left, and only then reaps the leader: until it is reaped,
the leader (waited on with ``WNOWAIT``) keeps the process-group id from being recycled.
A process of the server's that left its group (``setsid``) is found by the tag in its
environment and killed too. ``stop()`` is idempotent; the context manager never swallows
the exception in flight.

A parent that dies without stopping its server (``kill -9``, or a SIGTERM it does not
handle, which skips ``atexit``) leaves no orphan either: the child carries this process's
trial tag, so the watchdog of :mod:`tunegym.procgroup` kills it. The kwargs file is
deleted as soon as the server is ready, so secrets in it do not outlive the start.
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import json
import logging
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tunegym.errors import TunegymError, UsageError
from tunegym.harness.redaction import redact, scrub, secret_values
from tunegym.procgroup import (
    TAG_VARIABLE,
    kill_tagged,
    signal_group,
    start_watchdog,
    tag_prefix,
    wait_group_gone,
)

log = logging.getLogger(__name__)

EXIT_ADDRESS_IN_USE = 98  # the serve command's exit code when it cannot bind (EADDRINUSE)
INSTANCE_ENV = "TUNEGYM_HARNESS_INSTANCE"
INSTANCE_HEADER = "x-tunegym-instance"
_LOG_TAIL_LINES = 30


class ResourceServerError(TunegymError):
    """The resource server process could not be started or stopped as asked."""


class ResourceServerStartupError(ResourceServerError):
    """The child exited during startup; the message holds the tail of its log."""


class ResourceServerTimeout(ResourceServerError, TimeoutError):
    """The child did not become ready within ``startup_timeout`` (it has been stopped)."""


class AddressInUseError(TunegymError):
    """The serve command could not bind its port; its exit code tells the parent to retry."""

    exit_code = EXIT_ADDRESS_IN_USE


def pick_free_port(host: str = "127.0.0.1") -> int:
    """A port that was free on ``host`` a moment ago (another process may still take it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def format_url(host: str, port: int) -> str:
    """``http://host:port``, with brackets around an IPv6 host."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _probe_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(host, host)


_LIVE: weakref.WeakSet[ResourceServerProcess] = weakref.WeakSet()


@atexit.register
def _stop_leftovers() -> None:  # a forgotten stop() must not leave a server behind
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


def _check_settings(
    port: int | None,
    startup: float,
    stop: float,
    probe: float,
    port_retries: int,
    *,
    harness_path: Any = "",
    host: Any = "127.0.0.1",
    env: Mapping[Any, Any] | None = None,
    log_path: Any = None,
    verify: Any = None,
) -> None:
    """A :class:`UsageError` naming the setting of a :class:`ResourceServerProcess` that
    cannot work (checked before a child is started)."""
    if not isinstance(harness_path, str) or not harness_path.strip():
        raise UsageError(f"harness_path must be a non-empty string, got {harness_path!r}")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int)):
        raise UsageError(f"port must be an integer from 0 to 65535 (or None), got {port!r}")
    if port is not None and not 0 <= port <= 65535:
        raise UsageError(f"port must be from 0 to 65535 (or None), got {port}")
    timeouts = [("startup_timeout", startup), ("stop_timeout", stop), ("probe_timeout", probe)]
    if verify is not None:
        timeouts.append(("verify_timeout", verify))
    for name, seconds in timeouts:
        number = isinstance(seconds, int | float) and not isinstance(seconds, bool)
        if not number or not 0 < seconds < math.inf:  # NaN fails too
            raise UsageError(f"{name} must be a number of seconds above 0, got {seconds!r}")
    if isinstance(port_retries, bool) or not isinstance(port_retries, int) or port_retries < 0:
        raise UsageError(f"port_retries must be an integer >= 0, got {port_retries!r}")
    for key, value in (env or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise UsageError(
                f"env[{key!r}] must be a string, got {type(value).__name__}"
                if isinstance(key, str)
                else f"env keys must be strings, got {key!r}"
            )
    if not isinstance(host, str) or not host.strip():
        raise UsageError(f"host must be a non-empty string, got {host!r}")
    try:
        socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:  # socket.gaierror; a label too long for IDNA
        raise UsageError(f"host {host!r} cannot be resolved: {exc}") from None
    if log_path is not None and Path(log_path).is_dir():
        raise UsageError(f"log_path {os.fspath(log_path)!r} is a directory, not a file")


class ResourceServerProcess:
    """A harness resource server in a child process group; use it as a context manager.

    ``harness_path`` is ``package.module:Class`` or a bundled name. ``port=None`` picks a
    free port (and retries up to ``port_retries`` times on "address in use"); an explicit
    port is used as is. ``env`` is added to the child's environment (``PYTHONPATH`` there
    reaches your harness module). ``token_env`` names an environment variable (in ``env``
    or ``os.environ``) holding the bearer token the server will require. ``server_name``
    is the serve command's ``--name`` (it names the session cookie); ``verify_timeout``
    its ``--verify-timeout`` (default: the harness's own ``verify_timeout_s``).
    """

    def __init__(
        self,
        harness_path: str,
        host: str = "127.0.0.1",
        port: int | None = None,
        kwargs: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        startup_timeout: float = 60.0,
        log_path: str | os.PathLike[str] | None = None,
        *,
        token_env: str | None = None,
        stop_timeout: float = 10.0,
        probe_timeout: float = 2.0,
        port_retries: int = 5,
        python: str = sys.executable,
        log_level: str = "info",
        server_name: str | None = None,
        verify_timeout: float | None = None,
    ) -> None:
        self.harness_path = harness_path
        self.host = host
        self._requested_port = port
        self.kwargs = dict(kwargs or {})
        self.env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.probe_timeout = probe_timeout
        self.port_retries = port_retries
        self.python = python
        self.log_level = log_level
        self.server_name = server_name
        self.verify_timeout = verify_timeout
        self.token_env = token_env
        _check_settings(
            port,
            startup_timeout,
            stop_timeout,
            probe_timeout,
            port_retries,
            harness_path=harness_path,
            host=host,
            env=self.env,
            log_path=log_path,
            verify=verify_timeout,
        )
        try:
            json.dumps(self.kwargs)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"harness kwargs must be JSON-serialisable: {exc}") from exc
        if token_env and not (self.env.get(token_env) or os.environ.get(token_env)):
            raise UsageError(f"token environment variable {token_env!r} is not set")
        self._log_path = Path(log_path) if log_path is not None else None
        self._secrets = secret_values(self.kwargs) | secret_values(self.env)
        if token_env:
            self._secrets.add(self.env.get(token_env) or os.environ[token_env])
        self._instance = secrets.token_hex(12)
        self._tag = ""  # the trial tag of this start's processes (set by start())
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._last_pid: int | None = None
        self._tmpdir: Path | None = None
        self._log_offset = 0
        self._returncode: int | None = None
        self._lock = threading.RLock()

    # -- public state ------------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after ``start()``)."""
        if self._port is None:
            raise ResourceServerError("the resource server has not been started")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` of the running server."""
        return format_url(_probe_host(self.host), self.port)

    @property
    def pid(self) -> int | None:
        """The child's pid (also its process-group id), or ``None`` when not running
        (stopped, or exited by itself: its processes are then stopped at once, and
        :attr:`returncode` holds its status)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def last_pid(self) -> int | None:
        """The most recent child's pid (kept after it stopped or failed to start)."""
        return self._last_pid

    @property
    def log_path(self) -> Path | None:
        """Where the child's output goes (a kept temporary file unless given)."""
        return self._log_path

    @property
    def returncode(self) -> int | None:
        """The child's exit status once stopped (negative: killed by that signal)."""
        return self._returncode

    @property
    def auth_headers(self) -> dict[str, str]:
        """``{"Authorization": "Bearer ..."}`` when a token is configured, else ``{}``."""
        if not self.token_env:
            return {}
        return {
            "Authorization": f"Bearer {self.env.get(self.token_env) or os.environ[self.token_env]}"
        }

    # -- lifecycle ---------------------------------------------------------------------
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        except Exception as stop_exc:
            if exc is None:
                raise
            exc.add_note(f"while handling it, stopping the resource server failed: {stop_exc}")

    def start(self) -> Self:
        """Start the child and return once ``/health`` answers for this instance.

        Raises :class:`ResourceServerStartupError` (child exited) or
        :class:`ResourceServerTimeout`; in both cases nothing of the group is left running.
        """
        with self._lock:
            if self._proc is not None:
                raise ResourceServerError("the resource server is already running")
            self._instance = secrets.token_hex(12)  # what /health must echo for this start
            self._tag = f"{tag_prefix()}harness-{secrets.token_hex(4)}"
            self._prepare_files()
            try:
                self._start_with_retries()
            except BaseException:
                self.stop()
                raise
            self._drop_files()  # the child has read its kwargs: secrets leave the disk
            _LIVE.add(self)
            proc = self._proc
            assert proc is not None
            threading.Thread(
                target=self._clean_up_after_a_crash,
                args=(proc,),
                name=f"tunegym-harness-{proc.pid}",
                daemon=True,
            ).start()
            return self

    def stop(self) -> int | None:
        """Terminate the whole process group and reap the child; safe to call repeatedly."""
        with self._lock:
            proc, self._proc = self._proc, None
            try:
                if proc is not None:
                    self._returncode = self._terminate(proc)
                    self._note(f"stopped (exit status {self._returncode})")
            finally:
                _LIVE.discard(self)
                self._drop_files()
            return self._returncode

    # -- internals ---------------------------------------------------------------------
    def _clean_up_after_a_crash(self, proc: subprocess.Popen[bytes]) -> None:
        """Wait for the running child to exit; when it exits by itself (a crash, an
        ``os._exit`` in a harness), stop what is left of its processes and record its
        status at once. Before, they ran on until ``stop()``, ``pid`` still named the
        dead child and ``start()`` refused with "already running"."""
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)  # blocks; reaps nothing
        with self._lock:
            if self._proc is not proc:  # stopped (or being stopped) on purpose
                return
            try:
                self._returncode = self._terminate(proc)
                self._note(
                    f"exited by itself (exit status {self._returncode}); the processes it "
                    "left were stopped"
                )
            finally:
                self._proc = None  # after the status: pid None means returncode is set
                _LIVE.discard(self)

    def _prepare_files(self) -> None:
        self._tmpdir = Path(tempfile.mkdtemp(prefix="tunegym-harness-"))
        kwargs_file = self._tmpdir / "kwargs.json"
        fd = os.open(kwargs_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(self.kwargs, fh)
        if self._log_path is None:
            fd, name = tempfile.mkstemp(prefix="tunegym-harness-", suffix=".log")
            os.close(fd)
            self._log_path = Path(name)
        self._log_path.parent.mkdir(parents=True, exist_ok=True)

    def _drop_files(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def _argv(self, port: int) -> list[str]:
        assert self._tmpdir is not None
        argv = [self.python, "-m", "tunegym.cli.harness", "serve"]
        argv += ["--host", self.host, "--port", str(port), "--log-level", self.log_level]
        argv += ["--kwargs-file", str(self._tmpdir / "kwargs.json")]
        if self.token_env:
            argv += ["--token-env", self.token_env]
        if self.server_name:
            argv += ["--name", self.server_name]
        if self.verify_timeout is not None:
            argv += ["--verify-timeout", repr(float(self.verify_timeout))]
        return [*argv, "--", self.harness_path]  # a path such as '--help' is no option

    def _note(self, message: str) -> None:
        line = scrub(f"[tunegym] {message}", self._secrets)
        log.info("%s", line)
        if self._log_path is not None:
            with open(self._log_path, "a") as fh:
                fh.write(line + "\n")

    def _start_with_retries(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        auto_port = self._requested_port is None
        for attempt in range(1, self.port_retries + 2):
            port = pick_free_port(self.host) if auto_port else int(self._requested_port or 0)
            self._spawn(port, attempt)
            returncode = self._wait_ready(deadline)
            if returncode is None:
                return
            tail = self._log_tail()
            if returncode == EXIT_ADDRESS_IN_USE and auto_port and attempt <= self.port_retries:
                self._note(f"port {port} was taken; retrying on a new port")
                continue
            raise ResourceServerStartupError(
                f"resource server {self.harness_path!r} exited with status {returncode} "
                f"during startup (log: {self._log_path}); last lines:\n{tail}"
            )

    def _spawn(self, port: int, attempt: int) -> None:
        assert self._log_path is not None
        self._note(
            f"attempt {attempt}: starting {self.harness_path} on {self.host}:{port} "
            f"with kwargs {json.dumps(redact(self.kwargs))}"
        )
        self._log_offset = self._log_path.stat().st_size
        start_watchdog()  # kills the server should this process die without stopping it
        env = {
            **os.environ,
            **self.env,
            INSTANCE_ENV: self._instance,
            TAG_VARIABLE: self._tag,
            "PYTHONUNBUFFERED": "1",
        }
        argv = self._argv(port)
        try:
            with open(self._log_path, "ab") as log_file:
                self._proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,
                    close_fds=True,
                )
        except OSError as exc:
            raise ResourceServerStartupError(f"cannot start {argv[0]!r}: {exc}") from exc
        self._port = port
        self._last_pid = self._proc.pid

    def _wait_ready(self, deadline: float) -> int | None:
        """``None`` once ready; the exit status if the child died (it has been reaped)."""
        proc = self._proc
        assert proc is not None and self._port is not None
        delay = 0.02
        while True:
            if _leader_exited(proc.pid):
                self._proc = None
                return self._terminate(proc)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                tail = self._log_tail()  # the server's own last lines, not stop()'s note
                self.stop()
                raise ResourceServerTimeout(
                    f"resource server {self.harness_path!r} was not ready within "
                    f"{self.startup_timeout:g}s (log: {self._log_path}); last lines:\n{tail}"
                )
            if self._probe(min(self.probe_timeout, remaining)) and not _leader_exited(proc.pid):
                self._note(f"ready at {self.url} (pid {proc.pid})")
                return None
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.2)

    def _probe(self, timeout: float) -> bool:
        conn = http.client.HTTPConnection(_probe_host(self.host), self.port, timeout=timeout)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            body = response.read()
            if response.status != 200 or response.getheader(INSTANCE_HEADER) != self._instance:
                return False
            return json.loads(body) == {"status": "ok"}
        except (OSError, ValueError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _terminate(self, proc: subprocess.Popen[bytes]) -> int:
        pgid = proc.pid  # start_new_session: the child leads its own group
        if not _leader_exited(proc.pid):
            signal_group(pgid, signal.SIGTERM)
            end = time.monotonic() + self.stop_timeout
            while not _leader_exited(proc.pid) and time.monotonic() < end:
                time.sleep(0.02)
        signal_group(pgid, signal.SIGKILL)  # the leader is still unreaped: pgid is ours
        # SIGKILL cannot be ignored; the deadline only bounds its delivery time.
        wait_group_gone(pgid, time.monotonic() + 5.0)
        kill_tagged(f"{TAG_VARIABLE}={self._tag}\0".encode())  # any that left the group
        return proc.wait()

    def _log_tail(self) -> str:
        if self._log_path is None or not self._log_path.exists():
            return "(no log)"
        with open(self._log_path, "rb") as fh:
            fh.seek(self._log_offset)
            data = fh.read()[-16384:]
        lines = data.decode("utf-8", "replace").splitlines()[-_LOG_TAIL_LINES:]
        return scrub("\n".join(lines), self._secrets) or "(empty log)"


def _leader_exited(pid: int) -> bool:
    """Whether the child has exited, without reaping it (``WNOWAIT``)."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None
