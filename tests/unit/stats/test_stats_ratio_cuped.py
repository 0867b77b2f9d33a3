"""CUPED on a ratio metric (delta method) against the same adjustment computed from unit rows:
linearised unit values (Deng, Knoblich & Lu 2018) and numpy's covariance."""

from __future__ import annotations

import numpy as np
import pytest

from avsb.stats import AnalysisOptions, analyze_metric, estimate_arm
from avsb.stats.cuped import ratio_cuped_cells, ratio_cuped_theta
from avsb.stats.statistics import RatioAdjustedStatistic

Rows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _stat(rows: Rows) -> RatioAdjustedStatistic:
    num, den, num0, den0 = rows
    return RatioAdjustedStatistic(
        len(num),
        num.sum(),
        (num * num).sum(),
        den.sum(),
        (den * den).sum(),
        (num * den).sum(),
        num0.sum(),
        (num0 * num0).sum(),
        den0.sum(),
        (den0 * den0).sum(),
        (num0 * den0).sum(),
        (num * num0).sum(),
        (num * den0).sum(),
        (den * num0).sum(),
        (den * den0).sum(),
    )


def _arm(rng: np.random.Generator, n: int, lift: float) -> Rows:
    """Sessions and revenue per unit, before and after: a unit's habit carries over."""
    habit = rng.gamma(2.0, 2.0, size=n)
    den0 = rng.poisson(habit) + 1.0
    den = rng.poisson(habit) + 1.0
    num0 = den0 * (3 + habit) + rng.normal(0, 1, size=n)
    num = den * (3 + habit) * (1 + lift) + rng.normal(0, 1, size=n)
    return num, den, num0, den0


def _linearised(rows: Rows) -> tuple[np.ndarray, np.ndarray]:
    num, den, num0, den0 = rows
    r, r0 = num.sum() / den.sum(), num0.sum() / den0.sum()
    return (num - r * den) / den.mean(), (num0 - r0 * den0) / den0.mean()


@pytest.fixture
def arms() -> list[Rows]:
    rng = np.random.default_rng(11)
    return [_arm(rng, 400, 0.0), _arm(rng, 380, 0.05)]


def test_ratio_cuped__matches_linearised_unit_rows(arms: list[Rows]) -> None:
    lin = [_linearised(rows) for rows in arms]
    covs = [np.cov(y, x) for y, x in lin]
    ns = [len(rows[0]) for rows in arms]
    theta = sum((n - 1) * c[0, 1] for n, c in zip(ns, covs, strict=True)) / sum(
        (n - 1) * c[1, 1] for n, c in zip(ns, covs, strict=True)
    )
    centre = sum(r[2].sum() for r in arms) / sum(r[3].sum() for r in arms)

    (estimates,) = ratio_cuped_cells([[_stat(rows) for rows in arms]])

    assert ratio_cuped_theta([_stat(rows) for rows in arms]) == pytest.approx(theta, rel=1e-9)
    for rows, (y, x), est in zip(arms, lin, estimates, strict=True):
        r, r0 = rows[0].sum() / rows[1].sum(), rows[2].sum() / rows[3].sum()
        assert est.mean == pytest.approx(r - theta * (r0 - centre), rel=1e-12)
        assert est.variance == pytest.approx(np.var(y - theta * x, ddof=1) / len(y), rel=1e-9)


def test_ratio_cuped__narrower_than_plain_and_analysable(arms: list[Rows]) -> None:
    stats = [_stat(rows) for rows in arms]
    adjusted = analyze_metric([stats], AnalysisOptions(metric_type="ratio", cuped=True))
    plain = analyze_metric([[s.ratio for s in stats]], AnalysisOptions(metric_type="ratio"))

    for adj, raw in zip(adjusted.arms, plain.arms, strict=True):
        assert adj.variance < 0.5 * raw.variance
    assert adjusted.comparisons[0].standard_error < plain.comparisons[0].standard_error
    assert plain.arms[0].variance == pytest.approx(estimate_arm(stats[0]).variance)


def test_ratio_cuped__no_pre_period_denominator__unadjusted(arms: list[Rows]) -> None:
    num, den, num0, _ = arms[0]
    stats = [_stat((num, den, num0 * 0, num0 * 0)), _stat(arms[1])]

    estimates = ratio_cuped_cells([stats])[0]

    assert ratio_cuped_theta(stats) == 0.0
    assert [e.mean for e in estimates] == [s.mean for s in stats]
    assert [e.variance for e in estimates] == [estimate_arm(s.ratio).variance for s in stats]
