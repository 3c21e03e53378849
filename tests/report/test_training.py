"""report.html of an async-RL run: curve, stale drops and throughput, even when cut short."""

from __future__ import annotations

from pathlib import Path

from tunegym.report.training import render_training_report, write_training_report

SUMMARY = {
    "kind": "async_rl",
    "status": "ok",
    "config": {"mode": "async", "max_staleness": 1, "plane": {"backend": "memory"}},
    "updates_done": 2,
    "untrained_reward": 0.01,
    "last_updates_reward": 0.4,
    "final_reward": 0.5,
    "stale_dropped": 3,
    "throughput": {"samples_per_s": 900.0, "trainer_idle_fraction": 0.3},
    "reward_per_version": [
        {"version": 0, "mean_reward": 0.01, "samples": 128},
        {"version": 1, "mean_reward": 0.4, "samples": 125},
    ],
}
RECORDS = [{"version": 1, "stale_dropped": 0}, {"version": 2, "stale_dropped": 3}]


def test_page_shows_the_curve_the_stale_drops_and_the_throughput(tmp_path: Path) -> None:
    path = write_training_report(tmp_path / "report.html", SUMMARY, RECORDS)
    html = path.read_text()
    assert 'data-plot="reward-per-version"' in html and 'data-plot="stale-per-update"' in html
    assert "version 1: mean reward 0.4" in html  # a point of the curve, as its tooltip
    assert "update 2: 3 stale" in html
    assert "trainer idle fraction" in html and "900" in html
    assert "<script" not in html


def test_a_run_stopped_before_its_first_update_still_renders() -> None:
    summary = {**SUMMARY, "status": "interrupted", "reward_per_version": [], "throughput": {}}
    html = render_training_report(summary, [])
    assert "interrupted" in html
    assert html.count("no update finished") == 2
