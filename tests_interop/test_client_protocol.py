"""NeMo Gym's own client code and request/response models against ``tunegym harness serve``."""

from __future__ import annotations

from typing import Any

import pytest
from interop_helpers import cookies_of, verify_body
from nemo_gym.base_resources_server import (
    BaseVerifyResponse,
    ResourcesCloseSessionRequest,
    ResourcesCloseSessionResponse,
    ResourcesSeedSessionRequest,
    ResourcesSeedSessionResponse,
)
from nemo_gym.config_types import AggregateMetrics
from nemo_gym.episode_types import EpisodeId, TaskId
from nemo_gym.rollout_correlation import rollout_context
from nemo_gym.server_status import StatusCommand
from nemo_gym.server_utils import ServerInstanceDisplayConfig, get_response_json, raise_for_status
from nemo_gym.testing.session_conformance import check_resources_session_contract
from resources_servers.mcqa.app import MCQAVerifyResponse

from tunegym.harness.base import load_harness
from tunegym.harness.server import create_app

TUNEGYM_SERVERS = ["tunegym_mcqa", "tunegym_arithmetic", "tunegym_context"]


async def post(client: Any, server: str, path: str, body: Any, cookies: Any = None):
    """POST through NeMo Gym's ServerClient; (json, cookies, status) of the answer."""
    response = await client.post(server_name=server, url_path=path, json=body, cookies=cookies)
    await raise_for_status(response)
    return await get_response_json(response), cookies_of(response), response


def typed_seed(session_id: str, row: dict[str, Any], rollout: str = "rollout-0001"):
    return ResourcesSeedSessionRequest(
        resources_session_id=session_id,
        episode_id=EpisodeId(rollout_id=rollout),
        task_id=TaskId(taskset="interop:example", task_id="0"),
        task_data=row,
    )


def a_row(stack, server: str) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"{stack.urls[server]}/dataset/0") as reply:
        import json

        return json.load(reply)


@pytest.mark.parametrize("server", TUNEGYM_SERVERS)
def test_readiness_by_nemo_gyms_own_checks(stack, server):
    client = stack.client()
    assert client.poll_for_status(server) == "success"  # what `ng_run` waits for
    display = ServerInstanceDisplayConfig(url=stack.urls[server])
    assert StatusCommand().check_health(display) == "success"  # what `gym env status` shows


def test_readiness_check_can_fail(stack):
    """The same checks against a port nobody serves (so the passing ones mean something)."""
    from nemo_stack import free_port

    assert (
        StatusCommand().check_health(
            ServerInstanceDisplayConfig(url=f"http://127.0.0.1:{free_port()}")
        )
        == "connection_error"
    )


@pytest.mark.parametrize("server", TUNEGYM_SERVERS)
def test_typed_seed_sets_the_session_cookie_verify_and_close(stack, server):
    client = stack.client()
    row = a_row(stack, server)
    seed = typed_seed(f"{server}-session-1", row)
    data, cookies, _ = stack.run(
        post(client, server, "/seed_session", seed.model_dump(mode="json"))
    )
    assert (
        ResourcesSeedSessionResponse.model_validate(data).resources_session_id
        == seed.resources_session_id
    )
    harness_class = {"tunegym_mcqa": "MCQAHarness", "tunegym_arithmetic": "ArithmeticHarness"}
    assert set(cookies) == {f"{harness_class.get(server, 'ContextHarness')}___{server}"}

    answer = {"tunegym_mcqa": "\\boxed{B}", "tunegym_arithmetic": row["expected_answer"]}
    from fake_model import response_object

    body = verify_body(row, response_object(answer.get(server, "yes")))
    verified, _, _ = stack.run(post(client, server, "/verify", body, cookies))
    model = MCQAVerifyResponse if server == "tunegym_mcqa" else BaseVerifyResponse
    result = model.model_validate(verified)
    assert result.mask_sample is False
    if server == "tunegym_context":
        assert verified["verify_details"]["session_id"] == seed.resources_session_id
        assert verified["verify_details"]["verifies"] == 1

    close = ResourcesCloseSessionRequest(
        resources_session_id=seed.resources_session_id, episode_id=seed.episode_id
    )
    closed, _, _ = stack.run(
        post(client, server, "/close_session", close.model_dump(mode="json"), cookies)
    )
    assert (
        ResourcesCloseSessionResponse.model_validate(closed).resources_session_id
        == seed.resources_session_id
    )
    if server == "tunegym_context":  # released: the cookie names no session any more
        again, _, _ = stack.run(post(client, server, "/verify", body, cookies))
        assert again["verify_details"]["session_id"] is None


def test_observability_paths_carry_the_rollout_id(stack):
    """With observability on, NeMo Gym's client prefixes every resources call."""
    client = stack.client(observability=True)
    row = a_row(stack, "tunegym_context")
    from fake_model import response_object

    body = verify_body(row, response_object("yes"), _ng_task_index=3, _ng_rollout_index=1)
    data, _, response = stack.run(post(client, "tunegym_context", "/verify", body))
    assert str(response.url).endswith("/ng-rollout/3-1/verify")
    assert data["verify_details"]["rollout_id"] == "3-1"

    async def whole_episode() -> dict[str, Any]:
        with rollout_context("rollout-0007"):
            seed = typed_seed("observed-session", row, "rollout-0007").model_dump(mode="json")
            _, cookies, seeded = await post(client, "tunegym_context", "/seed_session", seed)
            assert str(seeded.url).endswith("/ng-rollout/rollout-0007/seed_session")
            verified, _, _ = await post(client, "tunegym_context", "/verify", body, cookies)
            close = {"resources_session_id": "observed-session", "episode_id": seed["episode_id"]}
            await post(client, "tunegym_context", "/close_session", close, cookies)
            return verified

    details = stack.run(whole_episode())["verify_details"]
    assert details == {
        "rollout_id": "rollout-0007",
        "session_id": "observed-session",
        "verifies": 1,
    }
    for server in ("tunegym_mcqa", "nemo_mcqa"):  # the same prefixed call on both mcqa servers
        row, rollout = stack.pairs[0]
        body = verify_body(row, rollout["response"], _ng_task_index=0, _ng_rollout_index=0)
        data, _, response = stack.run(post(client, server, "/verify", body))
        assert str(response.url).endswith("/ng-rollout/0-0/verify")
        assert data["reward"] == 0.0


@pytest.mark.parametrize("path", ["mcqa", "arithmetic", "interop_harnesses:ContextHarness"])
def test_nemo_gyms_session_contract_check(stack, path):
    """NeMo Gym's own conformance check, on the app ``tunegym harness serve`` runs."""
    harness = load_harness(path)
    row = harness.get_dataset()[0]
    app = create_app(harness, server_name="conformance")
    check_resources_session_contract(app, typed_seed("contract-1", row), keeps_state=True)


def test_aggregate_metrics_validate_as_nemo_gyms_model(stack):
    client = stack.client()
    responses = [
        {"_ng_task_index": t, "_ng_rollout_index": r, "reward": float((t + r) % 2)}
        for t in range(3)
        for r in range(4)
    ]
    for server in TUNEGYM_SERVERS:
        data, _, _ = stack.run(
            post(client, server, "/aggregate_metrics", {"verify_responses": responses})
        )
        metrics = AggregateMetrics.model_validate(data)
        assert metrics.agent_metrics["mean/reward"] == pytest.approx(0.5)
        assert metrics.agent_metrics["num_repeats"] == 4
        assert "ci_low_95_across_repeats/mean/reward" in metrics.agent_metrics
