"""A pruned trial's decision: written into its row's ``error``, read back for display."""

from __future__ import annotations

import io

import pytest

from tunegym.progress import ProgressObserver
from tunegym.pruning import decision_step, pruned_message, pruned_outcome
from tunegym.trial.store import TrialRow

CURVE = ((1, 0.9), (2, 0.8), (3, 0.75), (4, 0.74))


def _pruned(error: str | None, curve: tuple[tuple[int, float], ...] = CURVE) -> TrialRow:
    return TrialRow(5, {"lr": 2.0}, {}, {}, -1e9, "pruned", error=error, curve=curve)


@pytest.mark.parametrize(
    ("message", "step"),
    [
        (pruned_message(2, 0.8, "val_loss"), 2),
        (pruned_message(12, 0.5), 12),  # the Python API's, without a metric name
        ("stopped: the time budget (60 s) and its grace period (0 s) were spent", None),
        ("pruned at stepping", None),
        (None, None),
    ],
)
def test_the_decision_step_is_read_back_from_the_message(message: str | None, step: int) -> None:
    assert decision_step(message) == step


def test_the_outcome_names_the_deciding_point_and_where_the_trial_stopped() -> None:
    assert pruned_message(2, 0.8, "val_loss") == "pruned at step 2: val_loss = 0.8"
    late = _pruned(pruned_message(2, 0.8, "val_loss"))
    assert pruned_outcome(late) == "at step 2 (0.8), stopped at step 4"
    on_time = _pruned(pruned_message(4, 0.74, "val_loss"))
    assert pruned_outcome(on_time) == "at step 4 (0.74)"
    # no decision in the error, or one whose point is not in the curve: the last point
    assert pruned_outcome(_pruned("pruned")) == "at step 4 (0.74)"
    assert pruned_outcome(_pruned(pruned_message(9, 0.1, "val_loss"))) == "at step 4 (0.74)"


def test_the_console_line_of_a_pruned_trial_gives_its_decision() -> None:
    stream = io.StringIO()
    observer = ProgressObserver("job", 3, stream=stream, clock=lambda: 100.0)
    with observer:
        observer.after_step(None, _pruned(pruned_message(2, 0.8, "val_loss")))  # type: ignore[arg-type]
    line = stream.getvalue().splitlines()[1]
    assert "step 5: pruned at step 2 (0.8), stopped at step 4 best=" in line


def test_the_report_marks_a_pruned_trial_with_its_decision() -> None:
    from tunegym.report.plots import learning_curves

    svg = learning_curves([_pruned(pruned_message(2, 0.8, "val_loss"))], "val_loss")
    assert "trial 5: pruned at step 2 (0.8), stopped at step 4" in svg
