"""avsb.stats against GrowthBook's gbstats and tea-tasting on one shared grid of inputs.

Where the methods are the same (Welch on the absolute difference, the normal-mixture
confidence sequence, the flat-prior normal posterior) the numbers agree to rounding. Where
avsb chose differently on purpose, the test pins the direction and size of the difference;
docs/statistics.md ("Against gbstats and tea-tasting") explains each one.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import tea_tasting.aggr
import tea_tasting.metrics
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import ProportionStatistic as GbProportion
from gbstats.models.statistics import SampleMeanStatistic as GbSampleMean

from avsb.stats import (
    AnalysisOptions,
    ProportionStatistic,
    SampleMeanStatistic,
    TestConfig,
    analyze_metric,
)
from avsb.stats.analysis import Comparison, Method
from avsb.stats.statistics import MetricStatistic

# (name, metric type, control (n, sum, sum_squares), treatment (n, sum, sum_squares))
GRID = [
    ("binary_300", "binary", (300, 15, 15), (300, 27, 27)),
    ("binary_10k", "binary", (10_000, 1000, 1000), (10_000, 1100, 1100)),
    ("binary_2k_at_2pct", "binary", (2000, 40, 40), (2000, 52, 52)),
    ("normal_500", "continuous", (500, 5000.0, 5000.0 * 10 + 499 * 25.0),
     (520, 5460.0, 5460.0 * 10.5 + 519 * 30.25)),
    ("revenue_5k", "continuous", (5000, 10_000.0, 10_000.0 * 2 + 4999 * 64.0),
     (5000, 11_500.0, 11_500.0 * 2.3 + 4999 * 81.0)),
]  # fmt: skip
IDS = [g[0] for g in GRID]
Cell = tuple[int, float, float]


def _ours(kind: str, cells: tuple[Cell, Cell], method: Method, difference: str) -> Comparison:
    stats: list[MetricStatistic] = [
        ProportionStatistic(n, s) if kind == "binary" else SampleMeanStatistic(n, s, q)
        for n, s, q in cells
    ]
    test = TestConfig(difference_type=difference)  # type: ignore[arg-type]
    options = AnalysisOptions(metric_type=kind, method=method, test=test)  # type: ignore[arg-type]
    return analyze_metric([stats], options).comparisons[0]


def _gb(kind: str, cells: tuple[Cell, Cell]) -> tuple[Any, Any]:
    if kind == "binary":
        return GbProportion(n=cells[0][0], sum=cells[0][1]), GbProportion(
            n=cells[1][0], sum=cells[1][1]
        )
    (nc, sc, qc), (nt, st, qt) = cells
    return (
        GbSampleMean(n=nc, sum=sc, sum_squares=qc),
        GbSampleMean(n=nt, sum=st, sum_squares=qt),
    )


def _gb_fixed(kind: str, cells: tuple[Cell, Cell], difference: str) -> Any:
    config = FrequentistConfig(difference_type=difference)
    return TwoSidedTTest(*_gb(kind, cells), config).compute_result()


def _gb_bayes(kind: str, cells: tuple[Cell, Cell]) -> Any:
    config = EffectBayesianConfig(difference_type="absolute")
    return EffectBayesianABTest(*_gb(kind, cells), config).compute_result()


def _tea(kind: str, cells: tuple[Cell, Cell]) -> tea_tasting.metrics.MeanResult:
    def aggregates(n: int, s: float, q: float) -> tea_tasting.aggr.Aggregates:
        mean = s / n
        var = mean * (1 - mean) if kind == "binary" else (q - s * mean) / (n - 1)
        return tea_tasting.aggr.Aggregates(count_=n, mean_={"x": mean}, var_={"x": var})

    control, treatment = (aggregates(*c) for c in cells)
    return tea_tasting.metrics.Mean("x").analyze_aggregates(control, treatment)


@pytest.mark.parametrize(("name", "kind", "control", "treatment"), GRID, ids=IDS)
def test_absolute_welch__matches_gbstats_and_tea_tasting(
    name: str, kind: str, control: Cell, treatment: Cell
) -> None:
    ours = _ours(kind, (control, treatment), "frequentist", "absolute")
    gb = _gb_fixed(kind, (control, treatment), "absolute")
    tea = _tea(kind, (control, treatment))

    if ours.test == "welch_t":
        assert ours.p_value == pytest.approx(gb.p_value, rel=1e-9)
        assert ours.p_value == pytest.approx(tea.pvalue, rel=1e-9)
        assert ours.ci == pytest.approx(tuple(gb.ci), rel=1e-9)
        tea_ci = (tea.effect_size_ci_lower, tea.effect_size_ci_upper)
        assert ours.ci == pytest.approx(tea_ci, rel=1e-9)
    assert ours.estimate == pytest.approx(gb.expected, rel=1e-12)


@pytest.mark.parametrize(("name", "kind", "control", "treatment"), GRID, ids=IDS)
def test_relative__one_p_value__fieller_close_to_log_ratio__right_of_delta(
    name: str, kind: str, control: Cell, treatment: Cell
) -> None:
    cells = (control, treatment)
    ours = _ours(kind, cells, "frequentist", "relative")
    absolute = _ours(kind, cells, "frequentist", "absolute")
    gb = _gb_fixed(kind, cells, "relative")
    tea = _tea(kind, cells)
    lower, upper = ours.ci
    assert lower is not None
    assert upper is not None

    # tea-tasting also takes the p-value from the absolute difference; gbstats tests the
    # delta-method relative lift, whose p-value is larger when the lift is positive.
    assert ours.p_value == absolute.p_value
    assert ours.p_value == pytest.approx(tea.pvalue, rel=1e-9)
    assert gb.p_value > ours.p_value
    # Fieller and the log-ratio interval agree to a small share of the width; both sit to the
    # right of gbstats' symmetric delta-method interval, whose misses lean high.
    # Close once the control mean is many SEs from 0; at 15/300 (4 SEs) Fieller's upper end
    # is longer, as the ratio's uncertainty really is.
    width = upper - lower
    n, s, q = control
    mean = s / n
    control_z = mean / math.sqrt(
        ((q - s * mean) / (n - 1) if kind != "binary" else mean * (1 - mean)) / n
    )
    share = 0.06 if control_z > 8 else 0.2
    assert abs(lower - tea.rel_effect_size_ci_lower) < share * width
    assert abs(upper - tea.rel_effect_size_ci_upper) < share * width
    assert lower > gb.ci[0]
    assert upper > gb.ci[1]


@pytest.mark.parametrize(("name", "kind", "control", "treatment"), GRID, ids=IDS)
def test_sequential_absolute__matches_gbstats(
    name: str, kind: str, control: Cell, treatment: Cell
) -> None:
    cells = (control, treatment)
    ours = _ours(kind, cells, "sequential", "absolute")
    config = SequentialConfig(difference_type="absolute", sequential_tuning_parameter=5000)
    gb = SequentialTwoSidedTTest(*_gb(kind, cells), config).compute_result()

    if ours.test != "fisher_exact":
        assert ours.p_value == pytest.approx(gb.p_value, rel=1e-6)
        assert ours.ci == pytest.approx(tuple(gb.ci), rel=1e-6)


@pytest.mark.parametrize(("name", "kind", "control", "treatment"), GRID, ids=IDS)
def test_bayesian_chance_to_win__normal_matches_gbstats__beta_within_a_point(
    name: str, kind: str, control: Cell, treatment: Cell
) -> None:
    cells = (control, treatment)
    ours = _ours(kind, cells, "bayesian", "absolute")
    gb = _gb_bayes(kind, cells)
    assert ours.chance_to_win is not None

    if kind == "continuous":  # the same flat-prior normal posterior
        assert ours.chance_to_win == pytest.approx(gb.chance_to_win, rel=1e-9)
        assert ours.ci == pytest.approx(tuple(gb.ci), rel=1e-6)
    else:  # exact Beta posteriors vs gbstats' normal approximation: close, not equal
        rng = np.random.default_rng(7)
        (nc, xc, _), (nt, xt, _) = cells
        draws = rng.beta(1 + xt, 1 + nt - xt, 10**6) > rng.beta(1 + xc, 1 + nc - xc, 10**6)
        assert ours.chance_to_win == pytest.approx(float(np.mean(draws)), abs=2e-3)
        assert abs(ours.chance_to_win - gb.chance_to_win) < 0.01
        assert math.isfinite(gb.chance_to_win)


def test_negative_control__gbstats_inverts_relative__avsb_answers_absolute() -> None:
    cells = ((1000, -4950.0, 4950.0 * 4.95 + 999 * 4.0), (1000, -4000.0, 4000.0 * 4.0 + 999 * 4.0))
    ours = _ours("continuous", cells, "frequentist", "relative")
    gb = _gb_fixed("continuous", cells, "relative")

    assert gb.expected < 0  # -19%: reads as "worse" though the variant is higher
    assert ours.difference_type == "absolute"
    assert ours.estimate == pytest.approx(0.95)
