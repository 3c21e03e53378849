"""The learning problem: the bundled arithmetic harness, answered digit by digit.

A prompt is one row of :class:`~tunegym.harness.bundled.arithmetic.ArithmeticHarness`
(``"What is 3 + 4?"``); the policy reads its two operands and writes the answer as tokens
(the digits ``0``-``9`` and an end token); the response text goes to the harness's own
``verify()``, whose reward (1.0 when the last number in the text is the right answer,
else 0.0) is the RL reward. So every sample exercises harness -> collector -> data plane
-> trainer.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tunegym.harness.bundled.arithmetic import ArithmeticHarness

EOS = 10
"""The end token; tokens 0-9 are the digits."""
VOCAB = 11
_QUESTION = re.compile(r"What is (\d+) \+ (\d+)\?")


@dataclass(frozen=True)
class ArithmeticTask:
    """Sums ``a + b`` with ``0 <= a, b <= max_operand`` from the arithmetic harness.

    ``size`` rows are drawn from the harness dataset (seeded by ``seed``); answers are at
    most ``max_tokens - 1`` digits long so the end token always fits.
    """

    max_operand: int = 5
    size: int = 64
    seed: int = 0
    max_tokens: int = 3

    def __post_init__(self) -> None:
        if self.max_operand < 1 or self.size < 1:
            raise ValueError("ArithmeticTask needs max_operand >= 1 and size >= 1")
        if len(str(2 * self.max_operand)) >= self.max_tokens:
            raise ValueError(
                f"max_tokens={self.max_tokens} leaves no room for the end token after "
                f"{2 * self.max_operand}"
            )

    def harness(self) -> ArithmeticHarness:
        return ArithmeticHarness(
            size=self.size, seed=self.seed, max_operand=self.max_operand, ops="+"
        )

    def problems(self) -> list[dict[str, Any]]:
        """The dataset rows, each with its operands ``a`` and ``b`` read from the question."""
        rows = []
        for row in self.harness().get_dataset():
            match = _QUESTION.fullmatch(row["question"])
            if match is None:  # pragma: no cover - the harness writes exactly this form
                raise ValueError(f"unexpected arithmetic question {row['question']!r}")
            rows.append({**row, "a": int(match[1]), "b": int(match[2])})
        return rows


def decode(tokens: Sequence[int]) -> str:
    """The response text of a token sequence: its digits up to the first end token."""
    out = []
    for tok in tokens:
        if tok == EOS:
            break
        out.append(str(int(tok)))
    return "".join(out)


def score(harness: ArithmeticHarness, texts: Sequence[str], expected: Sequence[Any]) -> list[float]:
    """The harness's ``verify()`` reward of each response (all awaited in one event loop)."""

    async def _all() -> list[float]:
        results = await asyncio.gather(
            *(harness.verify(t, e) for t, e in zip(texts, expected, strict=True))
        )
        return [r.reward for r in results]

    return asyncio.run(_all())
