"""``mcqa``: multiple choice, graded exactly as NeMo Gym 0.7.0's ``mcqa`` resources server.

Rows follow NeMo Gym's format: ``responses_create_params``, ``options`` (a list of
single-key objects, ``[{"A": "..."}, {"B": "..."}]``; an option with a null text is not a
choice), ``expected_answer`` (a letter), and optionally ``grading_mode`` (one of
``strict_single_letter_boxed`` (the default), ``lenient_boxed``, ``lenient_answer_colon``)
and ``template_metadata`` (``output_regex``: a pattern or a list tried before the mode;
``answer_prefix``, a string, for ``lenient_answer_colon_md``). A field of the wrong type
is a 422 naming it, as in NeMo Gym.

The harness's own ``grading_mode`` kwarg, when set, wins over the row's (NeMo Gym's
server config does the same); it also accepts ``lenient_answer_colon_md`` and tunegym's
``lenient`` (see :mod:`.mcqa_grading`). The reward is 1.0 when the extracted letter equals
``expected_answer`` trimmed and upper-cased (which is also what comes back as
``expected_answer``), else 0.0. ``/aggregate_metrics`` adds NeMo Gym mcqa's pass@k,
majority@k and no-answer rates of ``accuracy`` and its headline set.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from tunegym.errors import UsageError
from tunegym.harness.base import GymHarness, RequestError, VerifyResult
from tunegym.harness.bundled import mcqa_grading as grading
from tunegym.harness.collect import read_rows

ROW_GRADING_MODES = ("strict_single_letter_boxed", "lenient_boxed", "lenient_answer_colon")
GRADING_MODES = (*ROW_GRADING_MODES, "lenient_answer_colon_md", "lenient")
DEFAULT_GRADING_MODE = "strict_single_letter_boxed"

Options = Sequence[dict[str, str | None]] | None


def _check_options(options: Any) -> Options:
    if options is None:
        return None
    if not isinstance(options, list):
        raise RequestError(("options",), 'expected an array of objects such as {"A": "text"}')
    for i, entry in enumerate(options):
        if not isinstance(entry, dict):
            raise RequestError(("options", i), 'expected an object such as {"A": "text"}')
        for key, text in entry.items():
            if text is not None and not isinstance(text, str):
                raise RequestError(("options", i, key), "expected a string or null")
    return options


def _check_optional(value: Any, kind: type, loc: str, what: str) -> Any:
    if value is not None and not isinstance(value, kind):
        raise RequestError((loc,), f"expected {what} or null")
    return value


def _extract(
    mode: str, text: str, options: Options, allowed: set[str], template: dict[str, Any]
) -> str | None:
    extractors: dict[str, Callable[[], str | None]] = {
        "strict_single_letter_boxed": lambda: grading.strict_boxed(text, allowed),
        "lenient_boxed": lambda: (
            grading.strict_boxed(text, allowed) or grading.boxed_option_text(text, options, allowed)
        ),
        "lenient_answer_colon": lambda: grading.answer_colon(text, options, allowed),
        "lenient_answer_colon_md": lambda: grading.answer_colon_md(
            text, allowed, template.get("answer_prefix")
        ),
        "lenient": lambda: grading.lenient(text, allowed),
    }
    return extractors[mode]()


def extract_letter(
    text: str,
    options: Options = None,
    grading_mode: str = DEFAULT_GRADING_MODE,
    template_metadata: dict[str, Any] | None = None,
) -> str | None:
    """The answer letter of ``text`` for a row's ``options`` (``ValueError`` for a bad mode)."""
    if grading_mode not in GRADING_MODES:
        raise ValueError(
            f"unknown grading_mode {grading_mode!r}; expected one of {list(GRADING_MODES)}"
        )
    text = text.strip()
    if not text:
        return None
    allowed = grading.allowed_letters(options)
    template = template_metadata or {}
    letter = None
    if template.get("output_regex") is not None:
        letter = grading.custom_regex(text, template["output_regex"], options, allowed)
    return letter or _extract(grading_mode, text, options, allowed, template)


def bundled_rows() -> list[dict[str, Any]]:
    """The small question set shipped with tunegym (``data/mcqa.jsonl``)."""
    text = resources.files("tunegym.harness.bundled").joinpath("data/mcqa.jsonl").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class MCQAHarness(GymHarness):
    """Multiple-choice questions; ``dataset_path`` swaps in your own NeMo-Gym-format JSONL.

    ``grading_mode=None`` (the default) lets each row choose, as NeMo Gym does.
    """

    name = "mcqa"

    def __init__(self, grading_mode: str | None = None, dataset_path: str | None = None) -> None:
        if grading_mode is not None and grading_mode not in GRADING_MODES:
            raise UsageError(
                f"mcqa: grading_mode must be one of {list(GRADING_MODES)} or unset, "
                f"got {grading_mode!r}"
            )
        self.grading_mode = grading_mode
        self.dataset_path = dataset_path

    def get_dataset(self) -> list[dict[str, Any]]:
        if self.dataset_path is None:
            return bundled_rows()
        return read_rows(Path(self.dataset_path))

    async def verify(
        self,
        response_text: str,
        expected_answer: Any,
        options: Any = None,
        grading_mode: Any = DEFAULT_GRADING_MODE,
        template_metadata: Any = None,
        **row_fields: Any,
    ) -> VerifyResult:
        options = _check_options(options)
        _check_optional(expected_answer, str, "expected_answer", "a string")
        _check_optional(template_metadata, dict, "template_metadata", "an object")
        _check_optional(row_fields.get("metadata"), dict, "metadata", "an object")
        _check_optional(row_fields.get("uuid"), str, "uuid", "a string")
        if grading_mode not in ROW_GRADING_MODES:
            raise RequestError(
                ("grading_mode",),
                f"expected one of {list(ROW_GRADING_MODES)}, got {grading_mode!r}",
                kind="literal_error",
            )
        regexes = (template_metadata or {}).get("output_regex")
        if regexes is not None and not (
            isinstance(regexes, str)
            or (isinstance(regexes, list) and all(isinstance(r, str) for r in regexes))
        ):
            raise RequestError(
                ("template_metadata", "output_regex"), "expected a string or an array of strings"
            )
        mode = self.grading_mode or grading_mode
        prefix = (template_metadata or {}).get("answer_prefix")
        if mode == "lenient_answer_colon_md" and not isinstance(prefix, str | None):
            raise RequestError(("template_metadata", "answer_prefix"), "expected a string or null")
        gold = (expected_answer or "").strip().upper()
        letter = extract_letter(response_text, options, mode, template_metadata)
        reward = 1.0 if letter is not None and gold and letter == gold else 0.0
        return VerifyResult(reward, letter, {"grading_mode": mode}, expected_answer=gold)

    def compute_metrics(self, tasks: list[list[dict[str, Any]]]) -> dict[str, Any]:
        """NeMo Gym mcqa's: pass/majority/no-answer of ``accuracy`` (= reward), in percent."""
        from tunegym.harness.passk import pass_majority_metrics

        return pass_majority_metrics(
            tasks, score_fn=lambda r: {"accuracy": r["reward"]}, answer_key="extracted_answer"
        )

    def key_metrics(self, agent_metrics: dict[str, Any]) -> dict[str, Any]:
        """NeMo Gym mcqa's headline set."""
        from tunegym.harness.passk import highest_k_metrics

        key = {k: v for k, v in agent_metrics.items() if k == "mean/reward"}
        key.update(
            highest_k_metrics(
                agent_metrics, "pass@1[avg-of-{k}]", score_names=["accuracy", "no_answer"]
            )
        )
        key.update(highest_k_metrics(agent_metrics, "pass@{k}", score_names=["no_answer"]))
        key.update(highest_k_metrics(agent_metrics, "majority@{k}", score_names=["accuracy"]))
        if "pass@1/accuracy" in agent_metrics:
            key["pass@1/accuracy"] = agent_metrics["pass@1/accuracy"]
        return key
