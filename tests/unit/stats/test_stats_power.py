"""Planning against statsmodels' power classes, and the plan's traffic arithmetic."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
from scipy import stats as sps
from statsmodels.stats.power import GofChisquarePower, NormalIndPower, normal_power_het

from avsb.stats import (
    Baseline,
    PowerConfig,
    StatsInputError,
    Traffic,
    categorical_sample_size,
    chi_square_contingency,
    cohens_w,
    required_total_sample_size,
    sample_size,
    sensitivity,
    z_test_power,
)

REL = 1e-6
CONTINUOUS = Baseline("continuous", 50.0, 20.0)


class TestContinuous:
    @pytest.mark.parametrize(
        ("split", "two_sided"), [((50, 50), True), ((10, 90), True), ((70, 30), False)]
    )
    def test_total__matches_normal_ind_power(
        self, split: tuple[float, float], two_sided: bool
    ) -> None:
        mde = 0.05
        ratio = split[1] / split[0]
        n_control = NormalIndPower().solve_power(
            effect_size=50 * mde / 20,
            alpha=0.05,
            power=0.8,
            ratio=ratio,
            alternative="two-sided" if two_sided else "larger",
        )

        total = required_total_sample_size(
            CONTINUOUS, mde, Traffic(traffic_split=split), PowerConfig(two_sided=two_sided)
        )

        assert total * split[0] / 100 == pytest.approx(n_control, rel=REL)

    def test_plan__rounds_each_arm_up_and_adds_duration(self) -> None:
        traffic = Traffic(
            traffic_split=(50, 50), expected_daily_traffic=1000, audience_share_in_test=0.5
        )

        plan = sample_size(CONTINUOUS, 0.05, traffic, PowerConfig())

        exact = required_total_sample_size(CONTINUOUS, 0.05, traffic, PowerConfig())
        assert plan.sample_size_per_variant == (math.ceil(exact / 2),) * 2
        assert plan.total_sample_size == sum(plan.sample_size_per_variant)
        assert plan.estimated_duration_days == math.ceil(plan.total_sample_size / 500)

    def test_three_variants__bonferroni_and_smallest_arm(self) -> None:
        traffic = Traffic(variants_count=3, traffic_split=(50, 30, 20))
        n_control = NormalIndPower().solve_power(
            effect_size=2.5 / 20, alpha=0.025, power=0.8, ratio=20 / 50
        )

        plan = sample_size(CONTINUOUS, 0.05, traffic, PowerConfig())

        assert plan.alpha_per_comparison == pytest.approx(0.025)
        assert plan.comparisons == 2
        assert plan.sample_size_per_variant[0] == math.ceil(n_control - 1e-9)
        assert "Bonferroni over 2" in plan.method


class TestBinary:
    @pytest.mark.parametrize(
        ("baseline", "split"), [(0.042, (50, 50)), (0.2, (10, 90)), (0.5, (30, 70))]
    )
    def test_power_at_plan__matches_normal_power_het(
        self, baseline: float, split: tuple[float, float]
    ) -> None:
        mde = 0.1
        traffic = Traffic(traffic_split=split)
        total = required_total_sample_size(
            Baseline("binary", baseline), mde, traffic, PowerConfig()
        )
        p1, p2 = baseline, baseline * (1 + mde)
        f_c, f_t = split[0] / 100, split[1] / 100
        sd = math.sqrt(p1 * (1 - p1) / f_c + p2 * (1 - p2) / f_t)  # per unit of the total N

        achieved = normal_power_het(p2 - p1, total, 0.05, std_null=sd, std_alternative=sd)

        assert achieved == pytest.approx(0.8, rel=REL)

    def test_seed_calculate_body__known_figures(self) -> None:
        traffic = Traffic(2, (50, 50), 12_000, 0.6)

        plan = sample_size(Baseline("binary", 0.042), 0.05, traffic, PowerConfig())

        assert plan.sample_size_per_variant == (146_639, 146_639)
        assert plan.estimated_duration_days == 41

    def test_mde_pushing_rate_past_one__raises(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            sample_size(Baseline("binary", 0.6), 0.8, Traffic(), PowerConfig())

        assert caught.value.field == "mde_relative"


class TestSensitivity:
    @pytest.mark.parametrize("baseline", [Baseline("binary", 0.1), CONTINUOUS])
    def test_inverse_of_sample_size__power_at_mde_is_target(self, baseline: Baseline) -> None:
        traffic = Traffic(traffic_split=(20, 80), expected_daily_traffic=2000)
        result = sensitivity(baseline, traffic, 14, PowerConfig())
        assert result.mde_relative is not None

        total = required_total_sample_size(baseline, result.mde_relative, traffic, PowerConfig())

        assert total == pytest.approx(2000 * 14, rel=1e-6)

    def test_too_little_traffic__binary__no_detectable_lift(self) -> None:
        traffic = Traffic(expected_daily_traffic=4)

        result = sensitivity(Baseline("binary", 0.9), traffic, 1, PowerConfig())

        assert result.mde_relative is None

    def test_needs_daily_traffic(self) -> None:
        with pytest.raises(StatsInputError) as caught:
            sensitivity(CONTINUOUS, Traffic(), 7, PowerConfig())

        assert caught.value.field == "expected_daily_traffic"


class TestValidation:
    @pytest.mark.parametrize(
        ("factory", "field"),
        [
            (lambda: Baseline("binary", 1.2), "baseline_value"),
            (lambda: Baseline("binary", 0.0), "baseline_value"),
            (lambda: Baseline("continuous", 5.0), "std_dev"),
            (lambda: Traffic(variants_count=11), "variants_count"),
            (lambda: Traffic(variants_count=1), "variants_count"),
            (lambda: Traffic(variants_count=3, traffic_split=(50, 50)), "traffic_split"),
            (lambda: Traffic(audience_share_in_test=0), "audience_share_in_test"),
            (lambda: PowerConfig(power=0.01), "power"),
        ],
    )
    def test_impossible_plan__raises_with_field(
        self, factory: Callable[[], object], field: str
    ) -> None:
        with pytest.raises(StatsInputError) as caught:
            factory()

        assert caught.value.field == field

    def test_z_test_power__at_zero_effect__is_alpha(self) -> None:
        assert z_test_power(0.0, 0.05, two_sided=True) == pytest.approx(0.05)
        assert z_test_power(0.0, 0.05, two_sided=False) == pytest.approx(0.05)


class TestCategorical:
    def test_contingency__matches_scipy_without_continuity_correction(self) -> None:
        table = [[120, 80, 40], [100, 95, 60], [90, 100, 50]]
        chi2, p, dof, _ = sps.chi2_contingency(table, correction=False)

        result = chi_square_contingency(table)

        assert result.chi2 == pytest.approx(chi2, rel=1e-9)
        assert result.p_value == pytest.approx(p, rel=1e-6)
        assert result.df == dof

    def test_sample_size__matches_gof_chisquare_power(self) -> None:
        distributions = [[0.6, 0.3, 0.1], [0.55, 0.32, 0.13]]
        w = cohens_w(distributions, (50, 50))
        expected = GofChisquarePower().solve_power(effect_size=w, alpha=0.05, power=0.8, n_bins=3)

        plan = categorical_sample_size(distributions, (50, 50), PowerConfig())

        assert plan.df == 2
        assert plan.total_sample_size == 2 * math.ceil(expected / 2 - 1e-9)

    def test_cohens_w__two_by_two__equals_phi_of_the_expected_table(self) -> None:
        w = cohens_w([[0.9, 0.1], [0.8, 0.2]])
        table = np.array([[0.45, 0.05], [0.40, 0.10]]) * 1_000_000
        chi2 = sps.chi2_contingency(table, correction=False)[0]

        assert w == pytest.approx(math.sqrt(chi2 / 1_000_000), rel=1e-9)

    def test_identical_distributions__raises(self) -> None:
        with pytest.raises(StatsInputError, match="identical"):
            categorical_sample_size([[0.5, 0.5], [0.5, 0.5]], None, PowerConfig())


class TestPowerExtremes:
    """Inputs a fuzzer found: every one must be a StatsInputError, never an arithmetic crash."""

    def test_effect_underflows__input_error(self) -> None:
        baseline = Baseline("continuous", 1e-100, 1.0)
        with pytest.raises(StatsInputError) as exc:
            sample_size(baseline, 1e-100, Traffic(), PowerConfig(alpha=0.6))
        assert exc.value.field == "mde_relative"

    def test_subnormal_rate__input_error(self) -> None:
        with pytest.raises(StatsInputError) as exc:
            Baseline("binary", 4.4e-256)
        assert exc.value.field == "baseline_value"

    def test_alpha_below_double_precision__input_error(self) -> None:
        with pytest.raises(StatsInputError) as exc:
            PowerConfig(alpha=2.2e-308)
        assert exc.value.field == "alpha"

    def test_astronomical_traffic__input_error(self) -> None:
        traffic = Traffic(expected_daily_traffic=1.7e308)
        with pytest.raises(StatsInputError) as exc:
            sensitivity(Baseline("binary", 0.15), traffic, 968.0, PowerConfig())
        assert exc.value.field == "expected_daily_traffic"
