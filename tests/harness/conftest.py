"""Fixtures for the harness tests: real uvicorn servers on 127.0.0.1:0, process-group checks.

``harness_testkit.py`` (next to this file) holds harness classes the tests start in child
processes and shared helpers; ``testkit_env`` puts this directory on a child's
``PYTHONPATH``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))  # makes harness_testkit importable here and in children

NEMO_DATA = HERE / "data" / "nemo-gym"  # copied unchanged from NeMo Gym (see its README)


@pytest.fixture(autouse=True)
def _temporary_files_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Server logs and kwargs files that default to the temp dir land in ``tmp_path``."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))


@pytest.fixture
def testkit_env() -> dict[str, str]:
    """Environment for child servers so they can import ``harness_testkit``."""
    return {"PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def live_server() -> Iterator[Callable[..., str]]:
    """``live_server(harness, token=None, http="auto", **create_app_options) -> url``."""
    from harness_testkit import serve_app

    from tunegym.harness.server import create_app

    with contextlib.ExitStack() as stack:

        def start(harness: Any, token: str | None = None, http: Any = "auto", **options) -> str:
            app = create_app(harness, token=token, **options)
            return stack.enter_context(serve_app(app, http=http))

        yield start


@pytest.fixture
def nemo_rollouts() -> list[dict[str, Any]]:
    """The five real NeMo Gym mcqa rollouts (reward and extracted_answer included)."""
    from harness_testkit import load_jsonl

    return load_jsonl(NEMO_DATA / "mcqa_example_rollouts.jsonl")


@pytest.fixture
def nemo_rows() -> list[dict[str, Any]]:
    """The five NeMo Gym mcqa dataset rows the rollouts were made from."""
    from harness_testkit import load_jsonl

    return load_jsonl(NEMO_DATA / "mcqa_example.jsonl")
