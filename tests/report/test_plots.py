"""The report's plots: long learning curves are drawn through a bounded number of points."""

from __future__ import annotations

import math

from tunegym.report.plots import CURVE_BUCKETS, learning_curves, thinned
from tunegym.trial.rows import TrialRow
from tunegym.trial.status import TrialStatus


def _noisy(n: int) -> list[tuple[int, float]]:
    return [(s, 1.0 / (1 + s) + 0.1 * math.sin(s * 0.7)) for s in range(1, n + 1)]


def test_a_short_curve_is_drawn_as_it_is() -> None:
    curve = _noisy(2 * CURVE_BUCKETS)
    assert thinned(curve) == [(float(s), v) for s, v in curve]


def test_a_long_curve_keeps_its_ends_and_each_buckets_extremes() -> None:
    curve = _noisy(200_000)
    drawn = thinned(curve)
    assert len(drawn) <= 2 * CURVE_BUCKETS + 2
    assert drawn[0] == (1.0, curve[0][1]) and drawn[-1] == (200_000.0, curve[-1][1])
    assert [x for x, _ in drawn] == sorted(x for x, _ in drawn)  # still in step order
    values = [v for _, v in curve]
    assert min(v for _, v in drawn) == min(values) and max(v for _, v in drawn) == max(values)
    width = 200_000 / CURVE_BUCKETS
    for bucket in (0, 137, CURVE_BUCKETS - 1):  # the noise's envelope is kept in each bucket
        inside = [v for s, v in curve if int((s - 1) / width) == bucket]
        shown = [v for x, v in drawn if int((x - 1) / width) == bucket]
        assert min(shown) == min(inside) and max(shown) == max(inside)


def test_the_report_of_long_curves_stays_small() -> None:
    rows = [
        TrialRow(
            k, {"lr": k}, {}, {"loss": 0.1}, -0.1, TrialStatus.OK, curve=tuple(_noisy(200_000))
        )
        for k in range(1, 4)
    ]
    svg = learning_curves(rows, "loss")
    assert svg.count("<path") >= 3 and len(svg) < 100_000  # it was megabytes
