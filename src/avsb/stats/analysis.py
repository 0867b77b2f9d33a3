"""One metric's readout, as a results page shows it: every variant against the control.

The recipe: (1) turn each arm's sufficient statistics into an estimate (CUPED-adjusted and
post-stratified when asked); (2) check the split for SRM; (3) compare each variant with the
control by the chosen method, falling back to exact answers for 0/1 metrics with no control
conversions; (4) correct the family of comparisons and widen the intervals to match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from avsb.stats import cuped as cuped_module
from avsb.stats.bayesian import (
    BayesianConfig,
    BayesianResult,
    NormalPrior,
    bayesian_test,
    beta_binomial_test,
)
from avsb.stats.errors import StatsInputError, require
from avsb.stats.exact import exact_test, needs_exact_test, newcombe_interval
from avsb.stats.frequentist import (
    DifferenceType,
    EffectEstimate,
    Interval,
    TestConfig,
    confidence_interval,
    difference,
    welch_test,
)
from avsb.stats.multiple_testing import CorrectionMethod, MultipleTestingResult, correct
from avsb.stats.sequential import (
    DEFAULT_TUNING_PARAMETER,
    SequentialConfig,
    sequential_interval,
    sequential_test,
)
from avsb.stats.srm import DEFAULT_SRM_THRESHOLD, SrmResult, srm_test
from avsb.stats.statistics import (
    ArmEstimate,
    MetricStatistic,
    ProportionStatistic,
    RatioAdjustedStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
    estimate_arm,
)
from avsb.stats.stratification import poststratify

MetricType = Literal["binary", "continuous", "ratio"]
Method = Literal["frequentist", "bayesian", "sequential"]
Cells = Sequence[Sequence[MetricStatistic]]

_EXPECTED_TYPES: dict[MetricType, tuple[type, ...]] = {
    "binary": (ProportionStatistic,),
    "continuous": (SampleMeanStatistic,),
    "ratio": (RatioStatistic,),
}


@dataclass(frozen=True, slots=True)
class AnalysisOptions:
    """Everything that shapes one metric's analysis; defaults are the platform's defaults."""

    metric_type: MetricType = "continuous"
    method: Method = "frequentist"
    test: TestConfig = field(default_factory=TestConfig)
    prior: NormalPrior | None = None
    sequential_tuning_parameter: float = DEFAULT_TUNING_PARAMETER
    cuped: bool = False
    correction: CorrectionMethod = "none"
    srm_weights: tuple[float, ...] | None = None
    srm_threshold: float = DEFAULT_SRM_THRESHOLD


@dataclass(frozen=True, slots=True)
class Comparison:
    """One variant against the control; fields the method does not produce are None."""

    variant_index: int
    estimate: float
    standard_error: float
    ci: Interval
    p_value: float | None
    adjusted_p_value: float | None
    chance_to_win: float | None
    risk_control: float | None
    risk_variant: float | None
    significant: bool
    difference_type: DifferenceType
    test: str


@dataclass(frozen=True, slots=True)
class MetricAnalysis:
    """Comparisons (one per non-control arm), the SRM check, the correction and arm estimates."""

    comparisons: tuple[Comparison, ...]
    srm: SrmResult
    correction: MultipleTestingResult | None
    arms: tuple[ArmEstimate, ...]


@dataclass(frozen=True, slots=True)
class _Tested:
    """A comparison before correction, with a way to redo its interval at another alpha."""

    result: EffectEstimate | BayesianResult
    interval_at: Callable[[float], Interval]


def analyze_metric(cells: Cells, options: AnalysisOptions) -> MetricAnalysis:
    """Analyse cells[stratum][arm] (arm 0 = control); the family is this metric's variants."""
    arms, srm, tested = _prepare(cells, options)
    family = None
    if options.correction != "none":
        family = _correct([tested], options.correction, options.test.alpha)
    return _finish(arms, srm, tested, family, 0)


def analyze_family(
    metrics: Sequence[tuple[Cells, AnalysisOptions]],
    correction: CorrectionMethod,
    alpha: float = 0.05,
) -> tuple[MetricAnalysis, ...]:
    """Analyse metrics corrected as one family (default: primary metrics x variants)."""
    prepared = []
    for k, (cells, options) in enumerate(metrics):
        try:
            prepared.append(_prepare(cells, options))
        except StatsInputError as error:
            raise error.within(f"metrics.{k}") from None
    family = None
    if correction != "none":
        family = _correct([tested for _, _, tested in prepared], correction, alpha)
    results, offset = [], 0
    for arms, srm, tested in prepared:
        results.append(_finish(arms, srm, tested, family, offset))
        offset += sum(isinstance(item.result, EffectEstimate) for item in tested)
    return tuple(results)


def _prepare(
    cells: Cells, options: AnalysisOptions
) -> tuple[tuple[ArmEstimate, ...], SrmResult, list[_Tested]]:
    """Steps 1-3 of the recipe: arm estimates, the SRM check, uncorrected comparisons."""
    _check_shape(cells, options)
    arms = _arm_estimates(cells, options)
    srm = srm_test([arm.n for arm in arms], options.srm_weights, options.srm_threshold)
    tested = [_compare(cells, arms, index, options) for index in range(1, len(arms))]
    return arms, srm, tested


def _finish(
    arms: tuple[ArmEstimate, ...],
    srm: SrmResult,
    tested: list[_Tested],
    family: MultipleTestingResult | None,
    offset: int,
) -> MetricAnalysis:
    """Step 4: shape each comparison, corrected within `family` from position `offset` on."""
    comparisons = []
    position = offset
    for index, item in enumerate(tested, start=1):
        comparisons.append(_shape(index, item, family, position))
        position += isinstance(item.result, EffectEstimate)
    return MetricAnalysis(tuple(comparisons), srm, family, arms)


def _check_shape(cells: Cells, options: AnalysisOptions) -> None:
    require(len(cells) >= 1, "strata", "need at least one stratum")
    count = len(cells[0])
    require(2 <= count <= 10, "arms", f"need 2..10 arms (control first), got {count}")
    expected = (
        (RegressionAdjustedStatistic,) if options.cuped else _EXPECTED_TYPES[options.metric_type]
    )
    if options.cuped and options.metric_type == "ratio":  # CUPED on a ratio: see cuped.py
        expected = (RatioAdjustedStatistic,)
        if any(not isinstance(stat, expected) for stratum in cells for stat in stratum):
            raise StatsInputError(
                "cuped", "CUPED on a ratio metric needs its pre-period numerator and denominator"
            )
    for s, stratum in enumerate(cells):
        require(len(stratum) == count, f"strata.{s}.arms", f"need {count} arms in every stratum")
        for a, stat in enumerate(stratum):
            if not isinstance(stat, expected):
                raise StatsInputError(
                    f"strata.{s}.arms.{a}",
                    f"expected {expected[0].__name__}, got {type(stat).__name__}",
                )


def _arm_estimates(cells: Cells, options: AnalysisOptions) -> tuple[ArmEstimate, ...]:
    """Per-arm estimates: CUPED with one theta over every cell, then post-stratified."""
    if options.cuped and options.metric_type == "ratio":
        ratio_cells = [
            [c for c in stratum if isinstance(c, RatioAdjustedStatistic)] for stratum in cells
        ]
        return poststratify(cuped_module.ratio_cuped_cells(ratio_cells))
    theta = 0.0
    if options.cuped:
        theta = cuped_module.cuped_theta([_as_adjusted(c) for stratum in cells for c in stratum])
    rows = []
    for s, stratum in enumerate(cells):
        centre = (
            cuped_module.covariate_mean([_as_adjusted(c) for c in stratum])
            if options.cuped
            else 0.0
        )
        row = []
        for a, stat in enumerate(stratum):
            try:
                if options.cuped:
                    row.append(cuped_module.cuped_adjust(_as_adjusted(stat), theta, centre))
                else:
                    row.append(estimate_arm(stat))
            except StatsInputError as error:
                raise error.within(f"strata.{s}.arms.{a}") from None
        rows.append(row)
    return poststratify(rows)


def _as_adjusted(stat: MetricStatistic) -> RegressionAdjustedStatistic:
    assert isinstance(stat, RegressionAdjustedStatistic)  # _check_shape made sure
    return stat


def _pooled_counts(cells: Cells, arm: int) -> ProportionStatistic:
    """An arm's conversions over all strata, for the exact fallback of 0/1 metrics."""
    n = sum(stratum[arm].n for stratum in cells)
    conversions = 0.0
    for stratum in cells:
        stat = stratum[arm]
        assert isinstance(stat, ProportionStatistic | RegressionAdjustedStatistic)
        conversions += stat.sum
    return ProportionStatistic(n, conversions)


def _compare(
    cells: Cells, arms: Sequence[ArmEstimate], index: int, options: AnalysisOptions
) -> _Tested:
    """Test arm `index` against arm 0 by the options' method."""
    test = options.test
    if options.metric_type == "binary":
        control, treatment = _pooled_counts(cells, 0), _pooled_counts(cells, index)
        if needs_exact_test(control, treatment):
            return _exact(control, treatment, options)
    try:
        diff = difference(arms[0], arms[index], test.difference_type)
        if options.method == "bayesian":
            config = BayesianConfig(test, options.prior)
            bayes = bayesian_test(diff, arms[0].mean, config)
            return _Tested(bayes, lambda _alpha: bayes.ci)
        if options.method == "sequential":
            sequential = SequentialConfig(test, options.sequential_tuning_parameter)
            n = arms[0].n + arms[index].n
            return _Tested(
                sequential_test(diff, n, sequential),
                lambda alpha: sequential_interval(diff, n, sequential, alpha),
            )
        return _Tested(
            welch_test(diff, test),
            lambda alpha: confidence_interval(diff, replace(test, alpha=alpha)),
        )
    except StatsInputError as error:
        raise _locate(error, index) from None


def _exact(
    control: ProportionStatistic, treatment: ProportionStatistic, options: AnalysisOptions
) -> _Tested:
    """The 0/1 fallback: Fisher + Newcombe, or Beta–Binomial posteriors when Bayesian."""
    test = options.test
    if options.method == "bayesian":
        bayes = beta_binomial_test(control, treatment, BayesianConfig(test, options.prior))
        return _Tested(bayes, lambda _alpha: bayes.ci)
    return _Tested(
        exact_test(control, treatment, test),
        lambda alpha: newcombe_interval(control, treatment, replace(test, alpha=alpha)),
    )


def _locate(error: StatsInputError, index: int) -> StatsInputError:
    """Point a comparison's error at the input field that caused it."""
    if error.field == "variance":
        return StatsInputError(f"strata.0.arms.{index}.sum_squares", error.message)
    if error.field == "control.mean":
        return StatsInputError("difference_type", error.message)
    return error


def _correct(
    groups: Sequence[Sequence[_Tested]], method: CorrectionMethod, alpha: float
) -> MultipleTestingResult | None:
    """Correct every p-value in the groups as one family; None if none has a p-value."""
    p_values = [
        item.result.p_value
        for group in groups
        for item in group
        if isinstance(item.result, EffectEstimate)
    ]
    return correct(p_values, method, alpha) if p_values else None


def _shape(
    index: int, item: _Tested, correction: MultipleTestingResult | None, position: int
) -> Comparison:
    result = item.result
    if isinstance(result, BayesianResult):
        return Comparison(
            variant_index=index,
            estimate=result.estimate,
            standard_error=result.posterior_sd,
            ci=result.ci,
            p_value=None,
            adjusted_p_value=None,
            chance_to_win=result.chance_to_win,
            risk_control=result.risk_control,
            risk_variant=result.risk_variant,
            significant=result.significant,
            difference_type=result.difference_type,
            test=result.test,
        )
    adjusted, ci, significant = None, result.ci, result.significant
    if correction is not None:
        adjusted = correction.adjusted_p_values[position]
        significant = correction.reject[position]
        ci = item.interval_at(correction.interval_alpha)
    return Comparison(
        variant_index=index,
        estimate=result.estimate,
        standard_error=result.standard_error,
        ci=ci,
        p_value=result.p_value,
        adjusted_p_value=adjusted,
        chance_to_win=None,
        risk_control=None,
        risk_variant=None,
        significant=significant,
        difference_type=result.difference_type,
        test=result.test,
    )


__all__ = [
    "AnalysisOptions",
    "Comparison",
    "Method",
    "MetricAnalysis",
    "MetricType",
    "analyze_family",
    "analyze_metric",
]
