"""tunegym's mcqa and NeMo Gym's own mcqa server grade the same requests the same way.

Every case is sent over HTTP to both servers (through NeMo Gym's ServerClient) in the same
test; reward, extracted answer and expected answer must agree. Two server pairs: the
default (each row picks its mode) and one whose server-level mode is
``lenient_answer_colon`` (it must win over the row's).
"""

from __future__ import annotations

from typing import Any

import pytest
from fake_model import response_object
from interop_helpers import differences
from nemo_gym.server_utils import get_response_json

OPTIONS = [{"A": "Venus"}, {"B": "Mercury"}, {"C": "Mars"}, {"D": "Earth"}, {"E": "Jupiter"}]
PROMPT = {"input": [{"role": "user", "content": "Which planet is closest to the Sun?"}]}

BOXED_FORMS = [
    "\\boxed{B}",
    "Final: \\boxed{ [C] }",
    "\\boxed{(D)}",
    "\\boxed{\\text{E}}",
    "\\boxed{\\text{B: Mercury, the innermost planet}}",
    "\\[ \\boxed{E: \\text{Jupiter is the largest}} \\]",
    "\\boxed{C) Mars}",
    "Candidate \\boxed{C}, but on reflection \\boxed{B}",  # the last box wins
    "Thinking: \\boxed{\\text{some idea}}. Final answer: \\boxed{E}",
    "\\boxed{B",  # unbalanced
    "\\boxed{b}",  # lower case
    "\\boxed{F}",  # not an option
    "\\boxed{Mercury}",
    "\\boxed{\\text{Mars}}",
    "\\boxed{Venus or Earth}",
    "\\boxed{}",
    "The answer is B.",
    "Answer: B",
    "Answer: mercury",
    "answer : \\text{C}",
    "**Answer: C**",
    "Answer: E because D is wrong",
    "",
    "   ",
]
ROW_MODES = ["strict_single_letter_boxed", "lenient_boxed", "lenient_answer_colon", None]


def request(text: str, **row: Any) -> dict[str, Any]:
    body = {"responses_create_params": PROMPT, "response": response_object(text)}
    body.update({k: v for k, v in row.items() if v is not None})
    return body


async def verify_on(client: Any, server: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = await client.post(server_name=server, url_path="/verify", json=body)
    data = await get_response_json(response)
    if response.status != 200:
        return response.status, None
    return 200, (data["reward"], data["extracted_answer"], data["expected_answer"])


def both(stack, body: dict[str, Any], colon: bool = False) -> tuple[Any, Any]:
    client = stack.client()
    suffix = "_colon" if colon else ""

    async def run() -> tuple[Any, Any]:
        ours = await verify_on(client, f"tunegym_mcqa{suffix}", body)
        theirs = await verify_on(client, f"nemo_mcqa{suffix}", body)
        return ours, theirs

    return stack.run(run())


@pytest.mark.parametrize("mode", ROW_MODES)
@pytest.mark.parametrize("text", BOXED_FORMS)
def test_boxed_forms_and_row_modes(stack, text, mode):
    body = request(text, options=OPTIONS, expected_answer="B", grading_mode=mode)
    ours, theirs = both(stack, body)
    assert ours == theirs


@pytest.mark.parametrize(
    "options",
    [
        None,
        [],
        [{"A": "Venus"}, {"B": None}, {"C": "Mars"}],  # B has no text: not a choice
        [{"a": "Venus"}, {"b": "Mercury"}],  # lower-case keys
        [{"AB": "Venus"}, {"B": "Mercury"}],
        [{"A": "Venus", "B": "Mercury"}],  # two options in one object
    ],
    ids=["none", "empty", "null-text", "lower-keys", "long-key", "one-object"],
)
@pytest.mark.parametrize("text", ["\\boxed{B}", "\\boxed{Mercury}", "Answer: B", "Answer: Mercury"])
@pytest.mark.parametrize(
    "mode", ["strict_single_letter_boxed", "lenient_boxed", "lenient_answer_colon"]
)
def test_missing_and_odd_options(stack, options, text, mode):
    body = request(text, options=options, expected_answer="B", grading_mode=mode)
    ours, theirs = both(stack, body)
    assert ours == theirs


@pytest.mark.parametrize("mode", ROW_MODES)
@pytest.mark.parametrize("text", ["Answer: B", "\\boxed{B}", "Answer: Mercury", "B"])
def test_the_server_mode_wins_over_the_rows(stack, text, mode):
    body = request(text, options=OPTIONS, expected_answer="B", grading_mode=mode)
    ours, theirs = both(stack, body, colon=True)
    assert ours == theirs
    if text == "Answer: B":
        assert ours == (200, (1.0, "B", "B"))  # graded lenient_answer_colon whatever the row says


@pytest.mark.parametrize("expected", ["B", " b ", "", None, "Mercury"])
def test_expected_answer_is_normalised_alike(stack, expected):
    body = request("\\boxed{B}", options=OPTIONS, expected_answer=expected)
    ours, theirs = both(stack, body)
    assert ours == theirs


@pytest.mark.parametrize(
    "template",
    [
        {"output_regex": "Final Choice:\\s*([A-E])"},
        {"output_regex": ["(no match here)", "Final Choice:\\s*(\\w+)"]},
        {"output_regex": "(unclosed"},
        {"output_regex": "Choice:\\s*(.+)$"},
    ],
)
@pytest.mark.parametrize("text", ["Final Choice: B", "Final Choice: mercury", "\\boxed{C}"])
def test_template_regexes(stack, template, text):
    body = request(text, options=OPTIONS, expected_answer="B", template_metadata=template)
    ours, theirs = both(stack, body)
    assert ours == theirs


@pytest.mark.parametrize(
    "row",
    [
        {"grading_mode": "vibes"},
        {"grading_mode": "lenient_answer_colon_md"},
        {"options": {"A": "Venus"}},
        {"options": [{"A": 3}]},
        {"expected_answer": 3},
    ],
)
def test_bad_rows_are_refused_by_both(stack, row):
    body = request("\\boxed{B}", **{"options": OPTIONS, "expected_answer": "B", **row})
    ours, theirs = both(stack, body)
    assert (ours[0], theirs[0]) == (422, 422)


def test_the_five_shared_rollouts(stack):
    """The rows plus their recorded responses, verified directly on both servers."""
    for row, rollout in stack.pairs:
        ours, theirs = both(stack, {**row, "response": rollout["response"]})
        assert ours == theirs
        assert ours[1][2] == rollout["expected_answer"]


def test_aggregate_metrics_agree_with_repeats_masks_and_usage(stack):
    import random

    rng = random.Random(7)
    responses = []
    for task in range(4):
        for repeat in range(rng.randint(1, 6)):
            answer = rng.choice(["A", "B", None])
            response = {
                "_ng_task_index": task,
                "_ng_rollout_index": repeat,
                "reward": float(answer == "B"),
                "extracted_answer": answer,
                "expected_answer": "B",
                "response": {"usage": {"input_tokens": rng.randint(5, 50), "output_tokens": 9}},
            }
            if rng.random() < 0.15:
                response["mask_sample"] = True
            responses.append(response)
    client = stack.client()

    async def aggregate(server: str) -> dict[str, Any]:
        body = {"verify_responses": responses}
        response = await client.post(server_name=server, url_path="/aggregate_metrics", json=body)
        assert response.status == 200
        return await get_response_json(response)

    ours, theirs = stack.run(aggregate("tunegym_mcqa")), stack.run(aggregate("nemo_mcqa"))
    assert "ci_low_95_across_repeats/mean/reward" in theirs["agent_metrics"]
    assert differences(ours, theirs) == []
