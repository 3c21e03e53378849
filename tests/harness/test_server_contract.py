"""The NeMo Gym resource-server contract, over real HTTP (uvicorn on 127.0.0.1, port 0)."""

from __future__ import annotations

import copy
import json

import httpx
import pytest
from harness_testkit import EchoHarness, RaisingHarness, WrongResultHarness
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tunegym.harness.bundled.arithmetic import ArithmeticHarness
from tunegym.harness.bundled.mcqa import MCQAHarness
from tunegym.harness.server import HEALTH_PATHS


def responses_object(text: str, **extra) -> dict:
    """A full OpenAI Responses object like the ones in NeMo Gym rollouts."""
    return {
        "id": "resp_1",
        "created_at": 1756093415.0,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "model": "gpt-4.1-2025-04-14",
        "object": "response",
        "output": [
            {"id": "rs_1", "type": "reasoning", "summary": []},
            {
                "id": "msg_1",
                "content": [{"annotations": [], "text": text, "type": "output_text"}],
                "role": "assistant",
                "status": "completed",
                "type": "message",
            },
        ],
        "parallel_tool_calls": True,
        "temperature": 1.0,
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "status": "completed",
        "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15},
        **extra,
    }


def verify_body(text: str, expected: str = "alpha", **fields) -> dict:
    return {
        "responses_create_params": {
            "input": [{"role": "user", "content": "Say alpha", "type": "message"}],
            "tools": [],
            "parallel_tool_calls": None,
        },
        "response": responses_object(text),
        "expected_answer": expected,
        **fields,
    }


@pytest.fixture
def echo_url(live_server) -> str:
    return live_server(EchoHarness())


@pytest.fixture
def echo_client(echo_url):
    """One keep-alive client for the many requests of the property tests."""
    with httpx.Client(base_url=echo_url) as client:
        yield client


def test_verify_full_responses_object_echoes_request_and_scores(echo_url):
    body = verify_body("alpha", topic="echo")
    reply = httpx.post(f"{echo_url}/verify", json=body)
    assert reply.status_code == 200
    data = reply.json()
    assert data["reward"] == 1.0
    assert data["expected_answer"] == "alpha"
    assert data["extracted_answer"] == "alpha"
    assert data["mask_sample"] is False
    for key, value in body.items():  # the request comes back unchanged
        assert data[key] == value
    # row fields reach the harness; reserved fields do not
    assert data["verify_details"]["row_fields"] == ["responses_create_params", "topic"]


def test_verify_concatenates_every_assistant_output_text(echo_url):
    body = verify_body("")
    body["response"]["output"] = [
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "al"}],
        },
        {"type": "function_call", "name": "f", "arguments": "{}"},
        {"type": "message", "role": "user", "content": [{"type": "output_text", "text": "no"}]},
        {
            "type": "message",
            "content": [
                {"type": "refusal", "refusal": "x"},
                {"type": "output_text", "text": "pha"},
            ],
        },
    ]
    data = httpx.post(f"{echo_url}/verify", json=body).json()
    assert data["extracted_answer"] == "alpha"  # joined as the OpenAI SDK's output_text does


def test_verify_missing_optional_fields_is_fine(echo_url):
    body = {
        "responses_create_params": {"input": [{"role": "user", "content": "Say alpha"}]},
        "response": {"output": [{"type": "message", "content": [{"text": "alpha"}]}]},
        "expected_answer": "alpha",
    }
    reply = httpx.post(f"{echo_url}/verify", json=body)
    assert reply.status_code == 200
    assert reply.json()["reward"] == 1.0


def test_verify_extra_fields_anywhere_are_fine(echo_url):
    body = verify_body("alpha", uuid="u-1", _ng_task_index=3, surprise={"nested": [1, 2]})
    body["responses_create_params"]["brand_new_option"] = {"x": 1}
    body["response"]["some_future_field"] = "ok"
    body["response"]["output"][1]["content"][0]["logprobs"] = [{"token": "a"}]
    reply = httpx.post(f"{echo_url}/verify", json=body)
    assert reply.status_code == 200
    data = reply.json()
    assert data["reward"] == 1.0
    assert data["surprise"] == {"nested": [1, 2]}
    assert data["_ng_task_index"] == 3


def test_verify_accepts_chat_completions_form(echo_url):
    body = {
        "responses_create_params": {"input": [{"role": "user", "content": "Say beta"}]},
        "response": {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": " beta "}},
                {"index": 1, "message": {"role": "assistant", "content": "gamma"}},
            ],
        },
        "expected_answer": "beta",
    }
    data = httpx.post(f"{echo_url}/verify", json=body).json()
    assert (data["reward"], data["extracted_answer"]) == (1.0, "beta")


def test_verify_accepts_evaluator_form(echo_url):
    body = {"response": "gamma", "expected": "gamma", "metadata": {"topic": "echo", "id": 7}}
    reply = httpx.post(f"{echo_url}/verify", json=body)
    assert reply.status_code == 200
    data = reply.json()
    assert data["reward"] == 1.0
    assert data["expected_answer"] == "gamma"
    assert data["metadata"] == {"topic": "echo", "id": 7}
    assert data["verify_details"]["row_fields"] == ["id", "topic"]


def test_verify_wrong_answer_scores_zero(echo_url):
    data = httpx.post(f"{echo_url}/verify", json=verify_body("beta")).json()
    assert (data["reward"], data["mask_sample"]) == (0.0, False)


def test_malformed_json_is_422_naming_the_body(echo_url):
    for path in ("/verify", "/aggregate_metrics", "/seed_session", "/close_session"):
        reply = httpx.post(
            f"{echo_url}{path}",
            content=b'{"response": ',
            headers={"content-type": "application/json"},
        )
        assert reply.status_code == 422, path
        detail = reply.json()["detail"][0]
        assert detail["type"] == "json_invalid"
        assert detail["msg"].startswith("body: malformed JSON")


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b.update(response={"output": "alpha"}), "response.output"),
        (lambda b: b.update(response=42), "response"),
        (lambda b: b.update(response={"id": "x"}), "response"),
        (lambda b: b.update(responses_create_params=["x"]), "responses_create_params"),
        (lambda b: b["response"]["output"].__setitem__(1, "msg"), "response.output[1]"),
        (
            lambda b: b["response"]["output"][1]["content"][0].update(text=5),
            "response.output[1].content[0].text",
        ),
        (
            lambda b: b.update(response={"choices": [{"message": {"content": 3}}]}),
            "response.choices[0].message.content",
        ),
        (  # 0 and "" were read as an empty message
            lambda b: b.update(response={"choices": [{"message": 0}]}),
            "response.choices[0].message",
        ),
        (
            lambda b: b["response"]["output"][1]["content"][0].update(type=["output_text"]),
            "response.output[1].content[0].type",
        ),
        (
            lambda b: b.update(
                response={"choices": [{"message": {"content": [{"type": {"a": 1}, "text": "a"}]}}]}
            ),
            "response.choices[0].message.content[0].type",
        ),
        (lambda b: b.pop("response"), "response"),
        (lambda b: b.update(self=1), "self"),
        (lambda b: b.update(response="x", self=1), "self"),
        (lambda b: b.update(response="x", metadata={"self": 1}), "metadata.self"),
        (lambda b: b.update(response="x", metadata=[1]), "metadata"),
    ],
)
def test_wrong_types_are_422_naming_the_field(echo_url, mutate, field):
    body = verify_body("alpha")
    mutate(body)
    reply = httpx.post(f"{echo_url}/verify", json=body)
    assert reply.status_code == 422
    detail = reply.json()["detail"][0]
    assert detail["msg"].split(": ", 1)[0] == field
    assert detail["loc"][0] == "body"


def test_non_object_body_is_422(echo_url):
    for body in ([1, 2], "text", 3, None):
        reply = httpx.post(f"{echo_url}/verify", content=json.dumps(body).encode())
        assert reply.status_code == 422
        assert reply.json()["detail"][0]["msg"].startswith("body: expected a JSON object")


@pytest.mark.parametrize("harness", [RaisingHarness(), WrongResultHarness()])
def test_raising_harness_gives_masked_200_never_500(live_server, harness):
    url = live_server(harness)
    reply = httpx.post(f"{url}/verify", json=verify_body("alpha"))
    assert reply.status_code == 200
    data = reply.json()
    assert data["reward"] == 0.0
    assert data["mask_sample"] is True
    assert data["failure_kind"] == "verifier_error"
    assert data["failure_reason"]
    assert data["expected_answer"] == "alpha"


def test_nan_in_request_does_not_break_the_response(echo_url):
    raw = json.dumps(verify_body("alpha")).replace('"temperature": 1.0', '"temperature": NaN')
    reply = httpx.post(f"{echo_url}/verify", content=raw.encode())
    assert reply.status_code == 200
    data = reply.json()  # valid JSON: the NaN came back as null
    assert data["response"]["temperature"] is None
    assert data["reward"] == 1.0


def test_legacy_seed_session_answers_empty_and_ignores_a_rows_idx(echo_url):
    """NeMo Gym's agent forwards the whole dataset row: its ``idx`` is just a row field."""
    assert httpx.post(f"{echo_url}/seed_session", json={}).json() == {}
    assert httpx.post(f"{echo_url}/seed_session", content=b"").json() == {}
    assert httpx.post(f"{echo_url}/seed_session", json={"anything": [1]}).json() == {}
    for idx in (1, 3, -1, "1", True, 10**40):
        reply = httpx.post(f"{echo_url}/seed_session", json={"idx": idx, "question": "q"})
        assert (reply.status_code, reply.json()) == (200, {}), idx
    echoed = httpx.post(f"{echo_url}/seed_session", json={"resources_session_id": "s-1"})
    assert echoed.json() == {"resources_session_id": "s-1"}


def test_dataset_rows_are_served_by_index(echo_url):
    row = httpx.get(f"{echo_url}/dataset/1").json()
    assert row["expected_answer"] == "beta"
    assert row["responses_create_params"]["input"][0]["content"] == "Say beta"
    for index in ("3", "-1", "x", "9" * 40):
        reply = httpx.get(f"{echo_url}/dataset/{index}")
        assert reply.status_code == 404
        assert "rows 0..2" in reply.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"resources_session_id": 5}, "resources_session_id"),
        ({"resources_session_id": ""}, "resources_session_id"),
        ([1], "body"),
    ],
)
def test_seed_session_bad_input_is_422(echo_url, body, field):
    reply = httpx.post(f"{echo_url}/seed_session", json=body)
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["msg"].split(": ", 1)[0] == field


def test_close_session_and_static_routes(echo_url):
    assert httpx.post(f"{echo_url}/close_session", json={}).json() == {}
    closed = httpx.post(f"{echo_url}/close_session", json={"resources_session_id": "s-1"})
    assert closed.json() == {"resources_session_id": "s-1"}
    assert httpx.get(f"{echo_url}/reverify_mode").json() == "stateless"
    assert httpx.get(f"{echo_url}/dataset_size").json() == {"dataset_size": 3}
    for path in HEALTH_PATHS:
        reply = httpx.get(f"{echo_url}{path}")
        assert (reply.status_code, reply.json()) == (200, {"status": "ok"}), path


def test_aggregate_metrics_with_repeated_tasks(echo_url):
    rewards = {0: [1.0, 0.0, 0.0], 1: [0.0, 0.0, 0.0], 2: [1.0, 1.0, 1.0]}
    responses = [
        {"_ng_task_index": t, "_ng_rollout_index": r, "reward": value, "response": {}}
        for t, values in rewards.items()
        for r, value in enumerate(values)
    ]
    responses.append({"_ng_task_index": 1, "reward": 1.0, "mask_sample": True})
    reply = httpx.post(f"{echo_url}/aggregate_metrics", json={"verify_responses": responses})
    assert reply.status_code == 200
    data = reply.json()
    agent = data["agent_metrics"]
    assert agent["mean/reward"] == pytest.approx(4 / 9)
    assert agent["coverage/measured_rollouts"] == 9
    assert agent["coverage/masked_rollouts"] == 1
    assert agent["pass@1/reward"] == pytest.approx(100 * 4 / 9)
    # task 0: 1 - C(2,2)/C(3,2) = 2/3; task 1: 0; task 2: 1
    assert agent["pass@2/reward"] == pytest.approx(100 * (2 / 3 + 0 + 1) / 3)
    assert agent["pass@3/reward"] == pytest.approx(100 * 2 / 3)
    assert data["key_metrics"]["mean/reward"] == pytest.approx(4 / 9)
    assert data["key_metrics"]["pass@3/reward"] == pytest.approx(100 * 2 / 3)
    groups = {g["_ng_task_index"]: g for g in data["group_level_metrics"]}
    assert groups[2]["mean/reward"] == 1.0
    assert groups[0]["num_rollouts"] == 3
    repeats = data["repeat_level_metrics"]
    assert [r["_ng_rollout_index"] for r in repeats] == [0, 1, 2]
    assert repeats[0]["mean/reward"] == pytest.approx(2 / 3)


def test_aggregate_metrics_without_repeats_has_no_repeat_levels(echo_url):
    body = {"verify_responses": [{"reward": 1.0}, {"reward": 0.0, "_ng_task_index": 1}]}
    data = httpx.post(f"{echo_url}/aggregate_metrics", json=body).json()
    assert data["agent_metrics"]["mean/reward"] == 0.5
    assert data["agent_metrics"]["num_repeats"] == 1
    assert not [k for k in data["agent_metrics"] if "_across_repeats/" in k]
    assert data["repeat_level_metrics"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "verify_responses"),
        ({"verify_responses": {"reward": 1}}, "verify_responses"),
        ({"verify_responses": [1]}, "verify_responses[0]"),
        ({"verify_responses": [{"reward": "1"}]}, "verify_responses[0].reward"),
        ({"verify_responses": [{"reward": 1}, {}]}, "verify_responses[1].reward"),
        ({"verify_responses": [{"reward": True}]}, "verify_responses[0].reward"),
    ],
)
def test_aggregate_metrics_bad_input_is_422(echo_url, body, field):
    reply = httpx.post(f"{echo_url}/aggregate_metrics", json=body)
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["msg"].split(": ", 1)[0] == field


def test_token_is_required_except_for_health(live_server):
    url = live_server(EchoHarness(), token="s3cr3t-token")
    body = verify_body("alpha")
    assert httpx.post(f"{url}/verify", json=body).status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert httpx.post(f"{url}/verify", json=body, headers=wrong).status_code == 401
    assert httpx.get(f"{url}/dataset_size").status_code == 401
    good = {"Authorization": "Bearer s3cr3t-token"}
    reply = httpx.post(f"{url}/verify", json=body, headers=good)
    assert (reply.status_code, reply.json()["reward"]) == (200, 1.0)
    assert httpx.get(f"{url}/health").json() == {"status": "ok"}
    assert "s3cr3t-token" not in httpx.post(f"{url}/verify", json=body).text


def test_the_bearer_scheme_is_case_insensitive_and_the_token_exact(live_server):
    url = live_server(EchoHarness(), token="s3cr3t-token")
    for header in ("bearer s3cr3t-token", "BEARER s3cr3t-token", "Bearer  s3cr3t-token"):
        reply = httpx.get(f"{url}/dataset_size", headers={"Authorization": header})
        assert reply.status_code == 200, header
    for header in ("bearer S3CR3T-TOKEN", "Basic s3cr3t-token", "Bearers3cr3t-token", "bearer"):
        reply = httpx.get(f"{url}/dataset_size", headers={"Authorization": header})
        assert reply.status_code == 401, header


class EmptyHarness(EchoHarness):
    def get_dataset(self) -> list[dict]:
        return []


def test_a_row_of_an_empty_dataset_is_a_404_saying_it_is_empty(live_server):
    url = live_server(EmptyHarness())
    reply = httpx.get(f"{url}/dataset/0")
    assert reply.status_code == 404
    assert reply.json() == {"detail": "no row '0': the dataset is empty"}


def test_bundled_harnesses_over_http(live_server):
    url = live_server(ArithmeticHarness(size=5))
    row = httpx.get(f"{url}/dataset/0").json()
    answer = row["expected_answer"]
    body = {**row, "response": responses_object(f"Working... 1 + 1 = 2, so {answer}")}
    assert httpx.post(f"{url}/verify", json=body).json()["reward"] == 1.0
    body["response"] = responses_object(f"{answer} is wrong; it is {int(answer) + 1}")
    assert httpx.post(f"{url}/verify", json=body).json()["reward"] == 0.0

    url = live_server(MCQAHarness())
    row = httpx.get(f"{url}/dataset/0").json()
    body = {**row, "response": responses_object("Mercury orbits closest.\n\nAnswer: B")}
    data = httpx.post(f"{url}/verify", json=body).json()
    assert (data["reward"], data["extracted_answer"]) == (1.0, "B")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
verify_keys = st.sampled_from(
    [
        "response",
        "responses_create_params",
        "expected_answer",
        "expected",
        "metadata",
        "idx",
        "verify_responses",
        "resources_session_id",
        "output",
        "choices",
        "reward",
    ]
)
bodies = st.dictionaries(verify_keys, json_values, max_size=4) | json_values


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    path=st.sampled_from(["/verify", "/seed_session", "/close_session", "/aggregate_metrics"]),
)
def test_no_client_input_gives_a_5xx(echo_client, body, path):
    reply = echo_client.post(path, content=json.dumps(body).encode())
    assert reply.status_code < 500
    assert reply.status_code in (200, 409, 422)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(response=json_values)
def test_any_response_shape_gives_200_or_422(echo_client, response):
    body = copy.deepcopy(verify_body("alpha"))
    body["response"] = response
    reply = echo_client.post("/verify", content=json.dumps(body).encode())
    assert reply.status_code in (200, 422)


finite_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
RESULT_KEYS = [
    "reward",
    "expected_answer",
    "extracted_answer",
    "mask_sample",
    "failure_kind",
    "failure_reason",
    "verify_details",
]


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    extras=st.dictionaries(st.sampled_from([*RESULT_KEYS, "x", "ÿ-ünïcode"]), finite_values),
    expected=st.sampled_from(["alpha", "beta", 1, None]),
)
def test_verify_reply_is_exactly_the_request_updated_with_the_result(echo_client, extras, expected):
    body = {**verify_body("alpha"), **extras, "expected_answer": expected}
    reply = echo_client.post("/verify", json=body)
    assert reply.status_code == 200
    data = reply.json()
    result = {
        "reward": 1.0 if expected == "alpha" else 0.0,
        "expected_answer": expected,
        "extracted_answer": "alpha",
        "mask_sample": False,
        "failure_kind": None,
        "failure_reason": None,
        "verify_details": data["verify_details"],
    }
    merged = {**body, **result}
    assert data == merged
    assert list(data) == list(merged)  # same key order as a dict update
