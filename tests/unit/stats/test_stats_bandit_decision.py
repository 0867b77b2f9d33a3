"""Thompson-sampling simulation and the ship / no_ship / keep_running readout."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from avsb.stats import (
    AnalysisOptions,
    BanditConfig,
    Comparison,
    DecisionInput,
    MetricResult,
    SampleMeanStatistic,
    StatsInputError,
    StoppingRule,
    analyze_metric,
    decide,
    simulate_thompson,
    srm_test,
    uniform_regret,
)


class TestBandit:
    def test_same_seed__same_simulation(self) -> None:
        config = BanditConfig(steps=30, batch_size=50)

        first = simulate_thompson([0.1, 0.12, 0.08], config, np.random.default_rng(42))
        second = simulate_thompson([0.1, 0.12, 0.08], config, np.random.default_rng(42))

        assert first == second

    def test_allocation__shares_sum_to_one_and_shift_to_best_arm(self) -> None:
        result = simulate_thompson(
            [0.05, 0.15], BanditConfig(steps=100, batch_size=100), np.random.default_rng(1)
        )

        assert all(sum(step) == pytest.approx(1.0) for step in result.allocation)
        assert result.allocation[-1][1] > 0.9
        assert result.best_arm == 1
        assert sum(result.pulls) == 100 * 100

    def test_regret__cumulative_non_decreasing_and_below_uniform(self) -> None:
        rates = [0.1, 0.12, 0.08]
        config = BanditConfig(steps=200, batch_size=100)

        result = simulate_thompson(rates, config, np.random.default_rng(7))

        regret = np.array(result.cumulative_regret)
        assert np.all(np.diff(regret) >= 0)
        assert regret[-1] < 0.5 * uniform_regret(rates, 200 * 100)

    def test_invalid_rates__raise_with_field(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            simulate_thompson([0.1, 1.5], BanditConfig(), np.random.default_rng(0))

        assert caught.value.field == "true_rates"


def _comparison(index: int, estimate: float, significant: bool) -> Comparison:
    return Comparison(
        variant_index=index,
        estimate=estimate,
        standard_error=0.01,
        ci=(estimate - 0.02, estimate + 0.02),
        p_value=0.01 if significant else 0.4,
        adjusted_p_value=None,
        chance_to_win=None,
        risk_control=None,
        risk_variant=None,
        significant=significant,
        difference_type="relative",
        test="welch_t",
    )


KEYS = ("control", "a", "b")
BALANCED = srm_test([1000, 1000, 1000])
REACHED = StoppingRule("fixed_horizon", planned_sample_size=3000, current_sample_size=3000)


def _inputs(
    primary: tuple[Comparison, ...],
    guardrails: tuple[MetricResult, ...] = (),
    stopping: StoppingRule = REACHED,
    srm_counts: tuple[int, ...] = (1000, 1000, 1000),
) -> DecisionInput:
    return DecisionInput(
        variant_keys=KEYS,
        primary=MetricResult("conversion", primary),
        srm=srm_test(list(srm_counts)),
        stopping=stopping,
        guardrails=guardrails,
    )


class TestDecision:
    def test_significant_winner__horizon_reached__ships_the_best(self) -> None:
        primary = (_comparison(1, 0.03, True), _comparison(2, 0.05, True))

        decision = decide(_inputs(primary))

        assert decision.decision == "ship"
        assert decision.variant == "b"
        assert [r.code for r in decision.reasons].count("primary_improved") == 2

    def test_srm__blocks_everything(self) -> None:
        primary = (_comparison(1, 0.03, True), _comparison(2, 0.05, True))

        decision = decide(_inputs(primary, srm_counts=(1000, 1200, 1000)))

        assert decision.decision == "no_ship"
        assert [r.code for r in decision.reasons] == ["srm_detected"]

    def test_harmed_guardrail__blocks_that_variant(self) -> None:
        primary = (_comparison(1, 0.03, True), _comparison(2, 0.05, True))
        latency = MetricResult(
            "latency", (_comparison(1, 0.0, False), _comparison(2, 0.1, True)), lower_is_better=True
        )

        decision = decide(_inputs(primary, guardrails=(latency,)))

        assert decision.variant == "a"
        harmed = [r for r in decision.reasons if r.code == "guardrail_harmed"]
        assert [(r.metric, r.variant) for r in harmed] == [("latency", "b")]

    def test_fixed_horizon__not_reached__keeps_running_even_if_significant(self) -> None:
        stopping = StoppingRule(
            "fixed_horizon", planned_sample_size=10_000, current_sample_size=3000
        )

        decision = decide(
            _inputs((_comparison(1, 0.03, True), _comparison(2, 0.0, False)), stopping=stopping)
        )

        assert decision.decision == "keep_running"
        assert "sample_size_not_reached" in [r.code for r in decision.reasons]

    def test_sequential__boundary_crossed__ships_early(self) -> None:
        stopping = StoppingRule("sequential", planned_sample_size=10_000, current_sample_size=3000)

        decision = decide(
            _inputs((_comparison(1, 0.03, True), _comparison(2, 0.0, False)), stopping=stopping)
        )

        assert decision.decision == "ship"
        assert "sequential_boundary_crossed" in [r.code for r in decision.reasons]

    def test_sequential__nothing_significant__keeps_running(self) -> None:
        stopping = StoppingRule("sequential", planned_sample_size=None, current_sample_size=3000)

        decision = decide(
            _inputs((_comparison(1, 0.01, False), _comparison(2, 0.0, False)), stopping=stopping)
        )

        assert decision.decision == "keep_running"

    def test_no_winner_at_horizon__no_ship(self) -> None:
        decision = decide(_inputs((_comparison(1, -0.03, True), _comparison(2, 0.01, False))))

        assert decision.decision == "no_ship"
        codes = [r.code for r in decision.reasons]
        assert "primary_worse" in codes
        assert "primary_not_significant" in codes

    def test_every_variant_harmed__no_ship_before_horizon(self) -> None:
        stopping = StoppingRule(
            "fixed_horizon", planned_sample_size=10_000, current_sample_size=3000
        )
        errors = MetricResult(
            "errors", (_comparison(1, 0.2, True), _comparison(2, 0.3, True)), lower_is_better=True
        )

        decision = decide(
            _inputs((_comparison(1, 0.0, False), _comparison(2, 0.0, False)), (errors,), stopping)
        )

        assert decision.decision == "no_ship"


class TestDirectionNeverInverted:
    """Finding 1 of issue #11: a negative control mean must not turn "better" into "worse"."""

    @pytest.mark.parametrize("method", ["frequentist", "bayesian", "sequential"])
    def test_negative_means_higher_is_better__ships(self, method: str) -> None:
        control = SampleMeanStatistic(1000, -4950.0, 4950.0 * 4.95 + 999 * 4.0)
        variant = SampleMeanStatistic(1000, -4000.0, 4000.0 * 4.0 + 999 * 4.0)
        options = AnalysisOptions(method=method)  # type: ignore[arg-type]
        analysis = analyze_metric([[control, variant]], options)
        stopping = StoppingRule(
            "sequential" if method == "sequential" else "fixed_horizon", 2000, 2000
        )

        decision = decide(
            DecisionInput(
                ("control", "a"),
                MetricResult("score", analysis.comparisons),
                analysis.srm,
                stopping,
            )
        )

        assert decision.decision == "ship"
        assert decision.variant == "a"

    def test_relative_estimate_against_its_absolute_sign__absolute_wins(self) -> None:
        # A hand-built relative lift of -19% whose absolute difference is +0.95.
        flipped = replace(_comparison(1, -0.19, True), absolute_estimate=0.95)

        decision = decide(
            DecisionInput(("control", "a"), MetricResult("m", (flipped,)), BALANCED, REACHED)
        )

        assert decision.decision == "ship"
