"""NeMo Gym's own servers, started the way its ``ng_run`` starts them, next to tunegym's.

Used by the interop suite (``make interop``) and by ``benchmarks/bench_nemo_mcqa.py``;
needs the interop virtualenv (nemo-gym and tunegym installed in one interpreter).

:class:`GymStack` holds one NeMo Gym global config. Servers that run elsewhere (tunegym's
resources servers, a fake model) are entered with their host and port; NeMo Gym's own
servers (``add_nemo``) get a free port and are started by :meth:`GymStack.start` as
``ng_run`` does: the server's directory as the working directory, the whole config in
``NEMO_GYM_CONFIG_DICT``, the instance name in ``NEMO_GYM_CONFIG_PATH``, and the class's
``run_webserver()``. Each runs in its own process group with its output in a log file and
is stopped by its pid (SIGTERM to the group, then SIGKILL).

One deviation: a server class that leaves ``ray_enabled`` unset (0.7.0's single-agent-turn
environment server) would start a Ray cluster it never uses; it is run with
``ray_enabled = False``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
LAUNCHER = HERE / "run_nemo_server.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nemo_install_root() -> Path:
    """Where nemo-gym's packages (``nemo_gym``, ``resources_servers``, ...) are installed."""
    import nemo_gym

    return Path(nemo_gym.__file__).resolve().parent.parent


def nemo_version() -> str:
    from importlib.metadata import version

    return version("nemo-gym")


@dataclass
class NeMoServer:
    """One NeMo Gym server process: ``kind/impl/app.py``'s ``cls``, instance ``name``."""

    name: str
    kind: str
    impl: str
    cls: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class GymStack:
    """A NeMo Gym global config plus the NeMo Gym servers started from it."""

    workdir: Path
    observability: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    servers: list[NeMoServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config.update(
            head_server={"host": "127.0.0.1", "port": free_port()},  # never contacted
            dry_run=False,
            observability_enabled=self.observability,
        )

    def add_external(self, name: str, kind: str, impl: str, url: str, **fields: Any) -> None:
        """A server NeMo Gym only calls (tunegym's, a fake model) at ``url``."""
        host, port = url.removeprefix("http://").rsplit(":", 1)
        self.config[name] = {
            kind: {impl: {"host": host, "port": int(port), "entrypoint": "app.py", **fields}}
        }

    def add_nemo(self, name: str, kind: str, impl: str, cls: str, **fields: Any) -> NeMoServer:
        """One of NeMo Gym's own servers, started by :meth:`start`."""
        port = free_port()
        self.config[name] = {
            kind: {impl: {"host": "127.0.0.1", "port": port, "entrypoint": "app.py", **fields}}
        }
        server = NeMoServer(name, kind, impl, cls, port, self.workdir / f"{name}.log")
        self.servers.append(server)
        return server

    def start(self, timeout: float = 300.0) -> None:
        """Start every NeMo Gym server and wait until each answers ``/health``."""
        root = nemo_install_root()
        env_config = json.dumps(self.config)
        for server in self.servers:
            env = {
                **os.environ,
                "NEMO_GYM_CONFIG_DICT": env_config,
                "NEMO_GYM_CONFIG_PATH": server.name,
                "PYTHONUNBUFFERED": "1",
                "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            }
            argv = [sys.executable, str(LAUNCHER), server.kind, server.impl, server.cls]
            with open(server.log_path, "wb") as log:
                server.proc = subprocess.Popen(
                    argv,
                    cwd=root / server.kind / server.impl,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        deadline = time.monotonic() + timeout
        for server in self.servers:
            self._wait(server, deadline)

    def _wait(self, server: NeMoServer, deadline: float) -> None:
        assert server.proc is not None
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(
                    f"NeMo Gym server {server.name} exited with {server.proc.returncode}:\n"
                    + server.log_path.read_text(errors="replace")[-3000:]
                )
            try:
                with urllib.request.urlopen(f"{server.url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"NeMo Gym server {server.name} not ready; see {server.log_path}"
                )
            time.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM each server's process group, then SIGKILL what is left; reap."""
        for server in self.servers:
            if server.proc is not None and server.proc.poll() is None:
                _signal_group(server.proc.pid, signal.SIGTERM)
        end = time.monotonic() + 10
        for server in self.servers:
            if server.proc is None:
                continue
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.proc.wait(max(0.1, end - time.monotonic()))
            _signal_group(server.proc.pid, signal.SIGKILL)
            server.proc.wait()
            server.proc = None

    def server_client(self, observability: bool | None = None) -> Any:
        """NeMo Gym's ``ServerClient`` over this config (optionally toggling observability)."""
        from nemo_gym.config_types import BaseServerConfig
        from nemo_gym.server_utils import ServerClient
        from omegaconf import OmegaConf

        config = dict(self.config)
        if observability is not None:
            config["observability_enabled"] = observability
        head = BaseServerConfig(**config["head_server"])
        return ServerClient(head_server_config=head, global_config_dict=OmegaConf.create(config))


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def setup_aiohttp_client(config: dict[str, Any]) -> None:
    """NeMo Gym's shared aiohttp client for this process (call inside the event loop)."""
    from nemo_gym.server_utils import (
        GlobalAIOHTTPAsyncClientConfig,
        is_global_aiohttp_client_setup,
        set_global_aiohttp_client,
    )

    if not is_global_aiohttp_client_setup():
        set_global_aiohttp_client(GlobalAIOHTTPAsyncClientConfig.model_validate(config))
