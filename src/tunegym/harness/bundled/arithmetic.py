"""``arithmetic``: integer arithmetic with a deterministically generated dataset.

Row ``i`` of ``ArithmeticHarness(size, seed, max_operand)`` is the same on every machine
(it is drawn from ``random.Random(f"{seed}:{i}")``). The reward is 1.0 when the *last*
number in the response equals the expected integer (``"... so the answer is 42."``;
thousands separators and a trailing ``.0`` are accepted), else 0.0.
"""

from __future__ import annotations

import random
import re
from typing import Any

from tunegym.errors import UsageError
from tunegym.harness.base import GymHarness, VerifyResult

_NUMBER = re.compile(r"(?<![\d.])-?\d+(?:,\d{3})*(?:\.\d+)?")
_OPERATORS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b}


def last_number(text: str) -> str | None:
    """The last number written in ``text`` (without thousands separators), or ``None``."""
    matches = _NUMBER.findall(text)
    return matches[-1].replace(",", "") if matches else None


class ArithmeticHarness(GymHarness):
    """``a <op> b`` problems with ``0 <= a, b <= max_operand`` and ``op`` drawn from ``ops``."""

    name = "arithmetic"

    def __init__(
        self, size: int = 100, seed: int = 0, max_operand: int = 100, ops: str = "+-*"
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise UsageError(f"arithmetic: size must be a positive integer, got {size!r}")
        for name, value, low in (("max_operand", max_operand, 0), ("seed", seed, None)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise UsageError(f"arithmetic: {name} must be an integer, got {value!r}")
            if low is not None and value < low:
                raise UsageError(f"arithmetic: {name} must be >= {low}, got {value}")
        if not isinstance(ops, str) or not ops or any(op not in _OPERATORS for op in ops):
            raise UsageError(f"arithmetic: ops must be made of '+', '-', '*', got {ops!r}")
        self.size = size
        self.seed = seed
        self.max_operand = max_operand
        self.ops = ops

    def get_dataset(self) -> list[dict[str, Any]]:
        rows = []
        for i in range(self.size):
            rng = random.Random(f"{self.seed}:{i}")
            a = rng.randint(0, self.max_operand)
            b = rng.randint(0, self.max_operand)
            op = rng.choice(self.ops)
            question = f"What is {a} {op} {b}?"
            prompt = f"{question} Think briefly, then give the final answer as an integer."
            rows.append(
                {
                    "responses_create_params": {"input": [{"role": "user", "content": prompt}]},
                    "expected_answer": str(_OPERATORS[op](a, b)),
                    "question": question,
                    "id": f"arithmetic-{self.seed}-{i}",
                }
            )
        return rows

    async def verify(
        self, response_text: str, expected_answer: Any, **row_fields: Any
    ) -> VerifyResult:
        extracted = last_number(response_text)
        if extracted is None:
            return VerifyResult(0.0, None)
        try:
            correct = float(extracted) == float(str(expected_answer).replace(",", ""))
        except ValueError:
            correct = False
        return VerifyResult(1.0 if correct else 0.0, extracted)
