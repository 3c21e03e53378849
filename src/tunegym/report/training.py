"""``report.html`` of an async-RL training run (``summary.json`` with ``kind: "async_rl"``).

The same self-contained page as every run report (same style, inline SVG, no script):
the run table, the learning curve (mean reward of the samples each policy version
generated, against the untrained policy's reward), samples dropped as stale per update,
and throughput (samples/s, trainer and collector idle fractions).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from tunegym.outputs.files import atomic_write_text
from tunegym.report.html import (
    CONTENT_POLICY,
    CSS,
    cell_duration,
    cell_time,
    figure,
    kv_table,
    status_badge,
)
from tunegym.report.svg import ACCENT, MUTED, STATUS_COLORS, LinearScale, Plot, fmt


def write_training_report(
    path: Path, summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]
) -> Path:
    """Write the page atomically; ``records`` are the run's per-update rows."""
    return atomic_write_text(path, render_training_report(summary, records))


def render_training_report(summary: Mapping[str, Any], records: Sequence[Mapping[str, Any]]) -> str:
    title = f"tunegym report: {summary.get('scenario', 'async-rl')}"
    cfg = summary.get("config", {})
    tp = summary.get("throughput", {})
    items = [
        ("status", str(summary.get("status", ""))),
        *([("note", str(summary["message"]))] if summary.get("message") else []),
        ("run folder", str(summary.get("run_dir", ""))),
        ("mode", f"{cfg.get('mode')} (max_staleness {cfg.get('max_staleness')})"),
        ("data plane", json.dumps(cfg.get("plane", {}))),
        (
            "workers",
            f"{cfg.get('num_collectors')} collectors, dp_size {cfg.get('dp_size')}, "
            f"{cfg.get('prompts_per_update')} prompts x {cfg.get('group_size')} samples per update",
        ),
        ("updates", f"{summary.get('updates_done')} of {cfg.get('updates')}"),
        ("untrained reward", _num(summary.get("untrained_reward"))),
        ("reward, last updates", _num(summary.get("last_updates_reward"))),
        ("final reward (eval)", _num(summary.get("final_reward"))),
        ("stale samples dropped", str(summary.get("stale_dropped", 0))),
        ("started", cell_time(summary.get("started_at"))),
        ("finished", cell_time(summary.get("finished_at"))),
    ]
    throughput = [
        ("wall time", cell_duration(tp.get("wall_s"))),
        ("samples/s (claimed)", _num(tp.get("samples_per_s"))),
        ("samples/s (trained)", _num(tp.get("trained_samples_per_s"))),
        ("trainer idle fraction", _num(tp.get("trainer_idle_fraction"))),
        ("collector idle fraction", _num(tp.get("collector_idle_fraction"))),
    ]
    plots = "".join(
        [
            figure(
                "reward-per-version",
                "Mean verify() reward of the samples each policy version generated; the grey "
                "line is the untrained policy.",
                _curve(summary),
            ),
            figure(
                "stale-per-update",
                "Samples the staleness filter dropped (and cleared) at each update.",
                _stale(records),
            ),
        ]
    )
    body = (
        f"<header><h1>{escape(title)}</h1>{status_badge(str(summary.get('status', '?')))}</header>"
        f'<section class="meta"><h2>Run</h2>{kv_table(items)}</section>'
        f'<section class="job"><h2>Policy</h2><div class="plots">{plots}</div>'
        f"<h3>Throughput</h3>{kv_table(throughput)}</section>"
        "<footer>Written by tunegym; summary.json and updates.jsonl in the same folder hold "
        "the same results for scripts.</footer>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _curve(summary: Mapping[str, Any]) -> str:
    points = [
        (float(p["version"]), float(p["mean_reward"]))
        for p in summary.get("reward_per_version", [])
    ]
    untrained = summary.get("untrained_reward")
    ys = [y for _, y in points] + ([float(untrained)] if untrained is not None else [])
    plot = Plot(
        LinearScale.fit([x for x, _ in points], integer=True),
        LinearScale.fit(ys or [0.0, 1.0]),
        "policy version",
        "mean reward",
    )
    if untrained is not None and points:
        plot.line([(points[0][0], untrained), (points[-1][0], untrained)], MUTED)
        plot.legend("untrained", MUTED)
    plot.line(points, ACCENT)
    plot.legend("reward per version", ACCENT)
    for x, y in points:
        plot.circle(x, y, ACCENT, f"version {int(x)}: mean reward {fmt(y)}", r=2.5)
    if not points:
        plot.text(0.5, 0.5, "no update finished")
    return plot.render("reward per policy version")


def _stale(records: Sequence[Mapping[str, Any]]) -> str:
    points = [  # a record without a version or count has no point (the reader checked
        # that every one it has is a number: results.training.UPDATE_COLUMNS)
        (float(r["version"]), float(r["stale_dropped"]))
        for r in records
        if r.get("version") is not None and r.get("stale_dropped") is not None
    ]
    plot = Plot(
        LinearScale.fit([x for x, _ in points], integer=True),
        LinearScale(0.0, max([1.0] + [y * 1.1 for _, y in points]), integer=True),
        "update (policy version after it)",
        "stale samples dropped",
    )
    color = STATUS_COLORS["failed"]
    plot.line(points, color)
    for x, y in points:
        if y:
            plot.circle(x, y, color, f"update {int(x)}: {int(y)} stale", r=2.5)
    if not points:
        plot.text(0.5, 0.5, "no update finished")
    return plot.render("stale samples dropped per update")


def _num(value: Any) -> str:
    return "-" if not isinstance(value, int | float) else fmt(float(value))
