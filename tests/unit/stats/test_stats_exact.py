"""Fisher's exact test and the Wilson / Newcombe intervals against scipy and statsmodels."""

from __future__ import annotations

import math

import pytest
from scipy import stats as sps
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from avsb.stats import (
    ProportionStatistic,
    TestConfig,
    exact_test,
    fisher_exact_log_p,
    newcombe_interval,
    wilson_interval,
)
from avsb.stats.exact import needs_exact_test

REL = 1e-6
TABLES = [
    ((1000, 0), (1000, 7)),
    ((50, 3), (60, 9)),
    ((20, 0), (25, 0)),
    ((12, 12), (15, 10)),
    ((300, 0), (2700, 30)),
]


def _scipy_fisher(control: tuple[int, int], treatment: tuple[int, int], alternative: str) -> float:
    (n_c, x_c), (n_t, x_t) = control, treatment
    table = [[x_t, n_t - x_t], [x_c, n_c - x_c]]
    return float(sps.fisher_exact(table, alternative=alternative).pvalue)


class TestFisher:
    @pytest.mark.parametrize(("control", "treatment"), TABLES)
    @pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
    def test_p_value__small_tables__matches_scipy_fisher_exact(
        self, control: tuple[int, int], treatment: tuple[int, int], alternative: str
    ) -> None:
        expected = _scipy_fisher(control, treatment, alternative)

        log_p = fisher_exact_log_p(
            ProportionStatistic(*control), ProportionStatistic(*treatment), alternative
        )

        assert math.exp(log_p) == pytest.approx(expected, rel=REL)

    def test_p_value__extreme_table__stays_positive_where_scipy_gives_zero(self) -> None:
        control, treatment = ProportionStatistic(10_000, 0), ProportionStatistic(10_000, 5_000)
        assert _scipy_fisher((10_000, 0), (10_000, 5_000), "two-sided") == 0.0

        result = exact_test(control, treatment, TestConfig())

        assert result.p_value > 0.0
        assert result.log_p_value < -3000


class TestIntervals:
    @pytest.mark.parametrize(("successes", "n"), [(0, 50), (3, 50), (50, 50), (17, 1000)])
    def test_wilson__matches_statsmodels(self, successes: int, n: int) -> None:
        expected = proportion_confint(successes, n, alpha=0.05, method="wilson")

        assert wilson_interval(successes, n, 0.05) == pytest.approx(expected, rel=REL, abs=1e-12)

    @pytest.mark.parametrize(("control", "treatment"), TABLES)
    def test_newcombe__matches_statsmodels_newcomb(
        self, control: tuple[int, int], treatment: tuple[int, int]
    ) -> None:
        (n_c, x_c), (n_t, x_t) = control, treatment
        expected = confint_proportions_2indep(
            x_t, n_t, x_c, n_c, method="newcomb", compare="diff", alpha=0.05
        )

        interval = newcombe_interval(
            ProportionStatistic(*control), ProportionStatistic(*treatment), TestConfig()
        )

        assert interval == pytest.approx(tuple(expected), rel=REL, abs=1e-12)

    def test_newcombe__one_sided__uses_two_alpha_bound_and_opens_the_better_end(self) -> None:
        c, t = ProportionStatistic(400, 0), ProportionStatistic(400, 6)
        two_sided = newcombe_interval(c, t, TestConfig(alpha=0.1))

        one_sided = newcombe_interval(c, t, TestConfig(alpha=0.05, two_sided=False))
        lower_better = newcombe_interval(
            c, t, TestConfig(alpha=0.05, two_sided=False, lower_is_better=True)
        )

        assert one_sided == (two_sided[0], None)
        assert lower_better == (None, two_sided[1])


class TestFallback:
    def test_zero_control_conversions__answers_with_fisher_and_newcombe(self) -> None:
        control, treatment = ProportionStatistic(1000, 0), ProportionStatistic(1000, 7)

        result = exact_test(control, treatment, TestConfig())

        assert result.test == "fisher_exact"
        assert result.difference_type == "absolute"
        assert result.estimate == pytest.approx(0.007)
        assert result.p_value == pytest.approx(
            _scipy_fisher((1000, 0), (1000, 7), "two-sided"), rel=REL
        )
        lower, upper = result.ci
        assert lower is not None
        assert upper is not None
        assert lower < 0.007 < upper

    @pytest.mark.parametrize(
        ("control", "treatment", "expected"),
        [
            ((100, 0), (100, 4), True),
            ((100, 4), (100, 0), True),
            ((10, 10), (10, 10), True),
            ((100, 4), (100, 6), False),
            ((100, 100), (100, 90), False),
        ],
    )
    def test_needs_exact_test__boundary_counts(
        self, control: tuple[int, int], treatment: tuple[int, int], expected: bool
    ) -> None:
        assert (
            needs_exact_test(ProportionStatistic(*control), ProportionStatistic(*treatment))
            is expected
        )
