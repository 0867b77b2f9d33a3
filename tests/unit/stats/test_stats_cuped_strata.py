"""CUPED against an ANCOVA fit by least squares, and post-stratification against its formula."""

from __future__ import annotations

import numpy as np
import pytest

from avsb.stats import (
    ArmEstimate,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    cuped_estimates,
    cuped_theta,
    difference,
    estimate_arm,
    poststratify,
)
from avsb.stats.stratification import stratum_weights


def _arm(x: np.ndarray, y: np.ndarray) -> RegressionAdjustedStatistic:
    return RegressionAdjustedStatistic(
        len(y), y.sum(), (y**2).sum(), x.sum(), (x**2).sum(), (x * y).sum()
    )


Fitted = tuple[list[RegressionAdjustedStatistic], list[np.ndarray], list[np.ndarray]]


@pytest.fixture
def arms() -> Fitted:
    rng = np.random.default_rng(8)
    xs = [rng.normal(5, 2, size=n) for n in (300, 280, 320)]
    ys = [
        1.0 + 0.7 * x + rng.normal(0, 1, size=len(x)) + shift
        for x, shift in zip(xs, (0, 0.3, 0.1), strict=True)
    ]
    return [_arm(x, y) for x, y in zip(xs, ys, strict=True)], xs, ys


class TestCuped:
    def test_theta__equals_ancova_slope_with_arm_dummies(self, arms: Fitted) -> None:
        stats, xs, ys = arms
        x, y = np.concatenate(xs), np.concatenate(ys)
        arm = np.repeat(np.arange(3), [len(v) for v in xs])
        design = np.column_stack([x, arm == 0, arm == 1, arm == 2]).astype(float)
        coef = np.linalg.lstsq(design, y, rcond=None)[0]

        assert cuped_theta(stats) == pytest.approx(coef[0], rel=1e-9)

    def test_adjusted_effect__equals_ancova_treatment_coefficient(self, arms: Fitted) -> None:
        stats, xs, ys = arms
        x, y = np.concatenate(xs), np.concatenate(ys)
        arm = np.repeat(np.arange(3), [len(v) for v in xs])
        design = np.column_stack([x, np.ones_like(x), arm == 1, arm == 2]).astype(float)
        coef = np.linalg.lstsq(design, y, rcond=None)[0]

        adjusted = cuped_estimates(stats)

        assert adjusted[1].mean - adjusted[0].mean == pytest.approx(coef[2], rel=1e-9)
        assert adjusted[2].mean - adjusted[0].mean == pytest.approx(coef[3], rel=1e-9)

    def test_adjusted_variance__equals_variance_of_adjusted_units(self, arms: Fitted) -> None:
        stats, xs, ys = arms
        theta = cuped_theta(stats)
        units = ys[1] - theta * xs[1]

        adjusted = cuped_estimates(stats)[1]

        assert adjusted.variance == pytest.approx(units.var(ddof=1) / len(units), rel=1e-9)
        assert adjusted.variance < estimate_arm(stats[1]).variance

    def test_constant_covariate__theta_zero__no_adjustment(self) -> None:
        x = np.full(10, 3.0)
        y = np.arange(10.0)

        estimates = cuped_estimates([_arm(x, y), _arm(x, y + 1)])

        assert cuped_theta([_arm(x, y)]) == 0.0
        assert estimates[0].mean == pytest.approx(4.5)
        assert estimates[0].variance == pytest.approx(y.var(ddof=1) / 10)


class TestPostStratification:
    def test_weights__pooled_stratum_sizes(self) -> None:
        cells = [
            [ArmEstimate(1.0, 0.1, 9, 10), ArmEstimate(1.0, 0.1, 29, 30)],
            [ArmEstimate(1.0, 0.1, 59, 60), ArmEstimate(1.0, 0.1, 99, 100)],
        ]

        assert stratum_weights(cells) == pytest.approx((0.2, 0.8))

    def test_absolute_effect__is_weighted_sum_of_stratum_effects(self) -> None:
        rng = np.random.default_rng(12)
        cells = []
        for base, size in ((10.0, 400), (30.0, 100)):
            row = []
            for shift in (0.0, 1.0):
                values = rng.normal(base + shift, 3.0, size=size)
                row.append(estimate_arm(SampleMeanStatistic(size, values.sum(), (values**2).sum())))
            cells.append(row)
        w = (0.8, 0.2)
        effects = [row[1].mean - row[0].mean for row in cells]
        variances = [row[1].variance + row[0].variance for row in cells]

        control, treatment = poststratify(cells)
        diff = difference(control, treatment, "absolute")

        assert diff.estimate == pytest.approx(w[0] * effects[0] + w[1] * effects[1], rel=1e-12)
        assert diff.variance == pytest.approx(
            w[0] ** 2 * variances[0] + w[1] ** 2 * variances[1], rel=1e-12
        )

    def test_single_stratum__is_unchanged(self) -> None:
        cell = [ArmEstimate(2.0, 0.3, 19, 20), ArmEstimate(2.5, 0.2, 24, 25)]

        assert poststratify([cell]) == tuple(cell)

    def test_stratification__strong_strata__narrows_the_effect_se(self) -> None:
        rng = np.random.default_rng(21)
        bases = np.where(rng.random(4000) < 0.5, 0.0, 20.0)
        arm = rng.integers(0, 2, size=4000)
        y = bases + 0.5 * arm + rng.normal(0, 1, size=4000)

        def stat(mask: np.ndarray) -> ArmEstimate:
            v = y[mask]
            return estimate_arm(SampleMeanStatistic(len(v), v.sum(), (v**2).sum()))

        plain = difference(stat(arm == 0), stat(arm == 1), "absolute")
        cells = [[stat((bases == b) & (arm == a)) for a in (0, 1)] for b in (0.0, 20.0)]
        control, treatment = poststratify(cells)
        stratified = difference(control, treatment, "absolute")

        assert stratified.standard_error < 0.2 * plain.standard_error
