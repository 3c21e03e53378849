"""summary.json and report.html share one reading of the rows and one computation of the
best row, the robust ranking and the Pareto front; scored rows are decided in one place."""

from __future__ import annotations

import math
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tunegym.analysis import robust
from tunegym.analysis.best import best_row, is_scored
from tunegym.cli.main import main
from tunegym.outputs import best_config
from tunegym.report.writing import regenerate
from tunegym.trial.store import SCORED_STATUSES, STATUSES, TrialDatabase, TrialRow
from tunegym.values import is_finite_number


def _row(step: int, reward: float | None, status: str = "ok") -> TrialRow:
    return TrialRow(step, {"x": step}, {}, {}, reward, status)


def test_scored_means_a_scored_status_and_a_finite_reward() -> None:
    assert set(SCORED_STATUSES) == {"ok", "cached"} and set(SCORED_STATUSES) <= set(STATUSES)
    assert is_scored(_row(1, 1.0)) and is_scored(_row(1, 0.0, "cached"))
    for reward in (math.nan, math.inf, -math.inf, None):
        assert not is_scored(_row(1, reward))
    assert not is_scored(_row(1, 5.0, "failed"))


def test_best_row_ignores_nan_and_infinite_rewards() -> None:
    rows = [_row(1, math.nan), _row(2, 1.0), _row(3, math.inf), _row(4, 0.5, "cached")]
    chosen = best_row(rows)
    assert chosen is not None and chosen.step == 2
    assert best_row([_row(1, math.nan), _row(2, -math.inf)]) is None


def test_measurements_take_the_counting_rule_as_a_parameter() -> None:
    rows = [
        TrialRow(1, {"a": 1}, {}, {"m": 1.0}, math.nan, "ok"),
        TrialRow(2, {"a": 2}, {}, {"m": math.nan}, 2.0, "ok"),
        TrialRow(3, {"a": 2}, {}, {"m": 3.0}, 3.0, "failed"),
    ]
    assert [g[0].step for g in robust.measurements(rows).values()] == [2]
    by_metric = robust.measurements(
        rows, lambda r: r.status in SCORED_STATUSES and is_finite_number(r.observation.get("m"))
    )
    assert [g[0].step for g in by_metric.values()] == [1]


def test_reports_read_rows_once_and_compute_each_result_once(
    tmp_path: Path,
    write_toml: Callable[..., Path],
    objective_workload: Callable[..., dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = objective_workload(
        params={"x": [1, 2, 3], "y": ["a", "b"]},
        env_params={"y": {}},
        agent={
            "type": "grid",
            "metrics": ["score", "duration_s"],
            "objectives": ["max", "min"],
            "max_steps": 6,
        },
    )
    out = tmp_path / "out"
    assert main(["run", str(write_toml("w.toml", data)), "--output", str(out), "--quiet"]) == 0
    (run_dir,) = out.iterdir()

    calls: Counter[str] = Counter()

    def count(owner: Any, name: str) -> None:
        real = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls[name] += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)

    count(TrialDatabase, "rows")
    count(robust, "action_stats")
    count(robust, "context_bests")
    count(robust, "pareto_front")
    count(best_config, "best_workload_data")  # once per best_config*.toml written
    summary = regenerate(run_dir)
    (job,) = summary["jobs"]
    assert calls == {
        "rows": 1,
        # the ranking of all actions, plus one per context inside context_bests
        "action_stats": 1 + len(job["robust"]["contexts"]),
        "context_bests": 1,
        "pareto_front": 1,
        "best_workload_data": 1 + len(job["pareto_front"]),
    }
    # best_config.toml holds the robust best (the action with the best mean reward).
    text = (run_dir / job["best_config"]).read_text()
    assert "robust best, mean reward" in text.splitlines()[0]
    assert tomllib.loads(text)["params"]["x"] == job["robust"]["best"]["action"]["x"]
