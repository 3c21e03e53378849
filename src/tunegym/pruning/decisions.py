"""How a pruned trial's decision is written (its row's ``error``) and read back.

The row keeps the step whose point decided the stop in its ``error``,
``pruned at step 4: val_loss = 0.52``, and its curve runs on to the step it reached
before the stop landed (a few points later, under load). :func:`pruned_outcome` tells
both, for the console and the report.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunegym.trial.rows import TrialRow

__all__ = ["decision_step", "pruned_message", "pruned_outcome"]

_DECISION = re.compile(r"pruned at step (-?\d+)\b")


def pruned_message(step: int, value: float, metric: str | None = None) -> str:
    """A pruned trial's ``error``: ``pruned at step 3: val_loss = 0.72`` (``pruned at
    step 3 (value 0.72)`` for a point without a metric name)."""
    if metric is None:
        return f"pruned at step {step} (value {value:g})"
    return f"pruned at step {step}: {metric} = {value:g}"


def decision_step(error: str | None) -> int | None:
    """The step a pruned row's ``error`` (:func:`pruned_message`) says decided it; ``None``
    for any other text."""
    found = _DECISION.match(error or "")
    return int(found.group(1)) if found else None


def pruned_outcome(row: TrialRow) -> str:
    """``at step 4 (0.52)``: the point that decided a pruned trial with a curve, then
    ``, stopped at step 6`` when it ran on past it before the stop landed. Without a
    decision in its ``error`` (a row of an older run), its last point."""
    reached, last = row.curve[-1]
    decided = decision_step(row.error)
    value = dict(row.curve).get(decided) if decided is not None else None
    if decided is None or value is None:
        return f"at step {reached} ({last:g})"
    late = f", stopped at step {reached}" if reached != decided else ""
    return f"at step {decided} ({value:g}){late}"
