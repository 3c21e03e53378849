"""Aggregate metrics in NeMo Gym's shape (the interop suite compares them with NeMo Gym's own)."""

from __future__ import annotations

import math
import statistics
import sys

import pytest

from tunegym.harness.bundled.mcqa import MCQAHarness
from tunegym.harness.metrics import aggregate_metrics, as_float, validate_verify_responses
from tunegym.harness.payload import PayloadError


def rollouts(rewards: dict[int, list[float]], **extra) -> list[dict]:
    return [
        {"_ng_task_index": t, "_ng_rollout_index": r, "reward": value, **extra}
        for t, values in rewards.items()
        for r, value in enumerate(values)
    ]


def test_agent_group_and_repeat_levels_have_nemo_gyms_names():
    responses = rollouts({0: [1.0, 0.0, 0.0], 1: [0.0, 0.0, 0.0], 2: [1.0, 1.0, 1.0]})
    data = aggregate_metrics(responses)
    agent = data["agent_metrics"]
    assert agent["mean/reward"] == pytest.approx(4 / 9)
    assert agent["std/reward"] == pytest.approx(statistics.stdev(r["reward"] for r in responses))
    assert agent["num_repeats"] == 3
    # per-repeat means are 2/3, 1/3, 1/3: their spread across repeats, with a t-interval
    assert agent["mean_across_repeats/mean/reward"] == pytest.approx(4 / 9)
    se = statistics.stdev([2 / 3, 1 / 3, 1 / 3]) / math.sqrt(3)
    assert agent["se_across_repeats/mean/reward"] == pytest.approx(se)
    t = 4.302652729911275  # t(0.975, df=2)
    assert agent["ci_low_95_across_repeats/mean/reward"] == pytest.approx(4 / 9 - t * se)
    assert agent["ci_high_95_across_repeats/mean/reward"] == pytest.approx(4 / 9 + t * se)
    groups = data["group_level_metrics"]
    assert [g["_ng_task_index"] for g in groups] == [0, 1, 2]
    assert groups[0]["num_rollouts"] == 3 and groups[2]["mean/reward"] == 1.0
    assert [i["rollout_id"] for i in groups[0]["rollout_infos"]] == ["0:0", "0:1", "0:2"]
    repeats = data["repeat_level_metrics"]
    assert [r["_ng_rollout_index"] for r in repeats] == [0, 1, 2]
    assert repeats[0]["mean/reward"] == pytest.approx(2 / 3)
    assert repeats[0]["sample_count"] == 3 and repeats[0]["missing_count"] == 0
    assert {"sem/reward", "p25/reward", "p75/reward", "ci_low_95/reward"} <= set(repeats[0])
    assert data["perf_summary"] is None


def test_default_harness_metrics_are_pass_at_k_of_reward_in_percent():
    from harness_testkit import EchoHarness

    harness = EchoHarness()
    responses = rollouts({0: [1.0, 0.0, 0.0], 1: [0.0, 0.0, 0.0], 2: [1.0, 1.0, 1.0]})
    data = aggregate_metrics(responses, harness.compute_metrics, harness.key_metrics)
    agent = data["agent_metrics"]
    assert agent["pass@1/reward"] == pytest.approx(100 * 4 / 9)
    # task 0: 1 - C(2,2)/C(3,2) = 2/3; task 1: 0; task 2: 1
    assert agent["pass@2/reward"] == pytest.approx(100 * (2 / 3 + 0 + 1) / 3)
    assert agent["pass@1[avg-of-2]/reward"] == pytest.approx(100 * (0.5 + 0 + 1) / 3)
    assert set(data["key_metrics"]) == {"mean/reward", "pass@3/reward", "pass@1[avg-of-3]/reward"}


def test_mcqa_metrics_are_nemo_gym_mcqas():
    harness = MCQAHarness()
    answers = {0: ["A", "B", None], 1: ["B", "B", "C"]}
    responses = [
        {
            "_ng_task_index": t,
            "_ng_rollout_index": r,
            "reward": float(answer == "B"),
            "extracted_answer": answer,
        }
        for t, row in answers.items()
        for r, answer in enumerate(row)
    ]
    data = aggregate_metrics(responses, harness.compute_metrics, harness.key_metrics)
    agent = data["agent_metrics"]
    assert agent["pass@1/accuracy"] == pytest.approx(100 * 3 / 6)
    assert agent["pass@3/no_answer"] == pytest.approx(50.0)  # task 0 has one None answer
    # majority of the first 3: task 0 ties A/B (scores 0, 1 -> 0.5); task 1 is B (1.0)
    assert agent["majority@3/accuracy"] == pytest.approx(100 * (0.5 + 1.0) / 2)
    assert agent["per_sample_aggregate"]["accuracy"] == [50.0, 100.0, 0.0]
    assert set(data["key_metrics"]) == {
        "mean/reward",
        "pass@1[avg-of-3]/accuracy",
        "pass@1[avg-of-3]/no_answer",
        "pass@3/no_answer",
        "majority@3/accuracy",
        "pass@1/accuracy",
    }


def test_tasks_are_grouped_by_prompt_without_task_indexes():
    prompt = lambda text: {"input": [{"role": "user", "content": text}]}  # noqa: E731
    responses = [
        {"responses_create_params": prompt("a"), "reward": 1.0},
        {"responses_create_params": prompt("a"), "reward": 0.0},
        {"responses_create_params": prompt("b"), "reward": 0.0},
        {"responses_create_params": prompt("b"), "reward": 0.0},
    ]
    data = aggregate_metrics(responses)
    assert [g["num_rollouts"] for g in data["group_level_metrics"]] == [2, 2]
    assert len(data["repeat_level_metrics"]) == 2


def test_usage_and_other_numeric_fields_are_summarised():
    responses = [
        {"reward": 1.0, "latency": 2.0, "ok": True, "response": {"usage": {"output_tokens": 10}}},
        {"reward": 0.0, "latency": 4.0, "ok": False, "response": {"usage": {"output_tokens": 30}}},
        {"reward": 0.5, "latency": 3.0, "_private": 9, "expected_answer": "7", "big": 10**400},
    ]
    agent = aggregate_metrics(responses)["agent_metrics"]
    assert agent["mean/latency"] == 3.0
    assert agent["max/output_tokens"] == 30.0
    assert agent["mean/ok"] == 0.5
    assert agent["std/reward"] == pytest.approx(0.5)
    assert not [k for k in agent if "expected_answer" in k or "_private" in k or "big" in k]


def test_masked_samples_are_counted_in_coverage_only():
    responses = rollouts({0: [1.0, 0.0], 1: [1.0]})
    responses.append(
        {"_ng_task_index": 2, "_ng_rollout_index": 0, "reward": 1.0, "mask_sample": True}
    )
    data = aggregate_metrics(responses)
    agent = data["agent_metrics"]
    assert agent["mean/reward"] == pytest.approx(2 / 3)
    assert agent["coverage/masked_rollouts"] == 1
    assert agent["coverage/fully_masked_tasks"] == 1
    assert data["key_metrics"]["coverage/measured_rollouts"] == 3
    everything_masked = aggregate_metrics([{"reward": 0.0, "mask_sample": True}])
    assert everything_masked["agent_metrics"] == everything_masked["key_metrics"]
    assert "mean/reward" not in everything_masked["agent_metrics"]


def test_rewards_near_the_float_limit_leave_out_what_overflows():
    data = aggregate_metrics([{"reward": 1e308}, {"reward": 1e308}, {"reward": -1e308}])
    agent = data["agent_metrics"]
    assert agent["mean/reward"] == pytest.approx(1e308 / 3)
    assert agent["max/reward"] == 1e308
    assert all(math.isfinite(v) for v in agent.values() if isinstance(v, float))


def test_perf_summary_comes_from_ng_perf():
    responses = [
        {
            "reward": 1.0,
            "ng_perf": {"completion_tokens": 10, "num_turns": 2, "total_latency_ms": 100},
        },
        {
            "reward": 0.0,
            "ng_perf": {"completion_tokens": 30, "num_turns": 1, "total_latency_ms": 300},
        },
        {"reward": 0.0},
    ]
    perf = aggregate_metrics(responses)["perf_summary"]
    assert perf["overall_observability_coverage"] == pytest.approx(2 / 3)
    assert perf["total_completion_tokens"] == 40
    assert perf["mean_tokens_per_turn"] == pytest.approx((5 + 30) / 2)
    assert perf["total_latency_p50_ms"] == 200


def test_empty_request_has_nemo_gyms_empty_answer():
    assert aggregate_metrics([]) == {
        "group_level_metrics": [],
        "agent_metrics": {},
        "key_metrics": {},
        "perf_summary": None,
        "repeat_level_metrics": [],
    }


@pytest.mark.parametrize("reward", [float("nan"), float("inf"), 10**400, True, "1", None])
def test_unusable_rewards_are_rejected_naming_the_item(reward):
    with pytest.raises(PayloadError, match=r"verify_responses\[1\]\.reward"):
        validate_verify_responses({"verify_responses": [{"reward": 1.0}, {"reward": reward}]})


def test_as_float_never_raises():
    assert as_float(10**400) is None
    assert as_float(-(10**308)) == -1e308
    assert as_float(True) == 1.0
    assert as_float("3") is None


def _calls(function, *args) -> int:
    """Python and C function calls made by ``function(*args)`` (deterministic, not timed)."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        function(*args)
    finally:
        sys.setprofile(None)
    return count


@pytest.mark.parametrize("harness", [None, MCQAHarness()])
def test_aggregation_work_is_linear_in_repeats_per_task(harness):
    """Doubling the repeats of one task doubles the work (the old code quadrupled it)."""

    def work(repeats: int) -> int:
        responses = rollouts({0: [float(r % 3 == 0) for r in range(repeats)]})
        for r in responses:
            r["extracted_answer"] = "A" if r["reward"] else None
        hooks = (harness.compute_metrics, harness.key_metrics) if harness else ()
        return _calls(aggregate_metrics, responses, *hooks)

    small, large = work(400), work(1600)
    assert large / small < 5  # linear: ~4; quadratic: ~16
