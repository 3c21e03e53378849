"""A small SVG plotting kit for the HTML report: scales, axes, marks, legends.

Plots are plain inline SVG strings built in Python, so ``report.html`` needs no script,
no library and no network to show them. Each mark carries a ``<title>`` (the browser's
hover tooltip). Every value given to a plot must be finite; callers filter first.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Protocol

WIDTH = 620
HEIGHT = 290
MARGIN_LEFT = 78
MARGIN_RIGHT = 18
MARGIN_TOP = 28
MARGIN_BOTTOM = 50
BAND = 18  # the strip under the plot area for marks without a value (failed trials)

STATUS_COLORS = {
    "ok": "#1f77b4",
    "cached": "#17becf",
    "failed": "#d62728",
    "timeout": "#ff7f0e",
    "metric_missing": "#9467bd",
    "constraint_failed": "#7f7f7f",
    "dry_run": "#bcbd22",
    "pruned": "#8c564b",
}
ACCENT = "#2ca02c"
MUTED = "#9aa4ae"


def fmt(value: float) -> str:
    """A short, readable number: ``156,442``, ``0.25``, ``1.2e-05``."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1e7 or magnitude < 1e-3:
        return f"{value:.3g}"
    if magnitude >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


class Scale(Protocol):
    def frac(self, value: float) -> float:
        """Where ``value`` lies on the axis, 0 (start) to 1 (end)."""
        ...

    def ticks(self) -> list[tuple[float, str]]: ...


@dataclass(frozen=True)
class LinearScale:
    lo: float
    hi: float
    integer: bool = False

    @classmethod
    def fit(cls, values: Sequence[float], integer: bool = False, pad: float = 0.06) -> LinearScale:
        """A scale covering ``values`` with a little room on both sides."""
        lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
        if lo == hi:
            spread = abs(lo) * 0.1 or 1.0
            return cls(lo - spread, hi + spread, integer)
        room = (hi - lo) * pad
        return cls(lo - room, hi + room, integer)

    def frac(self, value: float) -> float:
        return (value - self.lo) / (self.hi - self.lo)

    def ticks(self) -> list[tuple[float, str]]:
        step = _nice_step((self.hi - self.lo) / 5)
        if self.integer:
            step = max(1.0, round(step))
        first = math.ceil(self.lo / step) * step
        out = []
        n = 0
        while first + n * step <= self.hi + 1e-9 * step and n < 50:
            value = first + n * step
            out.append((value, fmt(round(value, 12))))
            n += 1
        return out


@dataclass(frozen=True)
class LogScale:
    lo: float
    hi: float

    @classmethod
    def fit(cls, values: Sequence[float]) -> LogScale:
        positive = [v for v in values if v > 0] or [1.0]
        lo, hi = math.log10(min(positive)), math.log10(max(positive))
        if lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        room = (hi - lo) * 0.06
        return cls(10 ** (lo - room), 10 ** (hi + room))

    def frac(self, value: float) -> float:
        value = max(value, self.lo)
        return (math.log10(value) - math.log10(self.lo)) / (
            math.log10(self.hi) - math.log10(self.lo)
        )

    def ticks(self) -> list[tuple[float, str]]:
        lo, hi = math.floor(math.log10(self.lo)), math.ceil(math.log10(self.hi))
        mantissas = (1, 2, 5) if hi - lo <= 3 else (1,)
        out = []
        for exponent in range(lo, hi + 1):
            for m in mantissas:
                value = m * 10.0**exponent
                if self.lo <= value <= self.hi:
                    out.append((value, fmt(value)))
        return out


@dataclass(frozen=True)
class CategoryScale:
    labels: tuple[str, ...]

    def frac(self, value: float) -> float:
        return (value + 0.5) / max(1, len(self.labels))

    def ticks(self) -> list[tuple[float, str]]:
        return [(float(i), label) for i, label in enumerate(self.labels)]


def _nice_step(raw: float) -> float:
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    exponent = math.floor(math.log10(raw))
    base = raw / 10**exponent
    nice = 1 if base < 1.5 else 2 if base < 3 else 5 if base < 7 else 10
    return nice * 10.0**exponent


@dataclass
class Plot:
    """One chart: add marks in data coordinates, then :meth:`render` an ``<svg>``.

    ``band_label`` reserves a strip under the plot area where :meth:`band_mark` draws
    rows that have no value on the y axis (a failed trial has no real reward).
    """

    x: Scale
    y: Scale
    x_label: str
    y_label: str
    band_label: str | None = None
    width: int = WIDTH
    height: int = HEIGHT
    _marks: list[str] = field(default_factory=list)
    _legend: dict[str, str] = field(default_factory=dict)

    # -- geometry ----------------------------------------------------------------------
    @property
    def _bottom(self) -> float:
        return self.height - MARGIN_BOTTOM - (BAND if self.band_label else 0)

    def px(self, value: float) -> float:
        return MARGIN_LEFT + self.x.frac(value) * (self.width - MARGIN_LEFT - MARGIN_RIGHT)

    def py(self, value: float) -> float:
        return self._bottom - self.y.frac(value) * (self._bottom - MARGIN_TOP)

    # -- marks -------------------------------------------------------------------------
    def legend(self, label: str, color: str) -> None:
        self._legend.setdefault(label, color)

    def circle(self, x: float, y: float, color: str, title: str, r: float = 4.0) -> None:
        self._marks.append(
            f'<circle class="mark" cx="{self.px(x):.1f}" cy="{self.py(y):.1f}" r="{r}" '
            f'fill="{color}" fill-opacity="0.8" stroke="#fff" stroke-width="0.6">'
            f"<title>{escape(title)}</title></circle>"
        )

    def diamond(self, x: float, y: float, color: str, title: str, r: float = 6.0) -> None:
        cx, cy = self.px(x), self.py(y)
        corners = ((cx, cy - r), (cx + r, cy), (cx, cy + r), (cx - r, cy))
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in corners)
        self._marks.append(
            f'<polygon class="mark" points="{points}" fill="{color}" stroke="#222" '
            f'stroke-width="0.8"><title>{escape(title)}</title></polygon>'
        )

    def band_mark(self, x: float, color: str, title: str) -> None:
        """An ``x`` in the strip under the plot area (needs ``band_label``)."""
        cx, cy, r = self.px(x), self._bottom + BAND / 2 + 2, 3.5
        self._marks.append(
            f'<path class="mark" d="M{cx - r:.1f},{cy - r:.1f}L{cx + r:.1f},{cy + r:.1f}'
            f'M{cx - r:.1f},{cy + r:.1f}L{cx + r:.1f},{cy - r:.1f}" stroke="{color}" '
            f'stroke-width="2"><title>{escape(title)}</title></path>'
        )

    def line(self, points: Sequence[tuple[float, float]], color: str, steps: bool = False) -> None:
        """A polyline; ``steps`` draws a staircase (value holds until the next point)."""
        if not points:
            return
        coords = [(self.px(x), self.py(y)) for x, y in points]
        path = [f"M{coords[0][0]:.1f},{coords[0][1]:.1f}"]
        for (_, y0), (x1, y1) in itertools.pairwise(coords):
            if steps:
                path.append(f"H{x1:.1f}V{y1:.1f}" if y0 != y1 else f"H{x1:.1f}")
            else:
                path.append(f"L{x1:.1f},{y1:.1f}")
        self._marks.append(
            f'<path class="mark line" d="{"".join(path)}" fill="none" stroke="{color}" '
            f'stroke-width="2"/>'
        )

    def error_bar(self, x: float, lo: float, hi: float, color: str, title: str) -> None:
        cx, top, bottom = self.px(x), self.py(hi), self.py(lo)
        self._marks.append(
            f'<path class="mark" d="M{cx:.1f},{top:.1f}V{bottom:.1f}M{cx - 6:.1f},{top:.1f}'
            f'H{cx + 6:.1f}M{cx - 6:.1f},{bottom:.1f}H{cx + 6:.1f}" stroke="{color}" '
            f'stroke-width="1.6"><title>{escape(title)}</title></path>'
        )

    def text(self, x: float, y: float, label: str, anchor: str = "middle") -> None:
        self._marks.append(
            f'<text x="{self.px(x):.1f}" y="{self.py(y):.1f}" text-anchor="{anchor}" '
            f'class="note">{escape(label)}</text>'
        )

    # -- output ------------------------------------------------------------------------
    def render(self, label: str) -> str:
        """The ``<svg>`` element; ``label`` is its accessible name."""
        left, right = MARGIN_LEFT, self.width - MARGIN_RIGHT
        top, bottom = MARGIN_TOP, self._bottom
        parts = [
            f'<svg class="chart" viewBox="0 0 {self.width} {self.height}" width="{self.width}" '
            f'height="{self.height}" role="img" aria-label="{escape(label)}">',
            f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
            f'class="area"/>',
        ]
        for value, text in self.y.ticks():
            y = self.py(value)
            if top - 0.5 <= y <= bottom + 0.5:
                parts.append(
                    f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                )
                parts.append(
                    f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
                    f"{escape(text)}</text>"
                )
        axis_y = self.height - MARGIN_BOTTOM
        categorical = isinstance(self.x, CategoryScale)
        for value, text in _thin(self.x.ticks(), right - left):
            x = self.px(value)
            if left - 0.5 <= x <= right + 0.5:
                if not categorical:
                    parts.append(
                        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{bottom}" class="grid"/>'
                    )
                parts.append(
                    f'<text x="{x:.1f}" y="{axis_y + 15}" text-anchor="middle" class="tick">'
                    f"{escape(_clip(text, 14))}</text>"
                )
        if self.band_label:
            parts.append(
                f'<rect x="{left}" y="{bottom}" width="{right - left}" height="{BAND}" '
                f'class="band"/><text x="{left - 6}" y="{bottom + BAND / 2 + 5:.1f}" '
                f'text-anchor="end" class="tick">{escape(self.band_label)}</text>'
            )
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{axis_y}" y2="{axis_y}" class="axis"/>'
            f'<line x1="{left}" x2="{left}" y1="{top}" y2="{axis_y}" class="axis"/>'
        )
        parts.extend(self._marks)
        parts.append(
            f'<text x="{(left + right) / 2:.1f}" y="{self.height - 12}" text-anchor="middle" '
            f'class="label">{escape(self.x_label)}</text>'
            f'<text transform="translate(16 {(top + bottom) / 2:.1f}) rotate(-90)" '
            f'text-anchor="middle" class="label">{escape(self.y_label)}</text>'
        )
        parts.append(self._render_legend(left, right))
        parts.append("</svg>")
        return "".join(parts)

    def _render_legend(self, left: float, right: float) -> str:
        out, x = [], left
        for label, color in self._legend.items():
            out.append(
                f'<rect x="{x:.1f}" y="8" width="10" height="10" fill="{color}"/>'
                f'<text x="{x + 14:.1f}" y="17" class="tick">{escape(label)}</text>'
            )
            x += 24 + 7 * len(label)
            if x > right - 40:
                break
        return "".join(out)


def _thin(ticks: list[tuple[float, str]], span: float) -> list[tuple[float, str]]:
    """Drop every other tick label until they fit (about 48 px per label)."""
    while len(ticks) > 2 and span / len(ticks) < 48:
        ticks = ticks[::2]
    return ticks


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
