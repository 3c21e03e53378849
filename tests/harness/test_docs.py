"""The curl examples of docs/harness.md score 1.0 on the harness the page names for them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tunegym.harness.base import load_harness

DOC = Path(__file__).resolve().parents[2] / "docs" / "harness.md"
CURL = re.compile(r"curl -s \$URL(?P<path>/\S+) -d '(?P<body>.*?)'", re.S)
BLOCK = re.compile(r"```console\n(.*?)```", re.S)
SERVED = re.compile(r"`tunegym harness serve (\w+)`")


def curl_examples() -> list[tuple[str, str, str]]:
    """``(harness, path, body)`` of every curl example, with the harness named before it."""
    text = DOC.read_text()
    examples = []
    for block in BLOCK.finditer(text):
        named = SERVED.findall(text[: block.start()].rsplit("\n## ", 1)[-1])
        for curl in CURL.finditer(block.group(1)):
            assert named, f"no `tunegym harness serve NAME` before the example at {block.start()}"
            examples.append((named[-1], curl.group("path"), curl.group("body")))
    return examples


def test_the_page_has_curl_examples_for_both_bundled_harnesses():
    assert {harness for harness, _, _ in curl_examples()} == {"arithmetic", "mcqa"}


@pytest.mark.parametrize(("harness", "path", "body"), curl_examples())
def test_curl_example_scores_one(live_server, harness, path, body):
    url = live_server(load_harness(harness))
    reply = httpx.post(f"{url}{path}", content=body.encode())
    assert reply.status_code == 200, reply.text
    assert reply.json()["reward"] == 1.0
