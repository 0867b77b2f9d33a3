"""SVG charts of the results pages, drawn by the server (no script, no inline style): the
per-row lift bar against zero, lift over time with its interval band, traffic per day."""

from __future__ import annotations

from markupsafe import Markup, escape

from avsb.server.dashboard.charts import Series, line_chart
from avsb.server.dashboard.views.results_view import Bar, LiftSeries

BAR_WIDTH = 100  # the view box; the bar's geometry is in percent of it
BAR_HEIGHT = 16
_SHADES = {"good": " positive", "bad": " negative", "neutral": ""}  # the charts' CSS classes


def lift_bar(bar: Bar, words: str) -> Markup:
    """An interval as a line against the zero line, its estimate a dot; open ends arrowed.
    ``words`` (the interval in text) is its accessible name."""
    y = BAR_HEIGHT / 2
    shade = _SHADES[bar.tone]
    parts = [
        f'<line class="zero" x1="{bar.zero}" y1="1" x2="{bar.zero}" y2="{BAR_HEIGHT - 1}"/>',
        f'<line class="interval{shade}" x1="{bar.low}" y1="{y}" x2="{bar.high}" y2="{y}"/>',
        f'<circle class="point" cx="{bar.point}" cy="{y}" r="2.5"/>',
    ]
    if bar.open_low:
        parts.append(f'<path class="interval{shade}" d="M3 {y - 3} L0 {y} L3 {y + 3}"/>')
    if bar.open_high:
        parts.append(f'<path class="interval{shade}" d="M97 {y - 3} L100 {y} L97 {y + 3}"/>')
    head = (
        f'<svg class="chart lift-bar" viewBox="0 0 {BAR_WIDTH} {BAR_HEIGHT}"'
        f' width="{BAR_WIDTH * 1.6:g}" height="{BAR_HEIGHT * 1.6:g}" role="img"'
        f' aria-label="{escape(words)}" preserveAspectRatio="none">'
    )
    body = f"<title>{escape(words)}</title>{''.join(parts)}</svg>"
    return Markup(head + body)  # noqa: S704 - the only text, the words, is escaped


def lift_over_time(found: LiftSeries, name: str) -> Markup:
    """Cumulative lift by day per treatment, the first treatment's interval as a band."""
    unit = "%" if found.relative else ""
    series = [Series(variant, points) for variant, points in found.lines.items()]
    title = (
        f"Cumulative lift of {name} by day of first exposure ({found.days[0]} to {found.days[-1]})"
    )
    return line_chart(series, title=title, band=found.band, unit=unit)


def traffic(days: list[str], daily: dict[str, list[int]]) -> Markup:
    """Units newly exposed per variant and day."""
    series = [
        Series(variant, [(float(i), float(n)) for i, n in enumerate(counts)])
        for variant, counts in daily.items()
    ]
    span = f" ({days[0]} to {days[-1]})" if days else ""
    return line_chart(series, title=f"Units first exposed per variant and day{span}")
