"""Server-drawn SVG charts for dashboard pages: pure functions from numbers to markup.

No script and no inline style (the pages' Content-Security-Policy allows neither): shapes carry
classes styled by ``static/dashboard.css`` (``.bar``, ``.interval``, ``.band``, ``.line``,
``.series-N``). Every chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that
states the numbers in words; labels are escaped. Values that are not finite (NaN, inf) are left
out rather than drawn at a wrong place.

- ``bar_chart([(label, value)], title=...)``: horizontal bars from zero.
- ``interval_chart([Interval(label, estimate, low, high)], title=...)``: a point and its
  interval per row, with the zero line (green when the interval is above zero, red below).
- ``line_chart([Series(name, [(x, y)])], band=[(x, low, high)], title=...)``: lines over a
  shaded band (e.g. an estimate over time inside its confidence sequence).
- ``nice_ticks(lo, hi)``: round axis ticks covering a range.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

LABEL_WIDTH = 150
ROW_HEIGHT = 28
PAD = 12


@dataclass(frozen=True)
class Interval:
    label: str
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Series:
    name: str
    points: Sequence[tuple[float, float]]


_NUMBER = (int, float)
_isfinite = math.isfinite


def _finite(*values: float) -> bool:
    return all(isinstance(v, _NUMBER) and _isfinite(v) for v in values)


def _finite_points(points: Iterable[tuple[float, float]]) -> list[tuple[float, float]]:
    """The points whose coordinates are both finite numbers (``_finite(x, y)``, inlined: a
    chart has thousands of points)."""
    return [
        (x, y)
        for x, y in points
        if isinstance(x, _NUMBER) and isinstance(y, _NUMBER) and _isfinite(x) and _isfinite(y)
    ]


def _num(value: float) -> str:
    """A coordinate: two decimals, no trailing zeros."""
    text = f"{value:.2f}"
    if text[-1] != "0":  # most coordinates: nothing to strip
        return text
    text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def label_number(value: float, unit: str = "") -> str:
    """A value for a label: up to 4 significant digits, thousands grouped."""
    if not _finite(value):
        return "n/a"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.3g}{unit}"
    text = f"{value:,.4g}" if abs(value) >= 1000 else f"{value:.4g}"
    return f"{text}{unit}"


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (steps of 1, 2 or 5 times a power of ten) covering ``[lo, hi]``."""
    if not _finite(lo, hi):
        return []
    if hi < lo:
        lo, hi = hi, lo
    if hi == lo:
        span = abs(lo) or 1.0
        lo, hi = lo - span / 2, hi + span / 2
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    value = start
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 12))
    return ticks


class _Scale:
    """A linear map from ``[lo, hi]`` to ``[start, end]`` pixels."""

    def __init__(self, lo: float, hi: float, start: float, end: float) -> None:
        self.lo, self.hi, self.start, self.end = lo, hi, start, end

    def __call__(self, value: float) -> float:
        if self.hi == self.lo:
            return (self.start + self.end) / 2
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def _coordinates(
    points: Sequence[tuple[float, float]],
    x_scale: _Scale,
    y_scale: _Scale,
    x_text: dict[float, str],
) -> str:
    """``x,y x,y ...`` in pixels: ``_num(x_scale(x))`` and ``_num(y_scale(y))`` per point, for
    the thousands of points of a page's charts: the scales' arithmetic inlined (the same
    operations in the same order, so the same numbers), and each x's text made once in
    ``x_text`` (a chart's lines and band share their x values, e.g. days)."""
    num = _num
    x_lo, x_span = x_scale.lo, x_scale.hi - x_scale.lo
    x_start, x_width = x_scale.start, x_scale.end - x_scale.start
    y_lo, y_span = y_scale.lo, y_scale.hi - y_scale.lo
    y_start, y_height = y_scale.start, y_scale.end - y_scale.start
    if x_span == 0 or y_span == 0:  # a flat scale maps everything to its middle
        return " ".join(f"{num(x_scale(x))},{num(y_scale(y))}" for x, y in points)
    for x, _ in points:
        if x not in x_text:
            x_text[x] = num(x_start + (x - x_lo) / x_span * x_width)
    return " ".join(
        [f"{x_text[x]},{num(y_start + (y - y_lo) / y_span * y_height)}" for x, y in points]
    )


def _svg(width: int, height: int, title: str, desc: str, body: list[str]) -> Markup:
    content = "".join(body)
    ident = "c" + hashlib.sha256(f"{title}\0{desc}\0{content}".encode()).hexdigest()[:10]
    head = (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{escape(title)}</title><desc id="{ident}-d">{escape(desc)}</desc>'
    )
    return Markup(head + content + "</svg>")  # noqa: S704 - every text above is escaped


def _empty(title: str, width: int) -> Markup:
    text = f'<text x="{width // 2}" y="30" text-anchor="middle">No data</text>'
    return _svg(width, 50, title, "No data to show.", [text])


def _x_axis(scale: _Scale, ticks: list[float], top: float, bottom: float, unit: str) -> list[str]:
    out = []
    for tick in ticks:
        x = _num(scale(tick))
        out.append(f'<line class="grid" x1="{x}" y1="{_num(top)}" x2="{x}" y2="{_num(bottom)}"/>')
        out.append(
            f'<text x="{x}" y="{_num(bottom + 16)}" text-anchor="middle">'
            f"{escape(label_number(tick, unit))}</text>"
        )
    return out


def bar_chart(
    bars: Sequence[tuple[str, float]], *, title: str, width: int = 640, unit: str = ""
) -> Markup:
    """Horizontal bars from zero, one row per ``(label, value)``."""
    rows = [(label, value) for label, value in bars if _finite(value)]
    if not rows:
        return _empty(title, width)
    values = [v for _, v in rows]
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    scale = _Scale(ticks[0], ticks[-1], LABEL_WIDTH, width - PAD)
    plot_bottom = PAD + ROW_HEIGHT * len(rows)
    body = _x_axis(scale, ticks, PAD, plot_bottom, unit)
    zero = scale(0.0)
    for i, (label, value) in enumerate(rows):
        y = PAD + i * ROW_HEIGHT
        x0, x1 = sorted((zero, scale(value)))
        body.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{_num(y + ROW_HEIGHT / 2 + 4)}" '
            f'text-anchor="end">{escape(label)}</text>'
        )
        body.append(
            f'<rect class="bar" x="{_num(x0)}" y="{_num(y + 5)}" width="{_num(max(x1 - x0, 1))}" '
            f'height="{ROW_HEIGHT - 10}"><title>{escape(label)}: '
            f"{escape(label_number(value, unit))}</title></rect>"
        )
    body.append(
        f'<line class="axis" x1="{_num(zero)}" y1="{PAD}" x2="{_num(zero)}" y2="{plot_bottom}"/>'
    )
    desc = "; ".join(f"{label}: {label_number(v, unit)}" for label, v in rows)
    return _svg(width, plot_bottom + 26, title, desc, body)


def interval_chart(
    rows: Sequence[Interval], *, title: str, width: int = 640, unit: str = ""
) -> Markup:
    """One row per interval: the estimate as a dot on its ``[low, high]`` line, and zero."""
    kept = [r for r in rows if _finite(r.estimate, r.low, r.high)]
    if not kept:
        return _empty(title, width)
    lo = min(0.0, *(r.low for r in kept))
    hi = max(0.0, *(r.high for r in kept))
    ticks = nice_ticks(lo, hi)
    scale = _Scale(ticks[0], ticks[-1], LABEL_WIDTH, width - PAD)
    plot_bottom = PAD + ROW_HEIGHT * len(kept)
    body = _x_axis(scale, ticks, PAD, plot_bottom, unit)
    zero = _num(scale(0.0))
    body.append(f'<line class="zero" x1="{zero}" y1="{PAD}" x2="{zero}" y2="{plot_bottom}"/>')
    for i, row in enumerate(kept):
        y = PAD + i * ROW_HEIGHT + ROW_HEIGHT / 2
        low, high = sorted((row.low, row.high))
        side = " positive" if low > 0 else " negative" if high < 0 else ""
        words = (
            f"{row.label}: {label_number(row.estimate, unit)} "
            f"[{label_number(low, unit)}, {label_number(high, unit)}]"
        )
        body.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{_num(y + 4)}" text-anchor="end">'
            f"{escape(row.label)}</text>"
        )
        body.append(
            f'<g><title>{escape(words)}</title><line class="interval{side}" '
            f'x1="{_num(scale(low))}" y1="{_num(y)}" x2="{_num(scale(high))}" y2="{_num(y)}"/>'
            f'<circle class="point" cx="{_num(scale(row.estimate))}" cy="{_num(y)}" r="4"/></g>'
        )
    desc = "; ".join(
        f"{r.label}: {label_number(r.estimate, unit)} from {label_number(min(r.low, r.high), unit)}"
        f" to {label_number(max(r.low, r.high), unit)}"
        for r in kept
    )
    return _svg(width, plot_bottom + 26, title, desc, body)


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    band: Sequence[tuple[float, float, float]] = (),
    width: int = 640,
    height: int = 260,
    unit: str = "",
) -> Markup:
    """Lines of ``(x, y)`` points over an optional band of ``(x, low, high)``."""
    lines = [(s.name, sorted(_finite_points(s.points))) for s in series]
    lines = [(name, points) for name, points in lines if points]
    shade = sorted(  # (x, low, high): ``_finite(x, a, b)`` and ``sorted((a, b))``, inlined
        (x, a, b) if a <= b else (x, b, a)
        for x, a, b in band
        if isinstance(x, _NUMBER) and isinstance(a, _NUMBER) and isinstance(b, _NUMBER)
        and _isfinite(x) and _isfinite(a) and _isfinite(b)
    )  # fmt: skip
    xs = [x for _, pts in lines for x, _ in pts] + [x for x, _, _ in shade]
    ys = [y for _, pts in lines for _, y in pts] + [v for _, a, b in shade for v in (a, b)]
    if not xs:
        return _empty(title, width)
    y_ticks = nice_ticks(min(ys), max(ys))
    left, bottom = 56, height - 28
    x_scale = _Scale(min(xs), max(xs), left, width - PAD)
    y_scale = _Scale(y_ticks[0], y_ticks[-1], bottom, PAD)
    body = []
    for tick in y_ticks:
        y = _num(y_scale(tick))
        body.append(f'<line class="grid" x1="{left}" y1="{y}" x2="{width - PAD}" y2="{y}"/>')
        body.append(
            f'<text x="{left - 6}" y="{y}" text-anchor="end" dominant-baseline="middle">'
            f"{escape(label_number(tick, unit))}</text>"
        )
    for tick in nice_ticks(min(xs), max(xs)):
        if min(xs) <= tick <= max(xs):
            body.append(
                f'<text x="{_num(x_scale(tick))}" y="{bottom + 18}" text-anchor="middle">'
                f"{escape(label_number(tick))}</text>"
            )
    x_text: dict[float, str] = {}
    if len(shade) >= 2:
        upper = _coordinates([(x, h) for x, _, h in shade], x_scale, y_scale, x_text)
        lower = _coordinates([(x, lo) for x, lo, _ in reversed(shade)], x_scale, y_scale, x_text)
        body.append(f'<polygon class="band" points="{upper} {lower}"/>')
    body.append(f'<line class="axis" x1="{left}" y1="{bottom}" x2="{width - PAD}" y2="{bottom}"/>')
    body.append(f'<line class="axis" x1="{left}" y1="{PAD}" x2="{left}" y2="{bottom}"/>')
    for i, (name, points) in enumerate(lines):
        path = _coordinates(points, x_scale, y_scale, x_text)
        body.append(
            f'<polyline class="line series-{i}" points="{path}"><title>{escape(name)}</title>'
            "</polyline>"
        )
    desc = "; ".join(
        f"{name}: {len(points)} points, last {label_number(points[-1][1], unit)}"
        for name, points in lines
    )
    if shade:
        desc += f"; band from {label_number(shade[-1][1], unit)} to "
        desc += f"{label_number(shade[-1][2], unit)} at the end"
    return _svg(width, height, title, desc, body)
