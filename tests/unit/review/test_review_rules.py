"""The review rules: each check fires on the design it is about and stays quiet otherwise."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from scipy import stats as sps

from avsb.server.review import rules
from avsb.stats import power

GOOD_HYPOTHESIS = "If we make the button green, then purchase will increase because it stands out."


def design(**overrides: Any) -> rules.Design:
    """A sound design: every rule passes; the power check reports power_ok."""
    values: dict[str, Any] = {
        "hypothesis": GOOD_HYPOTHESIS,
        "variants": (
            rules.VariantPlan("control", 50, {"color": "grey"}),
            rules.VariantPlan("treatment", 50, {"color": "green"}),
        ),
        "metrics": (
            rules.MetricPlan("purchase", "primary", "binary", "metrics.0", baseline_value=0.1),
            rules.MetricPlan("errors", "guardrail", "count", "metrics.1", lower_is_better=True),
        ),
        "analysis": rules.AnalysisPlan(mde_pct=10),
        "expected_daily_units": 10_000,
        "planned_duration_days": 14,
    }
    values.update(overrides)
    return rules.Design(**values)


def analysis(**changes: Any) -> rules.AnalysisPlan:
    return dataclasses.replace(rules.AnalysisPlan(mde_pct=10), **changes)


def codes(d: rules.Design) -> list[str]:
    return [f.code for f in rules.review(d).findings]


def only(d: rules.Design, code: str) -> rules.Finding:
    (found,) = [f for f in rules.review(d).findings if f.code == code]
    return found


def test_review__sound_design__ready_with_only_power_ok() -> None:
    result = rules.review(design())
    assert [f.code for f in result.findings] == ["power_ok"]
    assert result.status == "ready"
    assert result.counts == {"error": 0, "warning": 0, "info": 1}


class TestPower:
    def test_sizing__matches_the_textbook_two_proportion_formula(self) -> None:
        # n per arm = (z_{1-a/2} + z_{power})^2 (p1 q1 + p2 q2) / delta^2 (Fleiss et al. 2003)
        z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
        textbook = z**2 * (0.1 * 0.9 + 0.11 * 0.89) / 0.01**2
        found = only(design(), "power_ok").details
        assert found["required_per_variant"][0] == pytest.approx(textbook, rel=0.002)
        assert found["available_total"] == 140_000

    def test_underpowered__far_too_few_units__error_with_numbers(self) -> None:
        found = only(design(expected_daily_units=500), "underpowered")
        assert found.severity == "error"
        assert found.field == "analysis.mde_pct"
        need = found.details["required_total"]
        assert found.details["available_total"] == 7000
        assert f"{need:,}" in found.message
        assert "7,000" in found.message
        # With 7,000 units only a larger lift is detectable, computed by the stats sensitivity.
        assert found.details["detectable_mde_pct"] > 10
        baseline = power.Baseline("binary", 0.1)
        traffic = power.Traffic(2, (50, 50), 500, 1.0)
        expected = power.sensitivity(baseline, traffic, 14, power.PowerConfig()).mde_relative
        assert expected is not None
        assert found.details["detectable_mde_pct"] == pytest.approx(expected * 100)

    def test_underpowered__somewhat_short__warning(self) -> None:
        need = only(design(), "power_ok").details["required_total"]
        found = only(design(expected_daily_units=0.75 * need / 14), "underpowered")
        assert found.severity == "warning"

    def test_underpowered__traffic_percent_counts(self) -> None:
        # 10,000 a day but only 5% of it enters the test: 7,000 units in 14 days.
        assert "underpowered" in codes(design(traffic_percent=5))

    def test_underpowered__planned_sample_size_below_need__fires_without_traffic(self) -> None:
        d = design(
            expected_daily_units=None,
            planned_duration_days=None,
            analysis=analysis(planned_sample_size=1000),
        )
        found = only(d, "underpowered")
        assert found.details["available_total"] == 2000

    def test_sample_size__no_traffic__info_with_the_need(self) -> None:
        d = design(expected_daily_units=None, analysis=analysis(planned_sample_size=None))
        found = only(d, "sample_size")
        assert "expected_daily_units" in found.message
        assert found.details["required_days"] is None

    def test_no_mde__warning_with_the_detectable_effect(self) -> None:
        found = only(design(analysis=analysis(mde_pct=None)), "no_mde")
        assert found.severity == "warning"
        assert found.details["detectable_mde_pct"] == pytest.approx(4.6, abs=0.2)

    def test_no_mde__planned_sample_size_alone_gives_the_detectable_effect(self) -> None:
        d = design(
            expected_daily_units=None,
            analysis=analysis(mde_pct=None, planned_sample_size=70_000),
        )
        # 140,000 units in all, as 14 days at 10,000 a day: the same detectable lift.
        found = only(d, "no_mde").details["detectable_mde_pct"]
        assert found == pytest.approx(only(design(analysis=analysis(mde_pct=None)), "no_mde")
                                      .details["detectable_mde_pct"])  # fmt: skip

    def test_underpowered__a_handful_of_units__no_crash(self) -> None:
        found = only(design(expected_daily_units=0.1, planned_duration_days=1), "underpowered")
        assert found.details["detectable_mde_pct"] is None

    def test_baseline_unknown__info_and_no_power_verdict(self) -> None:
        metrics = (rules.MetricPlan("revenue", "primary", "sum", "metrics.0", baseline_value=5),)
        found = codes(design(metrics=metrics))
        assert "baseline_unknown" in found  # a sum needs its std_dev too
        assert "underpowered" not in found
        assert "power_ok" not in found

    def test_continuous_metric__sized_with_std_dev(self) -> None:
        metric = rules.MetricPlan(
            "revenue", "primary", "sum", "metrics.0", baseline_value=20, std_dev=40
        )
        found = only(design(metrics=(metric,), hypothesis=""), "power_ok")
        # n per arm = 2 (z_a + z_b)^2 sd^2 / delta^2 with delta = 10% of 20
        z = sps.norm.ppf(0.975) + sps.norm.ppf(0.8)
        assert found.details["required_per_variant"][0] == pytest.approx(
            2 * z**2 * 40**2 / 2**2, rel=0.002
        )

    def test_power_not_checked__quantile_metric(self) -> None:
        metrics = (rules.MetricPlan("p90", "primary", "quantile", "metrics.0"),)
        assert only(design(metrics=metrics), "power_not_checked").severity == "info"

    def test_impossible_lift__power_not_computed_not_a_crash(self) -> None:
        # A 10% baseline cannot rise by 1,000%: reported, not raised.
        found = only(design(analysis=analysis(mde_pct=1000)), "power_not_computed")
        assert "below 1" in found.message


class TestTooManyVariants:
    @staticmethod
    def four_arms(units_between: float) -> rules.Design:
        variants = tuple(
            rules.VariantPlan(k, 25, {"color": c})
            for k, c in zip(
                ("control", "a", "b", "c"), ("grey", "green", "blue", "red"), strict=True
            )
        )
        return design(variants=variants, expected_daily_units=units_between / 14)

    @staticmethod
    def need(arms: int) -> int:
        traffic = power.Traffic(arms)
        baseline = power.Baseline("binary", 0.1)
        return power.sample_size(baseline, 0.1, traffic, power.PowerConfig()).total_sample_size

    def test_fires_when_fewer_arms_would_fit(self) -> None:
        need2, need4 = self.need(2), self.need(4)
        d = self.four_arms((need2 + need4) / 2)
        found = only(d, "too_many_variants")
        assert found.details["variants"] == 4
        assert 2 <= found.details["variants_that_fit"] <= 3
        assert "0.0167" in found.message  # alpha 0.05 split over 3 comparisons
        assert "underpowered" in codes(d)

    def test_quiet_with_enough_traffic(self) -> None:
        assert "too_many_variants" not in codes(self.four_arms(2 * self.need(4)))

    def test_quiet_when_even_two_arms_would_not_fit(self) -> None:
        d = self.four_arms(self.need(2) / 2)
        assert "too_many_variants" not in codes(d)
        assert "underpowered" in codes(d)

    def test_quiet_for_two_variants(self) -> None:
        assert "too_many_variants" not in codes(design(expected_daily_units=500))


class TestMetrics:
    def test_no_guardrail(self) -> None:
        metrics = design().metrics[:1]
        found = only(design(metrics=metrics), "no_guardrail")
        assert (found.severity, found.field) == ("warning", "metrics")

    def test_no_primary_metric__error(self) -> None:
        metrics = design().metrics[1:]
        assert only(design(metrics=metrics), "no_primary_metric").severity == "error"
        assert rules.review(design(metrics=metrics)).status == "blocked"

    def test_many_primary_metrics__info(self) -> None:
        extra = rules.MetricPlan("signup", "primary", "binary", "metrics.2")
        assert "many_primary_metrics" in codes(design(metrics=(*design().metrics, extra)))


class TestDirection:
    bounce = rules.MetricPlan(
        "bounce_rate", "primary", "binary", "metrics.0", lower_is_better=True, baseline_value=0.4
    )
    guard = rules.MetricPlan("errors", "guardrail", "count", "metrics.1")

    def test_hypothesis_expects_a_rise_in_a_lower_is_better_metric__warning(self) -> None:
        text = "If we autoplay the video, then bounce rate will increase because it distracts."
        found = only(
            design(metrics=(self.bounce, self.guard), hypothesis=text), "primary_direction"
        )
        assert (found.severity, found.field) == ("warning", "metrics.0")
        assert found.details == {"expected": "increase", "lower_is_better": True}

    def test_one_sided_test_against_the_expected_move__error(self) -> None:
        text = "If we autoplay the video, then bounce rate will increase because it distracts."
        d = design(
            metrics=(self.bounce, self.guard),
            hypothesis=text,
            analysis=analysis(two_sided=False),
        )
        assert only(d, "primary_direction").severity == "error"

    def test_matching_direction__quiet(self) -> None:
        text = "If we speed up the page, then bounce rate will decrease because users wait less."
        assert "primary_direction" not in codes(
            design(metrics=(self.bounce, self.guard), hypothesis=text)
        )

    def test_explicit_expected_direction_wins_over_text(self) -> None:
        metric = dataclasses.replace(self.bounce, expected_direction="increase")
        text = "If we speed up the page, then bounce rate will decrease because users wait less."
        assert "primary_direction" in codes(design(metrics=(metric, self.guard), hypothesis=text))

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "If we lower the price, then purchases will increase because it is cheaper.",
                "increase",
            ),
            ("If we add a step, then sign-ups will drop because it is longer.", "decrease"),
            ("Purchases will go up", "increase"),
            ("Blue is nicer", None),
            ("Some go up and some go down, fewer or more", None),
        ],
    )
    def test_hypothesis_direction(self, text: str, expected: str | None) -> None:
        assert rules.hypothesis_direction(text) == expected


class TestHypothesis:
    def test_empty__warning_naming_every_part(self) -> None:
        found = only(design(hypothesis="  "), "unclear_hypothesis")
        assert found.details["missing"] == ["change", "metric", "direction", "reason"]
        assert "If we <change>" in found.message

    def test_vague__names_what_is_missing(self) -> None:
        found = only(design(hypothesis="Blue converts better"), "unclear_hypothesis")
        assert found.details["missing"] == ["change", "metric", "direction", "reason"]

    def test_missing_reason_only(self) -> None:
        text = "If we make the button green, then purchase will increase."
        found = only(design(hypothesis=text), "unclear_hypothesis")
        assert found.details["missing"] == ["reason"]

    def test_metric_named_by_its_name(self) -> None:
        metrics = (
            dataclasses.replace(design().metrics[0], key="met_x", name="Purchase"),
            design().metrics[1],
        )
        assert "unclear_hypothesis" not in codes(design(metrics=metrics))


class TestVariants:
    def test_treatment_equal_to_control__no_op_variant(self) -> None:
        variants = (
            rules.VariantPlan("control", 50, {"color": "grey"}),
            rules.VariantPlan("treatment", 50, {"color": "grey"}),
        )
        found = only(design(variants=variants), "no_op_variant")
        assert (found.field, found.details["variant"]) == ("variants.1.params", "treatment")

    def test_no_params_anywhere__no_op_variant(self) -> None:
        variants = (rules.VariantPlan("control", 50, {}), rules.VariantPlan("b", 50, {}))
        assert "no parameters" in only(design(variants=variants), "no_op_variant").message

    def test_two_equal_treatments__duplicate_variant(self) -> None:
        variants = (
            rules.VariantPlan("control", 34, {"color": "grey"}),
            rules.VariantPlan("a", 33, {"color": "green"}),
            rules.VariantPlan("b", 33, {"color": "green"}),
        )
        found = only(design(variants=variants), "duplicate_variant")
        assert found.details == {"variant": "b", "same_as": "a"}

    def test_distinct_variants__quiet(self) -> None:
        found = codes(design())
        assert "no_op_variant" not in found
        assert "duplicate_variant" not in found


class TestPeeking:
    def test_many_looks_with_a_fixed_horizon__error(self) -> None:
        found = only(design(analysis=analysis(planned_looks=10)), "peeking")
        assert (found.severity, found.field) == ("error", "analysis.planned_looks")

    def test_many_looks_with_the_sequential_method__quiet(self) -> None:
        plan = analysis(planned_looks=10, method="sequential", stopping_rule="sequential")
        assert "peeking" not in codes(design(analysis=plan))

    def test_one_look__quiet(self) -> None:
        assert "peeking" not in codes(design(analysis=analysis(planned_looks=1)))

    def test_no_horizon__peeking_risk(self) -> None:
        d = design(planned_duration_days=None)
        assert only(d, "peeking_risk").severity == "warning"
        assert "peeking_risk" not in codes(design(analysis=analysis(planned_sample_size=5000)))

    def test_bayesian__not_flagged(self) -> None:
        d = design(
            planned_duration_days=None, analysis=analysis(method="bayesian", planned_looks=5)
        )
        assert {"peeking", "peeking_risk"}.isdisjoint(codes(d))


def neighbour(**overrides: Any) -> rules.Neighbour:
    values: dict[str, Any] = {
        "key": "hero_banner",
        "exclusion_group_id": None,
        "audience_id": None,
        "traffic_percent": 100.0,
        "param_keys": frozenset({"headline"}),
        "path": "running_experiments.0",
    }
    values.update(overrides)
    return rules.Neighbour(**values)


class TestCollisions:
    def test_layer_without_room__layer_full_error(self) -> None:
        d = design(
            exclusion_group_id="exg_1",
            traffic_percent=50,
            expected_daily_units=40_000,
            running=(neighbour(exclusion_group_id="exg_1", traffic_percent=70),),
        )
        found = only(d, "layer_full")
        assert found.severity == "error"
        assert found.details["free_percent"] == pytest.approx(30)
        assert "30%" in found.message
        assert "50%" in found.message

    def test_layer_with_room__layer_shared_info(self) -> None:
        d = design(
            exclusion_group_id="exg_1",
            traffic_percent=30,
            expected_daily_units=40_000,
            running=(neighbour(exclusion_group_id="exg_1", traffic_percent=70),),
        )
        assert only(d, "layer_shared").severity == "info"
        assert "layer_full" not in codes(d)

    def test_other_layer_same_params__audience_collision(self) -> None:
        d = design(running=(neighbour(param_keys=frozenset({"color"})),))
        found = only(d, "audience_collision")
        assert found.details["shared_params"] == ["color"]

    def test_other_params__audience_overlap_info(self) -> None:
        assert only(design(running=(neighbour(),)), "audience_overlap").severity == "info"

    def test_different_audiences__quiet(self) -> None:
        d = design(audience_id="aud_us", running=(neighbour(audience_id="aud_de"),))
        found = codes(d)
        assert "audience_overlap" not in found
        assert "audience_collision" not in found

    def test_same_audience__overlap(self) -> None:
        d = design(
            audience_id="aud_us",
            running=(neighbour(audience_id="aud_us", param_keys=frozenset({"color"})),),
        )
        assert "audience_collision" in codes(d)


def test_review__errors_first_then_warnings_then_infos() -> None:
    d = design(
        hypothesis="",
        metrics=(),
        running=(neighbour(),),
        analysis=analysis(planned_looks=3),
    )
    severities = [f.severity for f in rules.review(d).findings]
    assert severities == sorted(severities, key=rules.SEVERITY_ORDER.__getitem__)
    assert severities[0] == "error"
    assert severities[-1] == "info"
