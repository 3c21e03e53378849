"""NeMo Gym 0.7.0's mcqa extraction rules (the interop suite checks them against its server)."""

from __future__ import annotations

import pytest

from tunegym.harness.bundled import mcqa_grading as grading
from tunegym.harness.bundled.mcqa import extract_letter

OPTIONS = [{"A": "Venus"}, {"B": "Mercury"}, {"C": "Mars"}, {"D": "Earth"}, {"E": "Jupiter"}]
LETTERS = grading.allowed_letters(OPTIONS)


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("\\boxed{B}", "B"),
        ("Final: \\boxed{ [C] }", "C"),
        ("\\boxed{(D)}", "D"),
        ("\\boxed{\\text{E}}", "E"),
        ("\\boxed{\\text{B: Mercury, the innermost planet}}", "B"),
        ("\\[ \\boxed{E: \\text{Jupiter is the largest}} \\]", "E"),
        ("\\boxed{\nC: the red planet\n}", "C"),
        ("\\boxed{C) Mars}", "C"),
        ("Candidate \\boxed{C}, but on reflection \\boxed{B}", "B"),  # the last box
        ("Thinking: \\boxed{\\text{some idea}}. Final answer: \\boxed{E}", "E"),
        ("\\boxed{B", None),  # unbalanced
        ("\\boxed{b}", None),  # capitals only
        ("\\boxed{F}", None),  # not an option
        ("\\boxed{Mercury}", None),  # option text is lenient_boxed's business
        ("The answer is B.", None),
    ],
)
def test_strict_boxed(text, letter):
    assert grading.strict_boxed(text, LETTERS) == letter


def test_nested_braces_are_balanced():
    assert grading.last_boxed_content("x \\boxed{\\text{E} {y}} z") == "\\text{E} {y}"
    assert grading.last_boxed_content("no box") is None


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("\\boxed{\\text{Mars}}", "C"),
        ("\\boxed{mercury}", "B"),
        ("\\boxed{Venus or Earth}", None),  # two options: ambiguous
        ("Mercury", None),  # only inside a box
    ],
)
def test_lenient_boxed_matches_option_text_in_the_last_box(text, letter):
    assert extract_letter(text, OPTIONS, "lenient_boxed") == letter


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("Answer: B", "B"),
        ("answer : \\text{C}", "C"),
        ("Answer: mercury", "B"),
        ("Answer: B\nAnswer: C", "B"),  # the first one
        ("Answer: B because", None),
        ("Answer: F", None),
    ],
)
def test_lenient_answer_colon(text, letter):
    assert extract_letter(text, OPTIONS, "lenient_answer_colon") == letter


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("Reasoning here.\n\n**Answer: C**", "C"),
        ("__Answer__: A", "A"),
        ("Answer: B because C is not valid", "B"),
        ("Answer: B/B", "B"),
        ("Answer: A\nAnswer: B", "B"),  # the rightmost usable one
        ("Answer: B\nAnswer: unknown", "B"),
        ("Answer: A/B", None),  # a list is no answer
        ("Answer: A or B", None),
        ("Answer: Ｃ", "C"),  # noqa: RUF001 (full-width C, NFKC-normalised)
        ("the answer is (C).", None),
    ],
)
def test_lenient_answer_colon_md(text, letter):
    assert extract_letter(text, OPTIONS, "lenient_answer_colon_md") == letter


def test_answer_prefix_and_its_boxed_fallback():
    template = {"answer_prefix": "Final choice:"}
    assert extract_letter("Final choice: D", OPTIONS, "lenient_answer_colon_md", template) == "D"
    assert extract_letter("\\boxed{E}", OPTIONS, "lenient_answer_colon_md", template) == "E"
    assert extract_letter("\\boxed{E}", OPTIONS, "lenient_answer_colon_md") is None


def test_template_regex_is_tried_first_and_trusts_a_letter():
    template = {"output_regex": [r"(nomatch)", r"Choice:\s*(\w)"]}
    assert extract_letter("Choice: G \\boxed{B}", OPTIONS, template_metadata=template) == "G"
    assert (
        extract_letter("Choice: ب", OPTIONS, template_metadata={"output_regex": r"Choice:\s*(\S)"})
        == "B"
    )
    assert extract_letter("\\boxed{B}", OPTIONS, template_metadata={"output_regex": "("}) == "B"


def test_allowed_letters_come_from_options_with_text():
    assert grading.allowed_letters([{"a": "x"}, {"B": None}, {"CD": "y"}, {"1": "z"}]) == {"A"}
    assert grading.allowed_letters(None) == set()
    assert extract_letter("\\boxed{B}", None) is None


def test_empty_text_has_no_answer():
    assert extract_letter("   ", OPTIONS) is None


def test_unknown_mode_is_a_value_error():
    with pytest.raises(ValueError, match="unknown grading_mode"):
        extract_letter("B", OPTIONS, "vibes")


@pytest.mark.parametrize(
    ("text", "letter"),
    [("B", "B"), ("(B)", "B"), ("**B**", "B"), ("the answer is (B).", "B"), ("\\boxed{B: x}", "B")],
)
def test_tunegyms_lenient_mode(text, letter):
    assert extract_letter(text, OPTIONS, "lenient") == letter


def test_a_clients_backtracking_regex_is_passed_over_and_the_server_keeps_answering(
    live_server,
):
    # With re, "(a|aa)+$" against 80 a's and a "!" backtracks for longer than the age of
    # the universe, on the server's event loop: that verify, and every other request,
    # never answered. Now the pattern matches nothing within REGEX_BUDGET_S and the
    # mode's own rule reads the answer.
    import httpx

    from tunegym.harness.bundled.mcqa import MCQAHarness

    url = live_server(MCQAHarness())
    metadata = {"options": OPTIONS, "template_metadata": {"output_regex": ["(a|aa)+$"] * 3}}
    body = {"response": "\\boxed{B} " + "a" * 80 + "!", "expected": "B", "metadata": metadata}
    reply = httpx.post(f"{url}/verify", json=body, timeout=60)
    assert reply.status_code == 200, reply.text
    assert (reply.json()["reward"], reply.json()["extracted_answer"]) == (1.0, "B")
    assert httpx.get(f"{url}/health", timeout=10).status_code == 200
