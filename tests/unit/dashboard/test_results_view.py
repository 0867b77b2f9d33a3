"""The results page's view model: numbers, interval bars against zero, labels, the decision
and the SRM diagnosis in words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from avsb.server.dashboard.views import results_view as rv
from avsb.server.results.schemas import MetricError, ResultsOut
from avsb.server.tools.schemas import ComparisonResult

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


def comparison(**overrides: Any) -> ComparisonResult:
    values: dict[str, Any] = {
        "variant": "treatment", "estimate": 0.1, "standard_error": 0.02, "ci": (0.05, 0.15),
        "p_value": 0.0004, "adjusted_p_value": 0.0008, "chance_to_win": None,
        "risk_control": None, "risk_variant": None, "significant": True,
        "difference_type": "relative", "test": "welch_t",
    }  # fmt: skip
    return ComparisonResult(**{**values, **overrides})


def variant(key: str, n: int, mean: float) -> dict[str, Any]:
    return {"key": key, "n": n, "sum": n * mean, "mean": mean, "adjusted_mean": None,
            "standard_error": 0.01}  # fmt: skip


def results(**overrides: Any) -> ResultsOut:
    check = {"status": "ok", "count": 0, "share": 0.0, "message": "fine"}
    metric = {
        "metric_id": "met_1", "key": "conversion", "name": "Conversion <b>", "role": "primary",
        "type": "binomial", "lower_is_better": False, "adjustment": "cuped",
        "cuped": {"applied": True, "variance_reduction": 0.234, "covariate": "pre_period"},
        "stratification": {"applied": False, "cells": 0, "variance_reduction": None,
                           "reason": None},
        "variants": [variant("control", 1000, 0.1), variant("treatment", 1000, 0.11)],
        "comparisons": [comparison().model_dump()],
        "correction": {"method": "holm", "family_size": 2, "interval_alpha": 0.025,
                       "family": "primary"},
        "error": None,
    }  # fmt: skip
    payload: dict[str, Any] = {
        "experiment_id": "exp_1", "experiment_key": "exp", "computed_at": NOW.isoformat(),
        "segment": None, "method": "frequentist", "alpha": 0.05,
        "sequential_tuning_parameter": None,
        "srm": {"p_value": 0.5, "sequential_p_value": None, "srm_detected": False,
                "observed": [1000, 1000], "expected": [1000.0, 1000.0], "weights": [0.5, 0.5]},
        "metrics": [metric], "holdout": None,
        "health": {"assigned_units": 2000, "analysed_units": 2000,
                   "srm": {"status": "ok", "p_value": 0.5, "message": "ok", "diagnosis": None},
                   "multiple_variant_units": check, "exclusions": check, "bot_units": check,
                   "late_events": check},
        "decision": {"decision": "ship", "variant": "treatment", "computed_at": NOW.isoformat(),
                     "reasons": [{"code": "significant_win", "message": "treatment wins.",
                                  "metric": "conversion", "variant": "treatment"}]},
    }  # fmt: skip
    payload.update(overrides)
    return ResultsOut.model_validate(payload)


class TestFormatting:
    @pytest.mark.parametrize(
        ("value", "text"),
        [(None, "—"), (float("nan"), "—"), (0.0, "0"), (0.123456, "0.1235"), (12345.6, "12,346"),
         (-2.5, "-2.5")],
    )  # fmt: skip
    def test_number(self, value: float | None, text: str) -> None:
        assert rv.number(value) == text

    def test_percent__signed(self) -> None:
        assert rv.percent(0.052, signed=True) == "+5.2%"
        assert rv.percent(-0.052, signed=True) == "-5.2%"

    def test_p_value__small_is_bounded(self) -> None:
        assert rv.p_value(0.0001) == "< 0.001"
        assert rv.p_value(0.0123) == "0.012"

    @pytest.mark.parametrize(
        ("delta", "text"),
        [(timedelta(seconds=5), "just now"), (timedelta(minutes=1), "1 minute ago"),
         (timedelta(hours=3, minutes=5), "3 hours ago"), (timedelta(days=2), "2 days ago")],
    )  # fmt: skip
    def test_age(self, delta: timedelta, text: str) -> None:
        assert rv.age(NOW - delta, NOW) == text


class TestBar:
    def test_positive_interval__right_of_zero(self) -> None:
        c = comparison(estimate=0.1, ci=(0.05, 0.15))
        span = rv.axis_span([c])

        found = rv.bar(c, span, lower_is_better=False)

        assert span == pytest.approx(0.165)
        assert found.zero == 50.0
        assert 50.0 < found.low < found.point < found.high <= 100.0
        assert found.tone == "good"

    def test_interval_across_zero__straddles_it(self) -> None:
        c = comparison(estimate=0.01, ci=(-0.04, 0.06), significant=False)

        found = rv.bar(c, rv.axis_span([c]), lower_is_better=False)

        assert found.low < 50.0 < found.high
        assert found.tone == "neutral"

    def test_lower_is_better__a_drop_is_good(self) -> None:
        c = comparison(estimate=-0.1, ci=(-0.15, -0.05))
        assert rv.bar(c, rv.axis_span([c]), lower_is_better=True).tone == "good"
        assert rv.significance(c, True, "guardrail") == "Guardrail holds"
        assert rv.significance(c, False, "guardrail") == "Guardrail violated"

    def test_unbounded_side__open_at_the_edge(self) -> None:
        c = comparison(estimate=0.1, ci=(0.02, None))

        found = rv.bar(c, rv.axis_span([c]), lower_is_better=False)

        assert found.high == 100.0
        assert found.open_high
        assert not found.open_low


class TestResultsView:
    def test_rows__lifts_interval_and_labels(self) -> None:
        view = rv.results_view(results(), ["control", "treatment"], NOW + timedelta(minutes=7))

        (metric,) = view.metrics
        control, treatment = metric.rows
        assert view.age == "7 minutes ago"
        assert control.control
        assert control.label == "Control"
        assert control.bar is None
        assert treatment.units == "1,000"
        assert treatment.mean == "0.11"
        assert treatment.absolute == "+0.01"
        assert treatment.relative == "+10.0%"
        assert treatment.interval == "[+5.0%, +15.0%]"
        assert treatment.test_stat == "p = < 0.001"
        assert treatment.adjusted_p == "< 0.001"
        assert treatment.label == "Significant improvement"
        assert metric.variance == "CUPED on (pre-period): removed 23.4% of the variance"
        assert metric.correction == "holm over 2 primary comparisons"

    def test_bayesian__chance_to_win_and_risk(self) -> None:
        c = comparison(p_value=None, adjusted_p_value=None, chance_to_win=0.971,
                       risk_control=0.02, risk_variant=0.001)  # fmt: skip
        out = results()
        out.metrics[0].comparisons = [c]

        row = rv.metric_view(out.metrics[0]).rows[1]

        assert row.test_stat == "chance to win 97.1%"
        assert row.risk == "0.1% (control 2.0%)"

    def test_decision__ship_the_variant_with_reasons(self) -> None:
        view = rv.results_view(results(), ["control", "treatment"], NOW)

        assert view.decision == rv.DecisionView(
            "Ship treatment", "good", "treatment", ["treatment wins."]
        )

    def test_no_srm__no_banner(self) -> None:
        assert rv.results_view(results(), ["control", "treatment"], NOW).srm is None

    def test_srm__banner_names_the_day_and_the_attribute(self) -> None:
        out = results()
        diagnosis = {
            "by_day": [{"group": "2026-11-30", "observed": [700, 300], "chi2": 160.0,
                        "p_value": 1e-9}],
            "by_attribute": {"platform": [{"group": "ios", "observed": [400, 100],
                                           "chi2": 180.0, "p_value": 1e-9}]},
        }  # fmt: skip
        out.health.srm = out.health.srm.model_validate(
            {
                "status": "error",
                "p_value": 1e-6,
                "message": "Sample ratio mismatch.",
                "diagnosis": diagnosis,
            }
        )

        view = rv.results_view(out, ["control", "treatment"], NOW)

        assert view.srm == rv.SrmView(
            "Sample ratio mismatch.",
            ["Day 2026-11-30: control 700, treatment 300 (p = < 0.001)"],
            ["Attribute platform = ios: control 400, treatment 100 (p = < 0.001)"],
        )
        assert ("error", "Sample ratio mismatch.") in view.warnings

    def test_metric_error__shown_without_rows_of_lift(self) -> None:
        out = results()
        out.metrics[0].comparisons = []
        out.metrics[0].error = MetricError(code="no_units", message="No units analysed yet.")

        found = rv.metric_view(out.metrics[0])

        assert found.error == "No units analysed yet."
        assert [r.relative for r in found.rows] == ["—", "—"]
