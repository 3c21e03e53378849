"""The bundled ``mcqa`` and ``arithmetic`` harnesses, checked against real NeMo Gym payloads."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest

from tunegym.errors import UsageError
from tunegym.harness.base import load_harness
from tunegym.harness.bundled.arithmetic import ArithmeticHarness, last_number
from tunegym.harness.bundled.mcqa import MCQAHarness, bundled_rows, extract_letter

OPTIONS = [{"A": "Venus"}, {"B": "Mercury"}, {"C": "Mars"}, {"D": "Earth"}]


def verify_request(rollout: dict, row: dict) -> dict:
    """A /verify request as NeMo Gym's agent sends it: the row, plus the rollout's response."""
    finished = {k: v for k, v in rollout.items() if k not in ("reward", "extracted_answer")}
    return {**row, **finished}


def rows_by_prompt(rows: list[dict]) -> dict[str, dict]:
    return {r["responses_create_params"]["input"][0]["content"]: r for r in rows}


def test_mcqa_grades_nemo_gym_rollouts_as_nemo_gym_0_7_does(live_server, nemo_rows, nemo_rollouts):
    """The rollouts were recorded by an older NeMo Gym, which read only a box holding a lone
    letter; 0.7.0 also reads ``\\boxed{C: text}`` (the third one). The interop suite checks
    these answers against NeMo Gym 0.7.0's own server."""
    url = live_server(MCQAHarness())
    rows = rows_by_prompt(nemo_rows)
    assert [(r["reward"], r["extracted_answer"]) for r in nemo_rollouts] == [
        (0.0, "H"),
        (1.0, "E"),
        (0.0, None),
        (1.0, "E"),
        (1.0, "B"),
    ]
    answers = []
    for rollout in nemo_rollouts:
        row = rows[rollout["responses_create_params"]["input"][0]["content"]]
        reply = httpx.post(f"{url}/verify", json=verify_request(rollout, row))
        assert reply.status_code == 200
        data = reply.json()
        assert data["expected_answer"] == rollout["expected_answer"]
        assert data["response"] == rollout["response"]
        answers.append((data["reward"], data["extracted_answer"]))
    assert answers == [(0.0, "H"), (1.0, "E"), (1.0, "C"), (1.0, "E"), (1.0, "B")]


def test_a_row_without_options_allows_no_letter(nemo_rollouts):
    """NeMo Gym 0.7.0: the allowed letters are the row's option keys; none, no answer."""
    rollout = next(r for r in nemo_rollouts if r["extracted_answer"] == "E")
    text = rollout["response"]["output"][-1]["content"][0]["text"]
    assert extract_letter(text, [*OPTIONS, {"E": "Jupiter"}]) == "E"
    assert extract_letter(text, None) is None
    assert extract_letter(text, OPTIONS) is None  # E is not one of these options


def run(harness: MCQAHarness, text: str, **row) -> tuple[float, str | None, str]:
    result = asyncio.run(harness.verify(text, row.pop("expected_answer", "B"), **row))
    return result.reward, result.extracted_answer, result.expected_answer


def test_the_harness_mode_wins_over_the_row_mode():
    text = "I think the answer is B.\n\nAnswer: B"
    row = {"options": OPTIONS, "grading_mode": "strict_single_letter_boxed"}
    assert run(MCQAHarness(), text, **row)[:2] == (0.0, None)
    assert run(MCQAHarness("lenient_answer_colon"), text, **row)[:2] == (1.0, "B")
    row["grading_mode"] = "lenient_answer_colon"
    assert run(MCQAHarness(), text, **row)[:2] == (1.0, "B")


def test_a_row_without_grading_mode_is_graded_strict_boxed():
    assert run(MCQAHarness(), "Answer: B", options=OPTIONS)[:2] == (0.0, None)
    assert run(MCQAHarness(), "\\boxed{B}", options=OPTIONS)[:2] == (1.0, "B")


def test_expected_answer_comes_back_normalised():
    assert run(MCQAHarness(), "\\boxed{B}", options=OPTIONS, expected_answer=" b ") == (
        1.0,
        "B",
        "B",
    )
    assert run(MCQAHarness(), "\\boxed{B}", options=OPTIONS, expected_answer=None)[2] == ""


def test_an_option_with_null_text_is_no_choice():
    options = [{"A": "Venus"}, {"B": None}]
    assert run(MCQAHarness(), "\\boxed{B}", options=options)[:2] == (0.0, None)


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"grading_mode": "vibes"}, "grading_mode"),
        ({"grading_mode": "lenient_answer_colon_md"}, "grading_mode"),  # server-level only
        ({"options": {"A": "x"}}, "options"),
        ({"options": ["A"]}, "options[0]"),
        ({"options": [{"A": 3}]}, "options[0].A"),
        ({"expected_answer": 3}, "expected_answer"),
        ({"template_metadata": "x"}, "template_metadata"),
        ({"template_metadata": {"output_regex": 5}}, "template_metadata.output_regex"),
    ],
)
def test_a_row_field_of_the_wrong_type_is_a_422_naming_it(live_server, row, field):
    url = live_server(MCQAHarness())
    body = {"response": "\\boxed{B}", "expected": "B", "metadata": {"options": OPTIONS, **row}}
    if "expected_answer" in row:
        body = {"response": "\\boxed{B}", **row}
    reply = httpx.post(f"{url}/verify", json=body)
    assert reply.status_code == 422, reply.text
    assert reply.json()["detail"][0]["msg"].split(": ", 1)[0] == field


@pytest.mark.parametrize("prefix", [5, ["Final:"], {"a": 1}])
def test_an_answer_prefix_that_is_not_a_string_is_a_422_naming_it(live_server, prefix):
    url = live_server(MCQAHarness("lenient_answer_colon_md"))
    metadata = {"options": OPTIONS, "template_metadata": {"answer_prefix": prefix}}
    body = {"response": "Answer: B", "expected": "B", "metadata": metadata}
    reply = httpx.post(f"{url}/verify", json=body)
    assert reply.status_code == 422, reply.text
    msg = reply.json()["detail"][0]["msg"]
    assert msg == "template_metadata.answer_prefix: expected a string or null"
    metadata["template_metadata"]["answer_prefix"] = "Final:"
    reply = httpx.post(f"{url}/verify", json={**body, "response": "Final: B"})
    assert reply.status_code == 200 and reply.json()["reward"] == 1.0


def test_lenient_answer_colon_md_is_a_harness_mode():
    harness = MCQAHarness("lenient_answer_colon_md")
    assert run(harness, "Reasoning.\n\n**Answer: C**", options=OPTIONS, expected_answer="C")[0]
    assert run(harness, "Answer: B/C", options=OPTIONS)[:2] == (0.0, None)  # a list


def test_template_regex_comes_first():
    row = {"options": OPTIONS, "template_metadata": {"output_regex": r"Final Choice:\s*([A-D])"}}
    assert run(MCQAHarness(), "Final Choice: B", **row)[:2] == (1.0, "B")
    row["template_metadata"]["output_regex"] = "(unclosed"
    assert run(MCQAHarness(), "\\boxed{B}", **row)[:2] == (1.0, "B")  # falls back


def test_tunegyms_lenient_mode_reads_a_bare_letter():
    harness = MCQAHarness("lenient")
    assert run(harness, "B", options=OPTIONS)[:2] == (1.0, "B")
    assert run(harness, "the answer is (B).", options=OPTIONS)[:2] == (1.0, "B")
    assert run(MCQAHarness(), "B", options=OPTIONS)[:2] == (0.0, None)


def test_mcqa_bundled_dataset_is_well_formed():
    rows = bundled_rows()
    assert len(rows) >= 10
    for row in rows:
        assert row["expected_answer"] in {k for option in row["options"] for k in option}
        assert row["responses_create_params"]["input"][0]["role"] == "user"
    harness = MCQAHarness()  # the rows ask for "Answer: X" and say so in grading_mode
    correct = asyncio.run(
        harness.verify("Answer: " + rows[0]["expected_answer"], **_fields(rows[0]))
    )
    assert correct.reward == 1.0
    assert {row["grading_mode"] for row in rows} == {"lenient_answer_colon"}


def _fields(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "responses_create_params"}


def test_mcqa_rejects_unknown_default_mode():
    with pytest.raises(UsageError, match="grading_mode"):
        MCQAHarness(grading_mode="vibes")


def test_arithmetic_dataset_is_deterministic_and_correct():
    rows = ArithmeticHarness(size=30, seed=7).get_dataset()
    assert rows == ArithmeticHarness(size=30, seed=7).get_dataset()
    assert rows != ArithmeticHarness(size=30, seed=8).get_dataset()
    for row in rows:
        a, op, b = row["question"].removeprefix("What is ").removesuffix("?").split()
        expected = {"+": int(a) + int(b), "-": int(a) - int(b), "*": int(a) * int(b)}[op]
        assert row["expected_answer"] == str(expected)


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("7 + 5 = 12", "12"),
        ("The result is -41.", "-41"),
        ("3-5", "5"),
        ("about 1,234 apples", "1234"),
        ("x = 12.0", "12.0"),
        ("none", None),
    ],
)
def test_last_number(text, number):
    assert last_number(text) == number


@pytest.mark.parametrize(
    ("text", "reward"),
    [("12", 1.0), ("it's 12.0", 1.0), ("12 or 13", 0.0), ("twelve", 0.0), ("-12", 0.0)],
)
def test_arithmetic_reward_uses_the_last_number(text, reward):
    result = asyncio.run(ArithmeticHarness().verify(text, "12"))
    assert result.reward == reward


def test_load_harness_resolves_bundled_names_and_reports_bad_paths():
    assert isinstance(load_harness("arithmetic", {"size": 3}), ArithmeticHarness)
    assert load_harness("tunegym.harness.bundled.mcqa:MCQAHarness").name == "mcqa"
    with pytest.raises(UsageError, match="cannot import module 'no_such_module'"):
        load_harness("no_such_module:X")
    with pytest.raises(UsageError, match="has no attribute 'Nope'"):
        load_harness("tunegym.harness.bundled.mcqa:Nope")
    with pytest.raises(UsageError, match="not a GymHarness"):
        load_harness("tunegym.harness.bundled.mcqa:bundled_rows")
    with pytest.raises(UsageError, match=r"cannot construct with kwargs \(colour\)"):
        load_harness("arithmetic", {"colour": "red"})
    with pytest.raises(UsageError, match=r"expected .package\.module:Class."):
        load_harness("justaname")


def test_mcqa_dataset_path_errors_name_the_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    row = bundled_rows()[0]
    path.write_text(json.dumps(row) + "\n\n" + json.dumps(row) + "\n")
    assert MCQAHarness(dataset_path=str(path)).get_dataset() == [row, row]
    path.write_text(json.dumps(row) + "\n{not json\n")
    with pytest.raises(UsageError, match=r"rows\.jsonl:2: not valid JSON"):
        MCQAHarness(dataset_path=str(path)).get_dataset()
    path.write_text("[1, 2]\n")
    with pytest.raises(UsageError, match=r"rows\.jsonl:1: expected a JSON object"):
        MCQAHarness(dataset_path=str(path)).get_dataset()


@pytest.mark.parametrize(
    ("kwargs", "said"),
    [
        ({"max_operand": -1}, "max_operand must be >= 0, got -1"),
        ({"max_operand": "x"}, "max_operand must be an integer, got 'x'"),
        ({"max_operand": 1.5}, "max_operand must be an integer, got 1.5"),
        ({"seed": "s"}, "seed must be an integer, got 's'"),
        ({"ops": 5}, "ops must be made of"),
    ],
)
def test_arithmetic_settings_that_cannot_work_are_refused(kwargs, said):
    """Each was a traceback when the dataset was drawn (random.randint(0, 'x'))."""
    with pytest.raises(UsageError, match=f"arithmetic: {said}"):
        ArithmeticHarness(**kwargs)


@pytest.mark.parametrize("kind", ["fifo", "binary", "log-level"])
def test_serve_refuses_a_kwargs_file_or_log_level_it_cannot_use(tmp_path, capsys, kind):
    """A FIFO kwargs file hung ``serve``, a binary one was a traceback, and a bogus log
    level printed the URL as if serving, then failed with a KeyError."""
    import os

    from tunegym.cli.main import main

    path = tmp_path / "kwargs.json"
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.write_bytes(b"\xff\xfe\x00binary")
    extra = ["--log-level", "bogus"] if kind == "log-level" else ["--kwargs-file", str(path)]
    try:
        code = main(["harness", "serve", "arithmetic", "--port", "0", *extra])
    except SystemExit as exc:  # argparse's choices
        code = int(exc.code or 0)
    err = capsys.readouterr()
    assert code == 2 and "http://" not in err.out
    said = {
        "fifo": f"--kwargs-file {path}: is not a regular file",
        "binary": f"--kwargs-file {path}: not UTF-8 text (byte 0xff at offset 0)",
        "log-level": "argument --log-level: invalid choice: 'bogus'",
    }[kind]
    assert said in err.err
