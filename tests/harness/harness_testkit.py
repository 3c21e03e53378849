"""Test harnesses (imported in child servers via PYTHONPATH) and shared test helpers.

Not a test module: pytest collects ``test_*.py`` only. ``conftest.py`` puts this
directory on ``sys.path`` so tests can ``import harness_testkit``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tunegym.harness.base import GymHarness, VerifyResult

ROWS = [
    {
        "responses_create_params": {"input": [{"role": "user", "content": f"Say {word}"}]},
        "expected_answer": word,
        "topic": "echo",
    }
    for word in ("alpha", "beta", "gamma")
]


class EchoHarness(GymHarness):
    """Reward 1.0 when the response is exactly the expected answer; reports its row fields."""

    name = "echo"

    def get_dataset(self) -> list[dict[str, Any]]:
        return [dict(row) for row in ROWS]

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        reward = 1.0 if response_text.strip() == expected_answer else 0.0
        return VerifyResult(reward, response_text.strip(), {"row_fields": sorted(row_fields)})


class RaisingHarness(EchoHarness):
    """verify() always raises: the server must answer 200 with a masked sample."""

    name = "raising"

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        raise RuntimeError("verifier exploded")


class BaseExceptionHarness(EchoHarness):
    """verify() raises ``error``, which need not be an ``Exception`` (``SystemExit``, ...)."""

    name = "base-exception"

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        raise self.error


class SlowHarness(EchoHarness):
    """verify() sleeps ``delay`` seconds before scoring, so a caller can cancel it."""

    name = "slow"

    def __init__(self, delay: float) -> None:
        self.delay = delay

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        import asyncio

        await asyncio.sleep(self.delay)
        return await super().verify(response_text, expected_answer, **row_fields)


class StuckHarness(EchoHarness):
    """verify() never finishes on ``beta`` (a verifier waiting on something that never
    answers); it gives itself ``limit`` seconds as its ``verify_timeout_s``."""

    name = "stuck"

    def __init__(self, limit: Any = 300.0) -> None:
        self.verify_timeout_s = limit

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        import asyncio

        if response_text == "beta":
            await asyncio.Event().wait()
        return await super().verify(response_text, expected_answer, **row_fields)


class OwnTimeoutHarness(EchoHarness):
    """verify() raises a TimeoutError of its own (its judge's client gave up)."""

    name = "own-timeout"

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        raise TimeoutError("judge did not answer")


class StuckOnUnknownArithmetic(GymHarness):
    """The bundled arithmetic harness whose verify() never finishes on a reply that
    says 'no idea'."""

    name = "arithmetic"

    def __init__(self, **kwargs: Any) -> None:
        from tunegym.harness.bundled.arithmetic import ArithmeticHarness

        self.inner = ArithmeticHarness(**kwargs)

    def get_dataset(self) -> list[dict[str, Any]]:
        return self.inner.get_dataset()

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        import asyncio

        if "no idea" in response_text:
            await asyncio.Event().wait()
        return await self.inner.verify(response_text, expected_answer, **row_fields)


class DatasetHarness(EchoHarness):
    """get_dataset() returns one of a few datasets no server or export can use as is."""

    name = "bad-rows"

    def __init__(self, rows: str) -> None:
        self.rows = rows

    def get_dataset(self) -> Any:
        return {
            "none": None,
            "ints": [1, 2],
            "nan": [{"expected_answer": "a"}, {"expected_answer": float("nan")}],
            "set": [{"expected_answer": "a"}, {"expected_answer": {1, 2}}],
            "surrogate": [{"expected_answer": "\ud800"}],
        }[self.rows]


class WrongResultHarness(EchoHarness):
    """verify() returns a float instead of a VerifyResult (a harness bug)."""

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        return 1.0  # type: ignore[return-value]


class CrashAtStartHarness(EchoHarness):
    """The constructor fails, as a harness whose weights are missing would."""

    def __init__(self) -> None:
        print("loading weights from /nonexistent/model.bin", flush=True)
        raise FileNotFoundError("model weights not found: /nonexistent/model.bin")


class NeverReadyHarness(EchoHarness):
    """The constructor never returns, so the server never answers /health."""

    def __init__(self) -> None:
        time.sleep(3600)


class IgnoresSigtermHarness(EchoHarness):
    """Blocks SIGTERM in the server process (threads inherit the mask): only SIGKILL works."""

    def __init__(self) -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


class GrandchildHarness(EchoHarness):
    """Starts a helper process (same group) that ignores SIGTERM; writes its pid to a file."""

    def __init__(self, pid_file: str) -> None:
        code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
        self.helper = subprocess.Popen([sys.executable, "-c", code])
        Path(pid_file).write_text(str(self.helper.pid))


class EscapingHarness(EchoHarness):
    """Starts a helper that leaves the server's process group (``setsid``), as a daemon
    does; writes its pid to a file."""

    def __init__(self, pid_file: str) -> None:
        code = "import os, time; os.setsid(); time.sleep(600)"
        self.helper = subprocess.Popen([sys.executable, "-c", code])
        Path(pid_file).write_text(str(self.helper.pid))


class SecretHarness(EchoHarness):
    """Prints and logs its secret kwargs, as careless harness code does (and the mode of
    the kwargs file it was given)."""

    def __init__(self, api_key: str, password: str, model: str = "m") -> None:
        kwargs_file = sys.argv[sys.argv.index("--kwargs-file") + 1]
        print(f"kwargs file mode {os.stat(kwargs_file).st_mode & 0o777:o}", flush=True)
        print(f"connecting with api_key={api_key}", flush=True)
        logging.getLogger("secret-harness").warning("password is %s", password)
        sys.stderr.write(f"model={model} key={api_key}\n")


class StatefulHarness(EchoHarness):
    """Keeps per-session state: seeds count verifies; closing records the session id."""

    name = "stateful"

    def __init__(self) -> None:
        self.seeded: list[str] = []
        self.closed: list[str] = []
        self.seed_delay = 0.0

    async def seed_session(self, session) -> None:
        import asyncio

        if self.seed_delay:
            await asyncio.sleep(self.seed_delay)
        session.state["verifies"] = 0
        self.seeded.append(session.id)

    async def close_session(self, session) -> None:
        self.closed.append(session.id)
        session.state.clear()

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        from tunegym.harness.sessions import current_rollout_id, current_session

        session = current_session()
        details: dict[str, Any] = {"session": None, "rollout_id": current_rollout_id()}
        if session is not None:
            session.state["verifies"] += 1
            details["session"] = {
                "id": session.id,
                "verifies": session.state["verifies"],
                "task_data": session.task_data,
            }
        reward = 1.0 if response_text.strip() == expected_answer else 0.0
        return VerifyResult(reward, response_text.strip(), details)


class FailingHooksHarness(EchoHarness):
    """seed_session and close_session raise, quoting a secret kwarg (it must be scrubbed)."""

    name = "failing"

    def __init__(self, api_key: str = "sk-hooks-0123456789") -> None:
        self.api_key = api_key

    async def seed_session(self, session) -> None:
        raise ConnectionError(f"sandbox refused key {self.api_key}")

    async def close_session(self, session) -> None:
        raise ConnectionError(f"sandbox refused key {self.api_key}")


class LeakyHarness(EchoHarness):
    """verify() raises with its API key (and an env secret) in the message."""

    name = "leaky"

    def __init__(self, api_key: str = "sk-live-abcdef123456") -> None:
        self.api_key = api_key

    async def verify(self, response_text: str, expected_answer: Any, **row_fields: Any):
        import os

        env_key = os.environ.get("LEAKY_UPSTREAM_TOKEN", "")
        raise PermissionError(f"upstream rejected api_key={self.api_key} token={env_key}")


class SlowAggregateHarness(EchoHarness):
    """compute_metrics takes a while (pure Python), as a heavy benchmark metric would."""

    name = "slow-aggregate"

    def compute_metrics(self, tasks):
        total = 0
        for _ in range(3_000_000):
            total += 1
        return {"spins": total}


# -- helpers ---------------------------------------------------------------------------
@contextlib.contextmanager
def serve_app(app: Any, http: Any = "auto") -> Iterator[str]:
    """Run an ASGI app under real uvicorn on 127.0.0.1 (port 0) in a thread; yield its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, http=http, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def group_members(pgid: int) -> list[int]:
    """Pids of live (not zombie) processes whose process group is ``pgid`` (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            members.append(int(entry.name))
    return members


def assert_group_gone(pgid: int | None) -> None:
    """Fail unless no live process of group ``pgid`` remains (allowing a moment to exit)."""
    assert pgid is not None
    deadline = time.monotonic() + 5
    while group_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert group_members(pgid) == [], f"processes of group {pgid} still alive"


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
