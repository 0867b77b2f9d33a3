"""Calibration by simulation with fixed seeds: error rates and coverage the engine promises.

The data are simulated in bulk with numpy; each simulated experiment is then read out through
the public API from its sufficient statistics, exactly as the results pages do. The `measure_*`
functions return the figures recorded in docs/statistics.md ("Calibration"); the tests bound them.
"""

from __future__ import annotations

import numpy as np

from avsb.stats import (
    ProportionStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    SequentialConfig,
    TestConfig,
    compare,
    cuped_estimates,
    difference,
    estimate_arm,
    sequential_test,
    welch_test,
)

RUNS = 2000
LOOKS = 20


def _stats(values: np.ndarray) -> list[SampleMeanStatistic]:
    """One statistic per run from values shaped (runs, units)."""
    n = values.shape[1]
    sums, squares = values.sum(axis=1), (values**2).sum(axis=1)
    return [SampleMeanStatistic(n, float(s), float(q)) for s, q in zip(sums, squares, strict=True)]


def _covers(ci: tuple[float | None, float | None], truth: float) -> bool:
    lower, upper = ci
    assert lower is not None
    assert upper is not None
    return lower <= truth <= upper


def measure_aa_continuous() -> float:
    """A/A false-positive rate, relative lift, normal data, 500 units per arm."""
    rng = np.random.default_rng(20240101)
    control = _stats(rng.normal(10.0, 5.0, size=(RUNS, 500)))
    treatment = _stats(rng.normal(10.0, 5.0, size=(RUNS, 500)))
    config = TestConfig(alpha=0.05, difference_type="relative")
    pairs = zip(control, treatment, strict=True)
    return float(np.mean([compare(c, t, config).significant for c, t in pairs]))


def measure_aa_binary() -> float:
    """A/A false-positive rate, absolute difference, 10% conversion, 2,000 units per arm."""
    rng = np.random.default_rng(7)
    n = 2000
    conv_c = rng.binomial(n, 0.1, size=RUNS)
    conv_t = rng.binomial(n, 0.1, size=RUNS)
    config = TestConfig(difference_type="absolute")
    hits = [
        compare(ProportionStatistic(n, float(a)), ProportionStatistic(n, float(b)), config)
        for a, b in zip(conv_c, conv_t, strict=True)
    ]
    return float(np.mean([h.significant for h in hits]))


def measure_coverage() -> tuple[float, float]:
    """Coverage of 95% intervals for a true +5% lift (relative, absolute), 1,000 units per arm."""
    rng = np.random.default_rng(11)
    control = _stats(rng.normal(10.0, 5.0, size=(RUNS, 1000)))
    treatment = _stats(rng.normal(10.5, 5.0, size=(RUNS, 1000)))
    relative, absolute = TestConfig(), TestConfig(difference_type="absolute")
    pairs = list(zip(control, treatment, strict=True))
    rel = np.mean([_covers(compare(c, t, relative).ci, 0.05) for c, t in pairs])
    abs_ = np.mean([_covers(compare(c, t, absolute).ci, 0.5) for c, t in pairs])
    return float(rel), float(abs_)


def _monitor(truth: float, per_look: int, seed: int) -> tuple[float, float, float]:
    """20 looks at growing data: (fixed test peeked: any rejection, sequential: any rejection,
    sequential: interval covered the truth at every look), as shares of runs."""
    rng = np.random.default_rng(seed)
    sums, squares = np.zeros((2, RUNS)), np.zeros((2, RUNS))
    fixed_hit, seq_hit = np.zeros(RUNS, dtype=bool), np.zeros(RUNS, dtype=bool)
    always = np.ones(RUNS, dtype=bool)
    fixed = TestConfig(difference_type="absolute")
    sequential = SequentialConfig(fixed, tuning_parameter=5000)
    for look in range(1, LOOKS + 1):
        batch = rng.normal(0.0, 1.0, size=(2, RUNS, per_look))
        batch[1] += truth
        sums += batch.sum(axis=2)
        squares += (batch**2).sum(axis=2)
        n = look * per_look
        for run in range(RUNS):
            c = estimate_arm(SampleMeanStatistic(n, sums[0, run], squares[0, run]))
            t = estimate_arm(SampleMeanStatistic(n, sums[1, run], squares[1, run]))
            diff = difference(c, t, "absolute")
            fixed_hit[run] |= welch_test(diff, fixed).significant
            result = sequential_test(diff, 2 * n, sequential)
            seq_hit[run] |= result.significant
            always[run] &= _covers(result.ci, truth)
    return float(fixed_hit.mean()), float(seq_hit.mean()), float(always.mean())


def measure_peeking() -> tuple[float, float]:
    """A/A, 20 looks of 250 units per arm: (fixed-horizon peeked FPR, sequential FPR)."""
    fixed_rate, sequential_rate, _ = _monitor(truth=0.0, per_look=250, seed=99)
    return fixed_rate, sequential_rate


def measure_sequential_coverage() -> float:
    """True effect 0.2 SD, 20 looks of 200 per arm: share of runs covered at every look."""
    return _monitor(truth=0.2, per_look=200, seed=5)[2]


def measure_cuped() -> tuple[float, float, float]:
    """(mean CUPED CI width, mean plain CI width, CUPED coverage) with corr(x, y) ~ 0.85."""
    rng = np.random.default_rng(3)
    n, effect = 1000, 0.3
    x = rng.normal(10.0, 2.0, size=(2, RUNS, n))
    y = 2.0 + 0.8 * x + rng.normal(0.0, 1.0, size=(2, RUNS, n))
    y[1] += effect
    sums = [y.sum(axis=2), (y**2).sum(axis=2), x.sum(axis=2), (x**2).sum(axis=2)]
    cross = (x * y).sum(axis=2)
    config = TestConfig(difference_type="absolute")
    widths_plain, widths_cuped, covered = [], [], []
    for run in range(RUNS):
        arms = [
            RegressionAdjustedStatistic(
                n,
                float(sums[0][a, run]),
                float(sums[1][a, run]),
                float(sums[2][a, run]),
                float(sums[3][a, run]),
                float(cross[a, run]),
            )
            for a in (0, 1)
        ]
        control, treatment = cuped_estimates(arms)
        adjusted = welch_test(difference(control, treatment, "absolute"), config)
        plain = compare(arms[0].post, arms[1].post, config)
        (lo, hi), (plo, phi) = adjusted.ci, plain.ci
        assert lo is not None
        assert hi is not None
        assert plo is not None
        assert phi is not None
        widths_cuped.append(hi - lo)
        widths_plain.append(phi - plo)
        covered.append(lo <= effect <= hi)
    return float(np.mean(widths_cuped)), float(np.mean(widths_plain)), float(np.mean(covered))


class TestFixedHorizon:
    def test_aa_false_positive_rate__2000_runs__within_4_to_6_percent(self) -> None:
        assert 0.04 <= measure_aa_continuous() <= 0.06

    def test_aa_false_positive_rate__binary_absolute__within_4_to_6_percent(self) -> None:
        assert 0.04 <= measure_aa_binary() <= 0.06

    def test_coverage__known_lift__95_percent_interval_covers_94_to_96(self) -> None:
        relative, absolute = measure_coverage()

        assert 0.94 <= relative <= 0.96
        assert 0.94 <= absolute <= 0.96


class TestSequential:
    def test_peeking__20_looks__sequential_below_alpha_fixed_horizon_far_above(self) -> None:
        fixed_rate, sequential_rate = measure_peeking()

        assert sequential_rate <= 0.05
        assert fixed_rate > 0.1

    def test_time_uniform_coverage__20_looks__covers_truth_at_every_look(self) -> None:
        assert measure_sequential_coverage() >= 0.95


class TestCuped:
    def test_cuped__correlated_covariate__narrows_interval_and_keeps_coverage(self) -> None:
        cuped_width, plain_width, coverage = measure_cuped()

        # corr(x, y) ~ 0.85, so the width should shrink to about sqrt(1 - 0.72) ~ 0.53
        assert cuped_width < 0.6 * plain_width
        assert 0.94 <= coverage <= 0.96
