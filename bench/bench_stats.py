"""Statistics engine throughput: metric x variant comparisons per second from sufficient stats.

Run: .venv/bin/python bench/bench_stats.py [--comparisons 1000] [--repeats 7]

Each comparison starts from (n, sum, sum_squares) for a control and a variant and ends with an
estimate, standard error, 95% interval and p-value. The baseline is the same Welch computation
through scipy (`ttest_ind_from_stats` for the test, `t.ppf` for the interval), one call per
comparison, measured in the same run; the best of several repeats is reported for each.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

import numpy as np
from scipy import stats as sps

from avsb.stats import (
    AnalysisOptions,
    SampleMeanStatistic,
    TestConfig,
    analyze_metric,
    compare,
)

Sums = tuple[float, float, float]
Pair = tuple[Sums, Sums]


def make_pairs(count: int, seed: int = 0) -> list[Pair]:
    """Sufficient statistics for `count` control/variant pairs of a continuous metric."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        sums = []
        size = int(rng.integers(1_000, 50_000))  # per arm; a healthy 50/50 split
        for shift in (0.0, rng.normal(0.0, 0.3)):
            n = size + int(rng.normal(0.0, math.sqrt(size) / 2))
            mean, sd = 10.0 + shift, rng.uniform(2.0, 8.0)
            total = mean * n
            squares = (sd**2) * (n - 1) + total**2 / n
            sums.append((float(n), total, squares))
        pairs.append((sums[0], sums[1]))
    return pairs


def run_avsb(pairs: list[Pair], difference_type: str) -> None:
    config = TestConfig(difference_type="absolute" if difference_type == "absolute" else "relative")
    for (nc, sc, qc), (nt, st, qt) in pairs:
        compare(SampleMeanStatistic(int(nc), sc, qc), SampleMeanStatistic(int(nt), st, qt), config)


def run_avsb_analysis(pairs: list[Pair], method: str) -> None:
    options = AnalysisOptions(method=method)  # type: ignore[arg-type]
    for (nc, sc, qc), (nt, st, qt) in pairs:
        arms = [SampleMeanStatistic(int(nc), sc, qc), SampleMeanStatistic(int(nt), st, qt)]
        analyze_metric([arms], options)


def run_scipy(pairs: list[Pair]) -> None:
    for (nc, sc, qc), (nt, st, qt) in pairs:
        mc, mt = sc / nc, st / nt
        vc, vt = (qc - sc * sc / nc) / (nc - 1), (qt - st * st / nt) / (nt - 1)
        sps.ttest_ind_from_stats(mt, math.sqrt(vt), nt, mc, math.sqrt(vc), nc, equal_var=False)
        a, b = vt / nt, vc / nc
        df = (a + b) ** 2 / (a * a / (nt - 1) + b * b / (nc - 1))
        half = sps.t.ppf(0.975, df) * math.sqrt(a + b)
        (mt - mc - half, mt - mc + half)


def run_scipy_vectorised(pairs: list[Pair]) -> None:
    arr = np.asarray(pairs)
    nc, sc, qc = arr[:, 0, 0], arr[:, 0, 1], arr[:, 0, 2]
    nt, st, qt = arr[:, 1, 0], arr[:, 1, 1], arr[:, 1, 2]
    vc, vt = (qc - sc * sc / nc) / (nc - 1), (qt - st * st / nt) / (nt - 1)
    sps.ttest_ind_from_stats(st / nt, np.sqrt(vt), nt, sc / nc, np.sqrt(vc), nc, equal_var=False)
    a, b = vt / nt, vc / nc
    df = (a + b) ** 2 / (a * a / (nt - 1) + b * b / (nc - 1))
    sps.t.ppf(0.975, df) * np.sqrt(a + b)


def best_rate(work: Callable[[], None], count: int, repeats: int) -> float:
    """Comparisons per second, best of `repeats` timed runs after one warm-up."""
    work()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return count / best


def check_agreement(pairs: list[Pair]) -> float:
    """Largest relative difference between avsb and scipy p-values over the pairs."""
    worst = 0.0
    config = TestConfig(difference_type="absolute")
    for (nc, sc, qc), (nt, st, qt) in pairs:
        ours = compare(
            SampleMeanStatistic(int(nc), sc, qc), SampleMeanStatistic(int(nt), st, qt), config
        ).p_value
        vc, vt = (qc - sc * sc / nc) / (nc - 1), (qt - st * st / nt) / (nt - 1)
        theirs = sps.ttest_ind_from_stats(
            st / nt, math.sqrt(vt), nt, sc / nc, math.sqrt(vc), nc, equal_var=False
        ).pvalue
        if theirs > 1e-300:
            worst = max(worst, abs(ours - theirs) / theirs)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    count, repeats = args.comparisons, args.repeats
    pairs = make_pairs(count)

    scipy_rate = best_rate(lambda: run_scipy(pairs), count, repeats)
    rows = [
        ("scipy ttest_ind_from_stats + t.ppf (baseline)", scipy_rate),
        (
            "avsb.stats compare, absolute (same computation)",
            best_rate(lambda: run_avsb(pairs, "absolute"), count, repeats),
        ),
        (
            "avsb.stats compare, relative (delta method)",
            best_rate(lambda: run_avsb(pairs, "relative"), count, repeats),
        ),
        (
            "avsb.stats analyze_metric, frequentist (+SRM)",
            best_rate(lambda: run_avsb_analysis(pairs, "frequentist"), count, repeats),
        ),
        (
            "avsb.stats analyze_metric, sequential (+SRM)",
            best_rate(lambda: run_avsb_analysis(pairs, "sequential"), count, repeats),
        ),
        (
            "avsb.stats analyze_metric, bayesian (+SRM)",
            best_rate(lambda: run_avsb_analysis(pairs, "bayesian"), count, repeats),
        ),
        (
            "scipy vectorised, one call over all (reference)",
            best_rate(lambda: run_scipy_vectorised(pairs), count, repeats),
        ),
    ]
    print(f"{count} metric x variant comparisons, best of {repeats} runs")
    print(f"{'path':<52} {'comparisons/s':>14} {'vs scipy':>9}")
    for name, rate in rows:
        print(f"{name:<52} {rate:>14,.0f} {rate / scipy_rate:>8.2f}x")
    print(f"max relative p-value difference avsb vs scipy: {check_agreement(pairs):.2e}")


if __name__ == "__main__":
    main()
