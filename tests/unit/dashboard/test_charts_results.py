"""The results page's SVG: the lift bar against zero, lift over time, traffic per day."""

from __future__ import annotations

from datetime import UTC, date, datetime

import msgspec
import pytest

from avsb.server.dashboard import charts_results
from avsb.server.dashboard.views import results_view as rv
from avsb.server.results.schemas import MetricSeries, TimePoint, TimeseriesOut
from avsb.server.tools.schemas import ComparisonResult


def comparison(estimate: float, low: float, high: float) -> ComparisonResult:
    return ComparisonResult(
        variant="treatment", estimate=estimate, standard_error=0.01, ci=(low, high),
        p_value=0.01, adjusted_p_value=None, chance_to_win=None, risk_control=None,
        risk_variant=None, significant=low > 0, difference_type="relative", test="welch_t",
    )  # fmt: skip


def test_lift_bar__interval_line_zero_and_escaped_words() -> None:
    c = comparison(0.1, 0.05, 0.15)
    bar = rv.bar(c, rv.axis_span([c]), lower_is_better=False)

    svg = str(charts_results.lift_bar(bar, "treatment: <b>+10%</b>"))

    assert f'x1="{bar.low}"' in svg
    assert f'x2="{bar.high}"' in svg
    assert 'class="interval positive"' in svg
    assert '<line class="zero" x1="50.0"' in svg
    assert "<b>" not in svg
    assert "&lt;b&gt;+10%&lt;/b&gt;" in svg
    assert "style=" not in svg


def _series() -> MetricSeries:
    points = [
        TimePoint(date=date(2026, 11, day), adjustment="none", variants=[
            {"key": "control", "n": 100 * day, "sum": 10.0 * day, "mean": 0.1,
             "adjusted_mean": None, "standard_error": 0.01},
            {"key": "treatment", "n": 90 * day, "sum": 12.0 * day, "mean": 0.13,
             "adjusted_mean": None, "standard_error": 0.01}],
            comparisons=[comparison(0.3, 0.1 / day, 0.5)])
        for day in (1, 2, 3)
    ]  # fmt: skip
    return MetricSeries(metric_id="met_1", key="conversion", role="primary", points=points)


def test_lift_series__percent_points_and_band() -> None:
    found = rv.lift_series(_series())

    assert found is not None
    assert found.days == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert found.lines["treatment"] == [(0.0, 30.0), (1.0, 30.0), (2.0, 30.0)]
    assert found.band[1] == (1.0, 5.0, 50.0)
    svg = str(charts_results.lift_over_time(found, "Conversion"))
    assert 'class="band"' in svg
    assert "Cumulative lift of Conversion" in svg


def test_daily_units__differences_of_the_cumulative_counts() -> None:
    days, daily = rv.daily_units([_series()])

    assert days == ["2026-11-01", "2026-11-02", "2026-11-03"]
    assert daily == {"control": [100, 100, 100], "treatment": [90, 90, 90]}
    assert "<svg" in str(charts_results.traffic(days, daily))


def _stored_json(series: MetricSeries) -> str:
    """A snapshot's stored series, as the refresh stores it (``TimeseriesOut`` as JSON)."""
    out = TimeseriesOut(experiment_id="exp_1", computed_at=datetime(2026, 11, 3, tzinfo=UTC),
                        segment=None, metrics=[series])  # fmt: skip
    return out.model_dump_json()


def test_decode_series__the_charts_of_the_stored_json_equal_the_models() -> None:
    model = _series()

    decoded = rv.decode_series(_stored_json(model))

    assert decoded is not None
    assert [(s.metric_id, s.key, s.role) for s in decoded] == [("met_1", "conversion", "primary")]
    assert rv.lift_series(decoded[0]) == rv.lift_series(model)
    assert rv.daily_units(decoded) == rv.daily_units([model])


def test_decode_series__null_is_none__malformed_refused() -> None:
    assert rv.decode_series("null") is None
    broken = _stored_json(_series()).replace('"estimate":0.3', '"estimate":"high"')
    with pytest.raises(msgspec.ValidationError, match="estimate"):
        rv.decode_series(broken)
