"""The harness server under hostile requests: 4xx (or a masked 200), never a 5xx.

Each kind from the hostile-input review has its own test against a real
``tunegym harness serve`` child; ``test_fuzz_*`` sends 600+ malformed requests of those
kinds over loopback (a fixed, seeded corpus) and counts the answers.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter

import httpx
import pytest

from tunegym.harness.process import ResourceServerProcess

POST_ROUTES = ("/verify", "/seed_session", "/close_session", "/aggregate_metrics")
OPTIONS = [{"A": "Venus"}, {"B": "Mercury"}]


def nemo_verify(text: str, **fields) -> dict:
    return {
        "responses_create_params": {"input": [{"role": "user", "content": "Which planet?"}]},
        "response": {
            "output": [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": text}],
                }
            ]
        },
        "options": OPTIONS,
        "expected_answer": "B",
        **fields,
    }


@pytest.fixture(scope="module")
def mcqa_url(tmp_path_factory):
    log = tmp_path_factory.mktemp("hostile") / "serve.log"
    with ResourceServerProcess("mcqa", log_path=log, log_level="warning") as server:
        yield server.url


@pytest.fixture
def client(mcqa_url):
    with httpx.Client(base_url=mcqa_url, timeout=60) as client:
        yield client


def post_raw(client: httpx.Client, path: str, raw: bytes) -> httpx.Response:
    return client.post(path, content=raw, headers={"content-type": "application/json"})


@pytest.mark.parametrize("path", POST_ROUTES)
@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"a":' * 50_000,
        b"[" * 5_000 + b"]" * 5_000,  # parses on no interpreter stack; valid JSON all the same
    ],
    ids=["open-brackets", "open-objects", "balanced-5000"],
)
def test_deeply_nested_json_is_422(client, path, raw):
    reply = post_raw(client, path, raw)
    assert reply.status_code == 422, reply.text[:200]
    assert reply.json()["detail"][0]["type"] == "json_too_deep"


def test_json_nested_inside_fields_is_never_a_5xx(client):
    deep = json.loads("[" * 900 + "]" * 900)
    for body in (
        nemo_verify("\\boxed{B}", expected_answer=deep),
        nemo_verify("\\boxed{B}", metadata={"x": deep}),
        {"verify_responses": [{"reward": 1.0, "responses_create_params": deep}]},
    ):
        for path in POST_ROUTES:
            raw = json.dumps(body).encode()
            assert post_raw(client, path, raw).status_code < 500, path


def test_lone_surrogates_come_back_escaped(client):
    raw = json.dumps(nemo_verify("\\boxed{B} \ud800", uuid="id-\udfff")).encode()
    reply = post_raw(client, "/verify", raw)
    assert reply.status_code == 200
    data = json.loads(reply.content)
    assert (data["reward"], data["uuid"]) == (1.0, "id-\udfff")
    for path in ("/seed_session", "/close_session"):
        raw = b'{"resources_session_id": "s-\\ud800"}'
        reply = post_raw(client, path, raw)
        assert reply.status_code == 200, path
        assert json.loads(reply.content) == {"resources_session_id": "s-\ud800"}
    raw = b'{"response": "\\ud800", "expected": "\\udc00", "metadata": {"options": []}}'
    reply = post_raw(client, "/verify", raw)
    assert reply.status_code == 200
    assert json.loads(reply.content)["expected_answer"] == "\udc00".strip().upper()


def test_rewards_near_the_float_limit_aggregate(client):
    responses = [{"reward": 1e308}, {"reward": 1e308}, {"reward": -1.7976931348623157e308}]
    reply = client.post("/aggregate_metrics", json={"verify_responses": responses})
    assert reply.status_code == 200
    agent = reply.json()["agent_metrics"]
    assert agent["max/reward"] == 1e308
    assert agent["mean/reward"] == pytest.approx(2 * (1e308 / 3) - 1.7976931348623157e308 / 3)


def test_token_counts_near_the_float_limit_aggregate(client):
    perf = [{"prompt_tokens": 1e308, "completion_tokens": 1e308, "num_turns": 1.3e154}] * 2
    perf.append({"prompt_tokens": 1.0, "completion_tokens": 1.0, "num_turns": -1.3e154})
    responses = [{"reward": 1, "ng_perf": p} for p in perf]
    reply = client.post("/aggregate_metrics", json={"verify_responses": responses})
    assert reply.status_code == 200, reply.text[:300]
    summary = reply.json()["perf_summary"]
    for field in ("prompt_tokens", "completion_tokens"):
        assert f"total_{field}" not in summary  # 2e308 does not fit: left out
        assert summary[f"mean_{field}"] == pytest.approx(1e308 / 3 * 2)
    assert summary["std_num_turns"] == pytest.approx(1.3e154 * math.sqrt(8) / 3)


def test_4000_digit_integers(client):
    huge = "9" * 4000
    raw = f'{{"verify_responses": [{{"reward": {huge}}}]}}'.encode()
    reply = post_raw(client, "/aggregate_metrics", raw)
    assert reply.status_code == 422
    assert (
        reply.json()["detail"][0]["msg"] == "verify_responses[0].reward: expected a finite number"
    )
    raw = f'{{"verify_responses": [{{"reward": 1, "_ng_task_index": {huge}, "n": {huge}}}]}}'
    assert post_raw(client, "/aggregate_metrics", raw.encode()).status_code == 200
    raw = json.dumps(nemo_verify("\\boxed{B}", uuid=None))[:-1] + f', "big": {huge}}}'
    reply = post_raw(client, "/verify", raw.encode())
    assert reply.status_code == 200 and reply.json()["reward"] == 1.0
    too_many = "9" * 5000  # beyond Python's int-parsing limit: malformed JSON
    assert post_raw(client, "/verify", f'{{"x": {too_many}}}'.encode()).status_code == 422


def test_health_answers_while_a_big_aggregate_is_computed(client):
    """20,000 repeats of one task: the aggregate runs on a worker thread (and is linear)."""
    responses = [
        {
            "_ng_task_index": 0,
            "_ng_rollout_index": i,
            "reward": float(i % 2),
            "extracted_answer": "B",
        }
        for i in range(20_000)
    ]
    result: dict[str, httpx.Response] = {}

    def aggregate() -> None:
        with httpx.Client(base_url=str(client.base_url), timeout=300) as other:
            result["reply"] = other.post("/aggregate_metrics", json={"verify_responses": responses})

    worker = threading.Thread(target=aggregate)
    worker.start()
    answered = 0
    while worker.is_alive():
        assert client.get("/health", timeout=30).json() == {"status": "ok"}
        answered += worker.is_alive()
    worker.join()
    assert result["reply"].status_code == 200
    assert result["reply"].json()["agent_metrics"]["num_repeats"] == 20_000
    assert answered >= 5


def test_a_raising_verify_does_not_leak_its_secrets(tmp_path):
    """The key is a kwarg, the token an environment variable the harness reads itself."""
    key, token = "sk-live-abcdef123456", "upstream-token-7f3a9c"
    with ResourceServerProcess(
        "harness_testkit:LeakyHarness",
        kwargs={"api_key": key},
        env={"LEAKY_UPSTREAM_TOKEN": token, **_testkit_path()},
        log_path=tmp_path / "serve.log",
    ) as server:
        body = {"response": "alpha", "expected": "alpha"}
        data = httpx.post(f"{server.url}/verify", json=body).json()
    assert (data["mask_sample"], data["failure_kind"]) == (True, "verifier_error")
    assert data["failure_reason"] == "PermissionError: upstream rejected api_key=*** token=***"
    log = (tmp_path / "serve.log").read_text()
    assert key not in log and token not in log


def _testkit_path() -> dict[str, str]:
    import os
    from pathlib import Path

    here = str(Path(__file__).resolve().parent)
    return {"PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}


# -- the fuzz corpus -------------------------------------------------------------------
def _deep(rng: random.Random) -> bytes:
    depth = rng.choice([500, 900, 990, 2_000, 20_000, 100_000])
    opener, closer = rng.choice([(b"[", b"]"), (b'{"k":', b"}")])
    closed = rng.random() < 0.5
    return opener * depth + (b"1" + closer * depth if closed else b"")


def _surrogate(rng: random.Random) -> str:
    return rng.choice(["\ud800", "\udfff", "\udbff\udbff", "x\ud83d", "\udc00y"])


def _number(rng: random.Random) -> str:
    return rng.choice(
        [
            "1e308",
            "-1e308",
            "1.7976931348623157e308",
            "1e309",
            "-Infinity",
            "NaN",
            "9" * 4000,
            "-" + "9" * 4000,
            "1" * 4300,
            "9" * 4301,
            "1e-400",
            "0.0",
        ]
    )


def fuzz_corpus(seed: int = 13, size: int = 620) -> list[tuple[str, bytes]]:
    """``(path, raw body)``: nested, surrogate-laden, huge-number and broken requests."""
    rng = random.Random(seed)
    corpus: list[tuple[str, bytes]] = []
    for i in range(size):
        path = rng.choice(POST_ROUTES)
        if rng.random() < 0.15:
            path = "/ng-rollout/fuzz-" + str(i) + path
        kind = i % 6
        if kind == 0:
            raw = _deep(rng)
        elif kind == 1:  # a nested value inside an otherwise plausible body
            nested = _deep(rng).decode()
            raw = (
                rng.choice(
                    [
                        '{"response": %s}',
                        '{"verify_responses": [{"reward": 1, "x": %s}]}',
                        '{"resources_session_id": "s", "episode_id": %s, "task_id": {}}',
                        '{"response": "a", "expected": "a", "metadata": {"options": %s}}',
                    ]
                )
                .replace("%s", nested)
                .encode()
            )
        elif kind == 2:  # lone surrogates, as escapes or as raw (invalid UTF-8) bytes
            value = _surrogate(rng)
            body = rng.choice(
                [
                    nemo_verify("\\boxed{B}" + value),
                    nemo_verify("\\boxed{B}", expected_answer=value),
                    nemo_verify("\\boxed{B}", options=[{"A" + value: "x"}, {"B": value}]),
                    {"resources_session_id": "s" + value},
                    {
                        "resources_session_id": value,
                        "episode_id": {"rollout_id": "r"},
                        "task_id": {"taskset": value, "task_id": value},
                        "task_data": {"q": value},
                    },
                    {"verify_responses": [{"reward": 1, "extracted_answer": value}]},
                ]
            )
            raw = json.dumps(body).encode()
            if rng.random() < 0.3:
                raw = raw.replace(b"\\ud800", b"\xed\xa0\x80")
        elif kind == 3:  # numbers at the edge of float and int range
            number = _number(rng)
            raw = (
                rng.choice(
                    [
                        '{"verify_responses": [{"reward": %s}, {"reward": %s}]}',
                        '{"verify_responses": [{"reward": 1, "_ng_task_index": %s, "t": %s}]}',
                        '{"verify_responses": [{"reward": 1, "_ng_rollout_index": %s}, '
                        '{"reward": 0, "_ng_rollout_index": %s}]}',
                        '{"response": "\\\\boxed{B}", "expected": %s, "metadata": {"n": %s}}',
                        '{"resources_session_id": "s", "episode_id": {"rollout_id": "r", '
                        '"attempt": %s}, "task_id": {"taskset": "t", "task_id": "%s"}, '
                        '"task_data": {}}',
                    ]
                )
                .replace("%s", number)
                .encode()
            )
        elif kind == 4:  # many huge rewards at once
            count = rng.choice([2, 10, 200])
            responses = ",".join(
                f'{{"reward": {rng.choice(["1e308", "-1e308", "1.5e308"])}, '
                f'"_ng_task_index": {j % 3}, "_ng_rollout_index": {j // 3}}}'
                for j in range(count)
            )
            raw = f'{{"verify_responses": [{responses}]}}'.encode()
        else:  # truncated, mistyped or random bytes
            whole = json.dumps(nemo_verify("\\boxed{B}"))
            raw = rng.choice(
                [
                    whole[: rng.randint(0, len(whole) - 1)].encode(),
                    bytes(rng.randrange(256) for _ in range(rng.randint(1, 64))),
                    b'{"response": {"output": [{"type": "message", "content": [7]}]}}',
                    b'{"verify_responses": [{"reward": true}]}',
                    b'"just a string"',
                    b"\xff\xfe{}",
                ]
            )
        corpus.append((path, raw))
    return corpus


def test_fuzz_corpus_is_large_and_varied():
    corpus = fuzz_corpus()
    assert len(corpus) >= 500
    assert len(set(corpus)) >= 400
    assert {path.rsplit("/", 1)[-1] for path, _ in corpus} == {
        "verify",
        "seed_session",
        "close_session",
        "aggregate_metrics",
    }


def test_fuzz_gets_no_5xx(client):
    statuses: Counter[int] = Counter()
    failures = []
    for path, raw in fuzz_corpus():
        reply = post_raw(client, path, raw)
        statuses[reply.status_code] += 1
        if reply.status_code >= 500:
            failures.append((path, raw[:80], reply.status_code, reply.text[:200]))
        else:
            json.loads(reply.content)  # every answer is JSON
    assert failures == []
    assert sum(statuses.values()) >= 500
    assert set(statuses) <= {200, 404, 409, 422}
    assert client.get("/health").json() == {"status": "ok"}  # and the server is still up


def _verify_bytes(pad: int) -> bytes:
    return json.dumps(nemo_verify("\\boxed{B}", pad="x" * pad)).encode()


@pytest.fixture
def small_limit_url(live_server):
    from tunegym.harness.base import load_harness

    return live_server(load_harness("mcqa"), max_body_bytes=100_000)


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_over_the_limit_is_413_and_the_server_goes_on(small_limit_url, chunked):
    """One request must not take the server's memory (a parsed body takes about 25 times
    its size): a body over the limit is refused, by its declared length before it is
    read, or as a chunked one passes the limit."""
    body = _verify_bytes(2_000_000)
    content = (body[i : i + 65536] for i in range(0, len(body), 65536)) if chunked else body
    with httpx.Client(base_url=small_limit_url, timeout=60) as client:
        reply = client.post(
            "/verify", content=content, headers={"content-type": "application/json"}
        )
        assert reply.status_code == 413
        (detail,) = reply.json()["detail"]
        assert detail["loc"] == ["body"] and detail["type"] == "too_large"
        assert detail["msg"].startswith("body: larger than 100000 bytes, the most this server")
        under = client.post("/verify", content=_verify_bytes(50_000))
        assert under.status_code == 200 and under.json()["reward"] == 1.0


def test_the_served_harness_refuses_a_body_over_32_mib_by_default(client):
    reply = post_raw(client, "/verify", _verify_bytes(33 * 2**20))
    assert reply.status_code == 413
    assert "(--max-body-mb)" in reply.json()["detail"][0]["msg"]
    assert post_raw(client, "/verify", _verify_bytes(10)).json()["reward"] == 1.0
