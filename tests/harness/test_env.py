"""HarnessGymServer: a harness as a live GymServer (reset gives a prompt, step verifies)."""

from __future__ import annotations

import asyncio

import pytest
from harness_testkit import ROWS, EchoHarness, RaisingHarness

from tunegym.errors import UsageError
from tunegym.harness.bundled.arithmetic import ArithmeticHarness
from tunegym.harness.env import HarnessGymServer
from tunegym.harness.payload import PayloadError, parse_verify_body, row_fields


def test_reset_gives_the_next_prompt_and_step_returns_the_verify_reward():
    env = HarnessGymServer(EchoHarness())
    assert env.observation_space() == ["reward"]
    assert env.action_space() == {}  # free text: nothing to enumerate
    obs, info = env.reset()
    assert obs == {"reward": 0.0}
    assert (info["task_index"], info["prompt"]) == (0, "Say alpha")
    obs, reward, terminated, truncated, info = env.step({"response": "alpha"})
    assert (obs, reward, terminated, truncated) == ({"reward": 1.0}, 1.0, True, False)
    assert info["extracted_answer"] == "alpha" and info["expected_answer"] == "alpha"
    _, info = env.reset()
    assert info["prompt"] == "Say beta"
    assert env.step({"response": "alpha"})[1] == 0.0
    env.reset()
    _, info = env.reset()
    assert info["task_index"] == 0  # wraps around
    env.close()


def test_step_needs_an_active_task_and_text():
    env = HarnessGymServer(EchoHarness())
    with pytest.raises(UsageError, match="reset"):
        env.step({"response": "alpha"})
    env.reset()
    with pytest.raises(UsageError, match="response text"):
        env.step({"answer": "alpha"})
    env.step({"response": "alpha"})
    with pytest.raises(UsageError, match="reset"):
        env.step({"response": "alpha"})  # the episode ended


def test_seeded_reset_order_is_deterministic_and_index_picks_a_task():
    harness = ArithmeticHarness(size=20)
    first = HarnessGymServer(harness)
    second = HarnessGymServer(harness)
    order_a = [first.reset(seed=5 if i == 0 else None)[1]["task_index"] for i in range(20)]
    order_b = [second.reset(seed=5 if i == 0 else None)[1]["task_index"] for i in range(20)]
    assert order_a == order_b
    assert sorted(order_a) == list(range(20))
    assert order_a != list(range(20))
    _, info = first.reset(options={"index": 7})
    assert info["task_index"] == 7
    with pytest.raises(UsageError, match="outside"):
        first.reset(options={"index": 20})


def test_arithmetic_episode_with_the_right_answer():
    env = HarnessGymServer(ArithmeticHarness(size=3))
    _, info = env.reset(options={"index": 2})
    row = ArithmeticHarness(size=3).get_dataset()[2]
    assert info["prompt"] == row["responses_create_params"]["input"][0]["content"]
    _, reward, *_ = env.step({"response": f"So it is {row['expected_answer']}"})
    assert reward == 1.0


def test_choices_make_a_categorical_action_space_agents_can_play():
    assert HarnessGymServer(EchoHarness(), choices=["alpha", "beta"]).action_space() == {
        "response": ["alpha", "beta"]
    }
    # Built from a path, as a live workload's server_args do; tunegym's lenient mode scores
    # a bare letter (the bundled rows ask for "Answer: X", which a letter alone is not).
    env = HarnessGymServer("mcqa", harness_kwargs={"grading_mode": "lenient"})
    assert env.action_space() == {"response": ["A", "B", "C", "D"]}  # from the rows' options
    _, info = env.reset(options={"index": 0})  # expected answer B
    rewards = {}
    for letter in env.action_space()["response"]:
        env.reset(options={"index": info["task_index"]})
        rewards[letter] = env.step({"response": letter})[1]
    assert rewards == {"A": 0.0, "B": 1.0, "C": 0.0, "D": 0.0}


def test_raising_harness_gives_zero_reward_and_a_masked_info():
    env = HarnessGymServer(RaisingHarness())
    env.reset()
    _, reward, terminated, _, info = env.step({"response": "alpha"})
    assert (reward, terminated, info["mask_sample"]) == (0.0, True, True)
    assert "verifier exploded" in info["failure_reason"]


@pytest.mark.timeout(60)
def test_a_verify_that_never_finishes_is_a_masked_step_after_the_harness_limit():
    from harness_testkit import StuckHarness

    env = HarnessGymServer(StuckHarness(limit=0.3))
    env.reset(options={"index": 1})  # beta: never verified
    _, reward, terminated, _, info = env.step({"response": "beta"})
    assert (reward, terminated, info["mask_sample"]) == (0.0, True, True)
    assert info["failure_reason"].endswith("did not finish within 0.3 s")
    env.reset(options={"index": 0})
    assert env.step({"response": "alpha"})[1] == 1.0  # the env goes on


def test_step_works_inside_a_running_event_loop_and_astep_too():
    env = HarnessGymServer(EchoHarness())

    async def play():
        env.reset()
        sync_reward = env.step({"response": "alpha"})[1]
        env.reset()
        async_reward = (await env.astep({"response": "beta"}))[1]
        return sync_reward, async_reward

    assert asyncio.run(play()) == (1.0, 1.0)


def test_empty_dataset_is_rejected():
    class Empty(EchoHarness):
        def get_dataset(self):
            return []

    with pytest.raises(UsageError, match="empty dataset"):
        HarnessGymServer(Empty())


def test_built_from_server_args_by_path_with_kwargs():
    env = HarnessGymServer("arithmetic", harness_kwargs={"size": 4, "seed": 2})
    assert len(env.dataset) == 4
    assert env.dataset == ArithmeticHarness(size=4, seed=2).get_dataset()
    with pytest.raises(UsageError, match="harness_kwargs"):
        HarnessGymServer(EchoHarness(), harness_kwargs={"size": 1})


def test_action_space_is_valid_for_the_live_workload_loader():
    gym_server = pytest.importorskip("tunegym.gym.server")
    env = HarnessGymServer("mcqa")
    assert list(gym_server.read_action_space(env, "mcqa")) == ["response"]
    assert gym_server.read_observation_space(env, "mcqa") == ["reward"]


def test_in_process_verify_gets_the_same_row_fields_as_http():
    """Rows carrying reserved names (a collected rollout fed back as a dataset) pass the
    same fields to verify() in process as the HTTP server does."""

    class Rollouts(EchoHarness):
        def get_dataset(self):
            return [
                {
                    **row,
                    "reward": 0.0,
                    "response": {"output": []},
                    "mask_sample": False,
                    "response_text": "stale",
                }
                for row in ROWS
            ]

    harness = Rollouts()
    env = HarnessGymServer(harness)
    env.reset(options={"index": 0})
    _, reward, _, _, info = env.step({"response": "alpha"})
    row = harness.get_dataset()[0]
    over_http = parse_verify_body({**row, "response": "alpha"}).row_fields
    assert reward == 1.0
    assert info["verify_details"]["row_fields"] == sorted(row_fields(row)) == sorted(over_http)
    assert info["verify_details"]["row_fields"] == ["responses_create_params", "topic"]


def test_payload_errors_name_the_field_path_or_the_body():
    assert str(PayloadError(("response", "output", 0), "bad")) == "response.output[0]: bad"
    assert str(PayloadError((), "bad")) == "body: bad"
