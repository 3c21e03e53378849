"""pass@k / majority@k: the linear implementation equals the definitions, written out plainly."""

from __future__ import annotations

import math
import statistics
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tunegym.harness.passk import highest_k_metrics, pass_majority_metrics


def definition(tasks: list[list[dict]]) -> dict:
    """The metrics straight from their definitions (quadratic; for checking only)."""
    scores = [
        [{"accuracy": r["reward"], "no_answer": int(r["answer"] is None)} for r in t] for t in tasks
    ]
    max_k = max(len(t) for t in tasks)
    out: dict = {}
    for k in range(1, max_k + 1):
        for name in ("accuracy", "no_answer"):
            passes = []
            for task in scores:
                values = [s[name] for s in task]
                if len(values) < k:
                    continue
                if all(v in (0, 1) for v in values):
                    wrong = values.count(0)
                    passes.append(1.0 - math.comb(wrong, k) / math.comb(len(values), k))
                else:
                    passes.append(max(values[:k]))
            if passes:
                out[f"pass@{k}/{name}"] = 100 * statistics.fmean(passes)
            out[f"pass@1[avg-of-{k}]/{name}"] = 100 * statistics.fmean(
                statistics.fmean(s[name] for s in task[:k]) for task in scores
            )
            votes = []
            for task, rollouts in zip(scores, tasks, strict=True):
                pairs = [
                    (r["answer"], s[name]) for r, s in zip(rollouts[:k], task[:k], strict=True)
                ]
                pairs = [p for p in pairs if p[0] is not None]
                if not pairs:
                    votes.append(0.0)
                    continue
                counts = Counter(pairs)
                top = max(counts.values())
                tied = [score for (_, score), c in counts.items() if c == top]
                votes.append(sum(tied) / len(tied))
            out[f"majority@{k}/{name}"] = 100 * statistics.fmean(votes)
    return out


rollout = st.fixed_dictionaries(
    {
        "reward": st.sampled_from([0.0, 1.0]) | st.floats(0, 1),
        "answer": st.sampled_from(["A", "B", "C", None]),
    }
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(rollout, min_size=1, max_size=7), min_size=1, max_size=5))
def test_linear_metrics_equal_the_definitions(tasks):
    ours = pass_majority_metrics(
        [[{"reward": r["reward"], "extracted_answer": r["answer"]} for r in t] for t in tasks],
        score_fn=lambda r: {"accuracy": r["reward"]},
        answer_key="extracted_answer",
    )
    for key, value in definition(tasks).items():
        assert ours[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


def test_per_sample_aggregate_and_spread_across_runs():
    tasks = [
        [{"reward": 1.0}, {"reward": 0.0}, {"reward": 1.0}],
        [{"reward": 0.0}, {"reward": 0.0}],
    ]
    metrics = pass_majority_metrics(tasks)
    assert metrics["per_sample_aggregate"] == {"accuracy": [50.0, 0.0, 100.0]}
    runs = [50.0, 0.0, 100.0]
    assert metrics["pass@1[avg-of-2]/accuracy/std_dev_across_runs"] == pytest.approx(
        statistics.stdev(runs[:2])
    )
    assert metrics["pass@1[avg-of-3]/accuracy/std_err_across_runs"] == pytest.approx(
        statistics.stdev(runs) / math.sqrt(3)
    )
    assert "majority@1/accuracy" not in metrics  # no answer_key, no majority


def test_no_tasks_no_metrics():
    assert pass_majority_metrics([]) == {}


def test_highest_k_metrics_picks_the_top_k_without_spreads():
    metrics = {
        "pass@1/accuracy": 1,
        "pass@4/accuracy": 4,
        "pass@4/no_answer": 0,
        "pass@16/accuracy/std_dev_across_runs": 9,
        "pass@1[avg-of-4]/accuracy": 2,
    }
    assert highest_k_metrics(metrics, "pass@{k}") == {"pass@4/accuracy": 4, "pass@4/no_answer": 0}
    assert highest_k_metrics(metrics, "pass@{k}", score_names=["no_answer"]) == {
        "pass@4/no_answer": 0
    }
    assert highest_k_metrics(metrics, "pass@{k}", exclude_names=["no_answer"]) == {
        "pass@4/accuracy": 4
    }
    assert highest_k_metrics(metrics, "majority@{k}") == {}
