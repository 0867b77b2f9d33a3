"""The results' adjustment rules on hand-made sums: which strata become cells, when CUPED is
refused, and power so far from the planned sample size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from avsb.server.analysis import MetricDefinition, MetricType
from avsb.server.results import progress, readout
from avsb.server.results.readout import (
    COVERED,
    SS,
    SUM,
    WIDTH,
    XS,
    XSS,
    XY,
    AnalysisSettings,
    MetricSpec,
    N,
)
from avsb.stats import AnalysisOptions

SPEC = MetricSpec("met_1", "revenue", "Revenue", "primary", MetricDefinition(
    type=MetricType.SUM, event_name="spend"))  # fmt: skip


def cell(n: int, mean: float = 10.0, sd: float = 2.0, covered: int | None = None) -> np.ndarray:
    """Sums of n units with the given mean and sd, and a covariate x with the same mean and sd
    correlated 0.8 with y."""
    v = np.zeros(WIDTH)
    squares = (n - 1) * sd**2 + n * mean**2
    v[N], v[SUM], v[SS] = n, n * mean, squares
    v[XS], v[XSS], v[XY] = n * mean, squares, (n - 1) * 0.8 * sd**2 + n * mean**2
    v[COVERED] = n if covered is None else covered
    return v


def options(cuped: bool = False) -> AnalysisOptions:
    settings = AnalysisSettings(cuped=cuped, correction="none")
    return readout.options_for(SPEC, settings, (50.0, 50.0))


def test_strata__small_ones_pooled_into_one_cell() -> None:
    arms = [np.stack([cell(100), cell(80), cell(4), cell(7)]) for _ in range(2)]

    found = readout.prepare(SPEC, arms, options())

    assert found.adjustment.stratified
    assert len(found.adjustment.cells) == 3
    pooled = found.adjustment.cells[2][0]
    assert pooled[N] == 11


def test_strata__small_pool_joins_the_largest_stratum() -> None:
    arms = [np.stack([cell(100), cell(80), cell(3)]) for _ in range(2)]

    found = readout.prepare(SPEC, arms, options())

    assert [c[0][N] for c in found.adjustment.cells] == [103, 80]


def test_strata__one_usable_stratum__unstratified_with_reason() -> None:
    arms = [np.stack([cell(100), cell(5)]), np.stack([cell(100), cell(0)])]

    found = readout.prepare(SPEC, arms, options())
    _, strata, name = readout.adjustments_out(found)

    assert not strata.applied
    assert strata.reason is not None
    assert "fewer than 2 strata" in strata.reason
    assert name == "none"


def test_cuped__coverage_shares_differ__refused_with_reason() -> None:
    arms = [cell(1000, covered=900)[None, :], cell(1000, covered=600)[None, :]]

    found = readout.prepare(SPEC, arms, options(cuped=True), "ingested")
    cuped, _, name = readout.adjustments_out(found)

    assert not found.adjustment.cuped
    assert cuped.reason is not None
    assert "differs between arms" in cuped.reason
    assert name == "none"


def test_cuped__same_coverage__applied() -> None:
    arms = [cell(1000, covered=900)[None, :], cell(1000, covered=905)[None, :]]

    found = readout.prepare(SPEC, arms, options(cuped=True), "ingested")
    cuped, _, name = readout.adjustments_out(found)

    assert cuped.applied
    assert cuped.covariate == "ingested"
    assert cuped.reason is None
    assert cuped.variance_reduction == pytest.approx(0.64, abs=0.01)  # rho^2
    assert name == "cuped"


def test_power_so_far__from_the_planned_sample_size() -> None:
    arms = [cell(500, mean=10.0, sd=4.0)[None, :], cell(500, mean=10.2, sd=4.0)[None, :]]
    found = readout.prepare(SPEC, arms, options())
    target = progress.Target(0.05, 0.8, True, None, planned_per_variant=2000)

    (power,) = progress.power_so_far(found, ("control", "treatment"), target, per_day=250.0)

    # lambda now = lambda_target * sqrt(units now / units planned), per arm.
    z = sps.norm.ppf(0.975)
    lam_target = 2.8016  # two-sided 80% power at alpha 0.05, both tails counted
    lam = lam_target * math.sqrt(500 / 2000)
    assert power.mde_source == "planned_sample_size"
    assert power.power == pytest.approx(sps.norm.cdf(lam - z) + sps.norm.cdf(-lam - z), abs=1e-4)
    assert power.required_units == 4000
    assert power.remaining_units == 3000
    assert power.remaining_days == pytest.approx(12.0)
    se = math.sqrt(2 * 16 / 500)
    assert power.mde_pct == pytest.approx(100 * lam_target * se / 2 / 10.0, rel=1e-3)


def test_power_so_far__no_target__says_why() -> None:
    arms = [cell(500)[None, :], cell(500, mean=10.5)[None, :]]
    found = readout.prepare(SPEC, arms, options())
    target = progress.Target(0.05, 0.8, True, None, None)

    (power,) = progress.power_so_far(found, ("control", "treatment"), target, per_day=10.0)

    assert power.power is None
    assert "neither mde_pct nor planned_sample_size" in power.message


def test_power_so_far__effect_too_small_to_reach__no_units_no_500() -> None:
    arms = [cell(500)[None, :], cell(500, mean=10.5)[None, :]]
    found = readout.prepare(SPEC, arms, options())
    target = progress.Target(0.05, 0.8, True, mde_pct=1e-12, planned_per_variant=None)

    (power,) = progress.power_so_far(found, ("control", "treatment"), target, per_day=10.0)

    assert power.power == pytest.approx(0.05)
    assert power.required_units is None
    assert power.remaining_days is None
    assert "more than 1e+15 units" in power.message
