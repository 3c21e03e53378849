"""The interop suite: NeMo Gym's own code against ``tunegym harness serve``.

Run by ``make interop`` with the interop virtualenv's pytest (nemo-gym and tunegym in one
interpreter); the main suite never collects this folder (``testpaths = ["tests"]``).

One session-wide :class:`Stack`: tunegym servers (``mcqa``, ``mcqa`` with a server-level
grading mode, ``arithmetic``, and a harness that reports its session and rollout id), a
fake policy model that replays the recorded responses, and NeMo Gym's own servers: its
``mcqa`` resources server (default and ``lenient_answer_colon``), two ``simple_agent``
instances (one in front of tunegym's mcqa, one in front of NeMo Gym's) and a
``single_agent_turn`` environment server in front of tunegym's mcqa. Everything is
stopped by pid at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

try:
    import nemo_gym  # noqa: F401
except ImportError as exc:  # the main venv, or a venv without the package
    raise pytest.UsageError(
        f"tests_interop needs the nemo-gym package ({exc}); run `make interop`, which builds "
        "a virtualenv with nemo-gym and runs this suite in it"
    ) from None

from fake_model import DATA, load_jsonl, make_app  # noqa: E402
from nemo_stack import GymStack, nemo_version, setup_aiohttp_client  # noqa: E402

from tunegym.harness.process import ResourceServerProcess  # noqa: E402

RESOURCES = "resources_servers"
AGENTS = "responses_api_agents"


def pytest_report_header(config: pytest.Config) -> str:
    return f"nemo-gym {nemo_version()}"


@contextlib.contextmanager
def serve_in_thread(app: Any) -> Iterator[str]:
    """Serve an ASGI app with uvicorn in a thread on 127.0.0.1 (a free port)."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("fake model server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class Stack:
    """What the tests talk to: URLs by instance name, the config, the event loop."""

    gym: GymStack
    runner: asyncio.Runner
    urls: dict[str, str]
    tunegym: dict[str, ResourceServerProcess]
    model_app: Any
    rows: list[dict[str, Any]] = field(default_factory=list)
    rollouts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pairs(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """``(row, rollout)`` of the five shared rollouts, matched by prompt, rollout order."""
        from fake_model import prompt_of

        by_prompt = {prompt_of(row["responses_create_params"]): row for row in self.rows}
        return [(by_prompt[prompt_of(r["responses_create_params"])], r) for r in self.rollouts]

    def client(self, observability: bool | None = None) -> Any:
        return self.gym.server_client(observability)

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    work = tmp_path_factory.mktemp("interop")
    rows = load_jsonl(DATA / "mcqa_example.jsonl")
    rollouts = load_jsonl(DATA / "mcqa_example_rollouts.jsonl")
    with contextlib.ExitStack() as exit_stack, asyncio.Runner() as runner:
        env = {"PYTHONPATH": str(HERE)}
        tunegym = {
            name: exit_stack.enter_context(
                ResourceServerProcess(
                    path,
                    kwargs=kwargs,
                    env=env,
                    server_name=name,
                    log_path=work / f"{name}.log",
                    log_level="warning",
                )
            )
            for name, path, kwargs in [
                ("tunegym_mcqa", "mcqa", {}),
                ("tunegym_mcqa_colon", "mcqa", {"grading_mode": "lenient_answer_colon"}),
                ("tunegym_arithmetic", "arithmetic", {"size": 20}),
                ("tunegym_context", "interop_harnesses:ContextHarness", {}),
            ]
        }
        model_app = make_app(rollouts)
        model_url = exit_stack.enter_context(serve_in_thread(model_app))

        gym = GymStack(work)
        for name, server in tunegym.items():
            gym.add_external(name, RESOURCES, name, server.url, domain="knowledge")
        gym.add_external("policy_model", "responses_api_models", "fake_model", model_url)
        gym.add_nemo("nemo_mcqa", RESOURCES, "mcqa", "MCQAResourcesServer", domain="knowledge")
        gym.add_nemo(
            "nemo_mcqa_colon",
            RESOURCES,
            "mcqa",
            "MCQAResourcesServer",
            domain="knowledge",
            grading_mode="lenient_answer_colon",
        )
        for agent, resources in (("tunegym_agent", "tunegym_mcqa"), ("nemo_agent", "nemo_mcqa")):
            gym.add_nemo(
                agent,
                AGENTS,
                "simple_agent",
                "SimpleAgent",
                resources_server={"type": RESOURCES, "name": resources},
                model_server={"type": "responses_api_models", "name": "policy_model"},
            )
        gym.add_nemo(
            "tunegym_env",
            "environment_servers",
            "single_agent_turn",
            "SingleAgentTurnEnvironmentServer",
            resources_server={"type": RESOURCES, "name": "tunegym_mcqa"},
            agent_server={"type": AGENTS, "name": "tunegym_agent"},
            cleanup_timeout_seconds=60,
        )
        exit_stack.callback(gym.stop)
        gym.start()

        async def client_setup() -> None:
            setup_aiohttp_client(gym.config)

        runner.run(client_setup())
        urls = {name: server.url for name, server in tunegym.items()}
        urls.update({server.name: server.url for server in gym.servers})
        yield Stack(gym, runner, urls, tunegym, model_app, rows, rollouts)
