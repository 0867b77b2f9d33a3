"""Statistics engine throughput: metric x variant comparisons per second from sufficient stats.

Run: .venv/bin/python bench/bench_stats.py [--comparisons 1000] [--repeats 7] [--rounds 3]

Each comparison starts from (n, sum, sum_squares) for a control and a variant and ends with an
estimate, standard error, 95% interval and p-value (or chance to win). The baselines run in the
same process on the same inputs: the same Welch computation through scipy
(`ttest_ind_from_stats` + `t.ppf`) and GrowthBook's gbstats for each method (frequentist,
Bayesian, sequential), for a continuous and a 0/1 metric. Each round takes the best of
`--repeats` timed runs per path; the table shows the median over `--rounds` rounds and their
range, with the load average before and after.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Callable
from functools import partial

import numpy as np
from gbstats.bayesian.tests import EffectBayesianABTest, EffectBayesianConfig
from gbstats.frequentist.tests import (
    FrequentistConfig,
    SequentialConfig,
    SequentialTwoSidedTTest,
    TwoSidedTTest,
)
from gbstats.models.statistics import ProportionStatistic as GbProportion
from gbstats.models.statistics import SampleMeanStatistic as GbSampleMean
from scipy import stats as sps

from avsb.stats import (
    AnalysisOptions,
    ProportionStatistic,
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


def make_binary_pairs(count: int, seed: int = 1) -> list[Pair]:
    """Conversion counts for `count` control/variant pairs of a 0/1 metric (2-20% rates)."""
    rng = np.random.default_rng(seed)
    pairs = []
    for _ in range(count):
        size, rate = int(rng.integers(1_000, 50_000)), rng.uniform(0.02, 0.2)
        arms = [(float(size), float(rng.binomial(size, r)), 0.0) for r in (rate, rate * 1.05)]
        pairs.append((arms[0], arms[1]))
    return pairs


def run_avsb_analysis(pairs: list[Pair], method: str, kind: str = "continuous") -> None:
    options = AnalysisOptions(metric_type=kind, method=method)  # type: ignore[arg-type]
    for (nc, sc, qc), (nt, st, qt) in pairs:
        arms: list[SampleMeanStatistic] | list[ProportionStatistic]
        if kind == "binary":
            arms = [ProportionStatistic(int(nc), sc), ProportionStatistic(int(nt), st)]
        else:
            arms = [SampleMeanStatistic(int(nc), sc, qc), SampleMeanStatistic(int(nt), st, qt)]
        analyze_metric([arms], options)


def run_gbstats(pairs: list[Pair], method: str, kind: str = "continuous") -> None:
    """gbstats' test for the method on the same sufficient statistics (relative lift)."""
    for (nc, sc, qc), (nt, st, qt) in pairs:
        if kind == "binary":
            a, b = GbProportion(n=int(nc), sum=sc), GbProportion(n=int(nt), sum=st)
        else:
            a = GbSampleMean(n=int(nc), sum=sc, sum_squares=qc)
            b = GbSampleMean(n=int(nt), sum=st, sum_squares=qt)
        if method == "frequentist":
            TwoSidedTTest(a, b, FrequentistConfig()).compute_result()
        elif method == "sequential":
            config = SequentialConfig(sequential_tuning_parameter=5000)
            SequentialTwoSidedTTest(a, b, config).compute_result()
        else:
            EffectBayesianABTest(a, b, EffectBayesianConfig()).compute_result()


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


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--comparisons", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    count, repeats = args.comparisons, args.repeats
    pairs, binary = make_pairs(count), make_binary_pairs(count)

    paths: list[tuple[str, Callable[[], None]]] = [
        ("scipy ttest_ind_from_stats + t.ppf (baseline)", lambda: run_scipy(pairs)),
        ("avsb compare, absolute", lambda: run_avsb(pairs, "absolute")),
        ("avsb compare, relative (Fieller)", lambda: run_avsb(pairs, "relative")),
    ]
    for method in ("frequentist", "bayesian", "sequential"):
        for kind, data in (("continuous", pairs), ("binary", binary)):
            paths.append(
                (
                    f"avsb analyze_metric, {method}, {kind}",
                    partial(run_avsb_analysis, data, method, kind),
                )
            )
            paths.append((f"gbstats {method}, {kind}", partial(run_gbstats, data, method, kind)))
    paths.append(("scipy vectorised, one call over all", lambda: run_scipy_vectorised(pairs)))

    print(f"load average before: {_load()}")
    rates: dict[str, list[float]] = {name: [] for name, _ in paths}
    for _ in range(args.rounds):
        for name, work in paths:
            rates[name].append(best_rate(work, count, repeats))
    print(f"load average after:  {_load()}")
    print(
        f"{count} comparisons per path, best of {repeats} runs per round, "
        f"median and range over {args.rounds} rounds"
    )
    print(f"{'path':<46} {'median/s':>10} {'range/s':>19}")
    for name, _ in paths:
        values = rates[name]
        low, high = min(values), max(values)
        print(f"{name:<46} {statistics.median(values):>10,.0f} {low:>9,.0f}-{high:<9,.0f}")
    print(f"max relative p-value difference avsb vs scipy: {check_agreement(pairs):.2e}")


if __name__ == "__main__":
    main()
