"""The dashboard's SVG charts: pure functions, checked on the markup they return."""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from avsb.server.dashboard.charts import (
    Interval,
    Series,
    bar_chart,
    interval_chart,
    label_number,
    line_chart,
    nice_ticks,
)

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))  # well-formed XML, or this raises


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [
        (0, 7.3, [0, 2, 4, 6, 8]),
        (-0.031, 0.012, [-0.04, -0.03, -0.02, -0.01, 0.0, 0.01, 0.02]),
        (0, 100, [0, 20, 40, 60, 80, 100]),
        (10, 0, [0, 2, 4, 6, 8, 10]),
    ],
)
def test_nice_ticks__round_steps_covering_the_range(
    lo: float, hi: float, expected: list[float]
) -> None:
    ticks = nice_ticks(lo, hi)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= min(lo, hi)
    assert ticks[-1] >= max(lo, hi)


def test_nice_ticks__a_single_value_and_non_finite() -> None:
    ticks = nice_ticks(5, 5)
    assert ticks[0] < 5 < ticks[-1]
    assert nice_ticks(0, math.nan) == []
    assert nice_ticks(-math.inf, 1) == []


def test_label_number() -> None:
    assert label_number(0.1234567) == "0.1235"
    assert label_number(12345.6) == "1.235e+04"
    assert label_number(1234.5, "%") == "1,234%"
    assert label_number(2e-5) == "2e-05"
    assert label_number(math.nan) == "n/a"


def test_bar_chart__bars_from_zero_scaled_and_labelled() -> None:
    svg = parse(bar_chart([("A", 3.0), ("B", -1.5)], title="Conversions"))
    assert svg.get("role") == "img"
    assert svg.find("s:title", NS).text == "Conversions"  # type: ignore[union-attr]
    assert svg.find("s:desc", NS).text == "A: 3; B: -1.5"  # type: ignore[union-attr]
    bars = svg.findall("s:rect", NS)
    assert [b.get("class") for b in bars] == ["bar", "bar"]
    widths = [float(b.get("width", "0")) for b in bars]
    assert widths[0] == pytest.approx(2 * widths[1])  # 3 is twice 1.5
    zero = next(ln for ln in svg.findall("s:line", NS) if ln.get("class") == "axis")
    # A positive bar starts at zero, a negative one ends there.
    assert float(bars[0].get("x", "0")) == pytest.approx(float(zero.get("x1", "0")))
    end = float(bars[1].get("x", "0")) + widths[1]
    assert end == pytest.approx(float(zero.get("x1", "0")))


def test_charts__labels_are_escaped_and_nothing_executable() -> None:
    name = "<script>alert(1)</script> & co"
    for markup in (
        bar_chart([(name, 1.0)], title=name),
        interval_chart([Interval(name, 0.1, 0.0, 0.2)], title=name),
        line_chart([Series(name, [(0, 1), (1, 2)])], title=name),
    ):
        text = str(markup)
        assert "<script" not in text
        assert "&lt;script&gt;" in text
        assert not re.search(r"\son\w+=|style=", text)
        parse(markup)


def test_interval_chart__classes_by_side_of_zero_and_positions() -> None:
    rows = [
        Interval("up", 0.02, 0.01, 0.03),
        Interval("down", -0.02, -0.03, -0.01),
        Interval("unclear", 0.0, -0.01, 0.01),
    ]
    svg = parse(interval_chart(rows, title="Lift", unit="%"))
    lines = list(svg.iter("{http://www.w3.org/2000/svg}line"))
    intervals = [ln for ln in lines if (ln.get("class") or "").startswith("interval")]
    assert [ln.get("class") for ln in intervals] == [
        "interval positive", "interval negative", "interval"
    ]  # fmt: skip
    zero = next(ln for ln in lines if ln.get("class") == "zero")
    zero_x = float(zero.get("x1", "0"))
    assert float(intervals[0].get("x1", "0")) > zero_x
    assert float(intervals[1].get("x2", "0")) < zero_x
    points = list(svg.iter("{http://www.w3.org/2000/svg}circle"))
    assert float(points[2].get("cx", "0")) == pytest.approx(zero_x)
    assert "up: 0.02% from 0.01% to 0.03%" in (svg.find("s:desc", NS).text or "")  # type: ignore[union-attr]


def test_line_chart__band_polygon_and_lines_inside_the_plot() -> None:
    svg = parse(
        line_chart(
            [Series("lift", [(1, 0.1), (2, 0.2), (3, math.nan), (4, 0.15)])],
            band=[(1, -0.2, 0.4), (2, -0.1, 0.35), (4, 0.0, 0.3)],
            title="Lift over time",
            width=400,
            height=200,
        )
    )
    band = svg.find("s:polygon", NS)
    assert band is not None
    assert band.get("class") == "band"
    assert len((band.get("points") or "").split()) == 6  # upper edge, then lower edge back
    line = svg.find("s:polyline", NS)
    assert line is not None
    coords = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(coords) == 3  # the NaN point is left out
    assert all(0 <= x <= 400 and 0 <= y <= 200 for x, y in coords)
    assert coords[0][0] < coords[1][0] < coords[2][0]
    assert coords[1][1] < coords[0][1]  # higher value, higher on the page (smaller y)


def test_empty_and_non_finite_data__no_data_chart() -> None:
    for markup in (
        bar_chart([], title="t"),
        bar_chart([("a", math.nan)], title="t"),
        interval_chart([Interval("a", math.inf, 0, 1)], title="t"),
        line_chart([Series("a", [])], title="t"),
    ):
        svg = parse(markup)
        assert svg.find("s:desc", NS).text == "No data to show."  # type: ignore[union-attr]


def test_two_charts_have_distinct_ids() -> None:
    a = parse(bar_chart([("a", 1.0)], title="t"))
    b = parse(bar_chart([("a", 2.0)], title="t"))
    assert a.get("aria-labelledby") != b.get("aria-labelledby")
