"""NeMo Gym's agent and environment server running episodes against tunegym's mcqa.

The policy is the fake model replaying the five shared rollouts' recorded responses; the
same rows go through a ``simple_agent`` in front of NeMo Gym's own mcqa server, and both
must give the same rewards and extracted answers.
"""

from __future__ import annotations

from typing import Any

import pytest
from interop_helpers import differences
from nemo_gym.base_environment_server import BaseEnvironmentServer  # noqa: F401 (import check)
from nemo_gym.config_types import AggregateMetrics
from nemo_gym.episode_types import EpisodeId, MaterializedTask, TaskId
from nemo_gym.server_utils import get_response_json, raise_for_status
from nemo_gym.single_agent_turn_types import (
    SingleAgentTurnRequest,
    SingleAgentTurnResponse,
    SingleAgentTurnTaskInput,
)
from responses_api_agents.simple_agent.app import SimpleAgentVerifyResponse

# NeMo Gym 0.7.0's grading of the five recorded rollouts (the third is read from a
# ``\boxed{C: ...}`` label, which the release that recorded them did not read).
EXPECTED = [(0.0, "H"), (1.0, "E"), (1.0, "C"), (1.0, "E"), (1.0, "B")]


async def run_legacy(client: Any, agent: str, row: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(server_name=agent, url_path="/run", json=row)
    await raise_for_status(response)
    return await get_response_json(response)


def test_legacy_run_through_simple_agent_matches_nemo_gyms_mcqa(stack):
    client = stack.client()
    ours, theirs = [], []
    for row, _ in stack.pairs:
        for agent, results in (("tunegym_agent", ours), ("nemo_agent", theirs)):
            data = stack.run(run_legacy(client, agent, row))
            result = SimpleAgentVerifyResponse.model_validate(data)
            results.append((result.reward, data["extracted_answer"], data["expected_answer"]))
    assert [(r, a) for r, a, _ in ours] == EXPECTED
    assert ours == theirs


def test_a_rows_own_idx_does_not_fail_the_rollout(stack):
    """The agent forwards the whole row to /seed_session; an idx field is just data."""
    client = stack.client()
    row = {**stack.pairs[1][0], "idx": 1_000_000}
    data = stack.run(run_legacy(client, "tunegym_agent", row))
    assert (data["reward"], data["extracted_answer"]) == EXPECTED[1]


def episode(row: dict[str, Any], number: int) -> SingleAgentTurnRequest:
    task_data = {k: v for k, v in row.items() if k != "responses_create_params"}
    return SingleAgentTurnRequest(
        episode_id=EpisodeId(rollout_id=f"episode-{number:04d}"),
        task=MaterializedTask(
            task_id=TaskId(taskset="mcqa:example", task_id=str(number)),
            task_input=SingleAgentTurnTaskInput(
                responses_create_params=row["responses_create_params"], task_data=task_data
            ),
        ),
    )


async def run_episode(client: Any, request: SingleAgentTurnRequest) -> SingleAgentTurnResponse:
    response = await client.post(
        server_name="tunegym_env", url_path="/run", json=request.model_dump(mode="json")
    )
    await raise_for_status(response)
    return SingleAgentTurnResponse.model_validate(await get_response_json(response))


def test_single_agent_turn_environment_runs_episodes_with_sessions(stack):
    """0.7.0's environment server seeds a typed session and needs its cookie back."""
    client = stack.client()
    answers = []
    for number, (row, _) in enumerate(stack.pairs):
        reply = stack.run(run_episode(client, episode(row, number)))
        assert reply.failure is None, reply.failure
        answers.append((reply.result.reward, reply.result.model_dump()["extracted_answer"]))
    assert answers == EXPECTED
    model_paths = [r["path"] for r in stack.model_app.state.requests]
    assert "/ng-rollout/episode-0000/v1/responses" in model_paths


def test_aggregate_metrics_of_collected_rollouts_match_nemo_gyms(stack):
    """Verify the five rows four times each on each mcqa server, then aggregate the results
    through NeMo Gym's own proxies (the environment server and the agent): same answers."""
    client = stack.client()

    async def collect(server: str) -> list[dict[str, Any]]:
        out = []
        for task, (row, rollout) in enumerate(stack.pairs):
            for repeat in range(4):
                body = {**row, "response": rollout["response"]}
                response = await client.post(server_name=server, url_path="/verify", json=body)
                await raise_for_status(response)
                data = await get_response_json(response)
                data.update(_ng_task_index=task, _ng_rollout_index=repeat)
                data["mask_sample"] = task == 0 and repeat == 3
                out.append(data)
        return out

    async def aggregate(proxy: str, responses: list[dict[str, Any]]) -> AggregateMetrics:
        body = {"verify_responses": responses}
        response = await client.post(server_name=proxy, url_path="/aggregate_metrics", json=body)
        await raise_for_status(response)
        return AggregateMetrics.model_validate(await get_response_json(response))

    answers = {}
    for server, proxy in (("tunegym_mcqa", "tunegym_env"), ("nemo_mcqa", "nemo_agent")):
        responses = stack.run(collect(server))
        answers[server] = [(r["reward"], r["extracted_answer"]) for r in responses]
        metrics = stack.run(aggregate(proxy, responses))
        # task 0 is wrong (3 scored rollouts, one masked); tasks 1-4 are right (4 each)
        assert metrics.key_metrics["mean/reward"] == pytest.approx(16 / 19)
        assert metrics.key_metrics["pass@1/accuracy"] == pytest.approx(80.0)
        assert metrics.agent_metrics["coverage/masked_rollouts"] == 1
        answers[server + " metrics"] = metrics.model_dump(mode="json")
    assert answers["tunegym_mcqa"] == answers["nemo_mcqa"]
    ours, theirs = answers["tunegym_mcqa metrics"], answers["nemo_mcqa metrics"]
    assert differences(ours, theirs) == []
