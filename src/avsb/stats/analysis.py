"""One metric's readout, as a results page shows it: every variant against the control.

The recipe: (1) turn each arm's sufficient statistics into an estimate (CUPED-adjusted and
post-stratified when asked); (2) check the split for SRM; (3) compare each variant with the
control by the chosen method: one test of the absolute difference, its effect and interval shown
on the requested scale when that scale is meaningful (a relative lift needs a control mean
clearly above 0; otherwise the answer is absolute with a note); 0/1 metrics with small expected
counts get Fisher's exact test, and Bayesian 0/1 metrics the exact Beta posteriors; (4) correct
the family of comparisons and widen the intervals to match.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from avsb.stats import _dist
from avsb.stats import cuped as cuped_module
from avsb.stats.bayesian import (
    BayesianConfig,
    BayesianResult,
    NormalPrior,
    bayesian_contrast,
    beta_binomial_test,
)
from avsb.stats.errors import StatsInputError, require
from avsb.stats.exact import exact_test, needs_exact_test, newcombe_interval
from avsb.stats.frequentist import (
    DifferenceType,
    EffectEstimate,
    Interval,
    TestConfig,
    contrast,
    fixed_contrast,
    fixed_interval,
    fixed_test,
)
from avsb.stats.multiple_testing import CorrectionMethod, MultipleTestingResult, correct
from avsb.stats.sequential import (
    DEFAULT_TUNING_PARAMETER,
    SequentialConfig,
    sequential_contrast,
    sequential_contrast_interval,
    sequential_contrast_test,
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
    notes: tuple[str, ...] = ()
    # treatment - control on the metric's own scale: its sign is the direction of the effect
    # whatever scale `estimate` is on (None when built by hand without it).
    absolute_estimate: float | None = None


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
    absolute_estimate: float


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
        comparison = _shape(index, item, family, position)
        _check_finite(comparison, index)
        comparisons.append(comparison)
        position += isinstance(item.result, EffectEstimate)
    return MetricAnalysis(tuple(comparisons), srm, family, arms)


def _check_finite(comparison: Comparison, index: int) -> None:
    """No NaN or infinity leaves the engine: such a result means the input left double range."""
    numbers = [comparison.estimate, comparison.standard_error]
    numbers += [
        v for v in (*comparison.ci, comparison.p_value, comparison.chance_to_win) if v is not None
    ]
    numbers += [v for v in (comparison.risk_control, comparison.risk_variant) if v is not None]
    if not all(math.isfinite(v) for v in numbers):
        raise StatsInputError(
            f"strata.0.arms.{index}.sum_squares",
            "the values are too large for double precision; rescale the metric",
        )


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
    control_arm, treatment_arm = arms[0], arms[index]
    absolute = treatment_arm.mean - control_arm.mean
    try:
        if options.metric_type == "binary":
            control, treatment = _pooled_counts(cells, 0), _pooled_counts(cells, index)
            exact_posterior = not options.cuped and len(cells) == 1 and options.prior is None
            if options.method == "bayesian" and exact_posterior:
                config = BayesianConfig(test, None)
                bayes = beta_binomial_test(control, treatment, config, test.difference_type)
                return _Tested(bayes, lambda _alpha: bayes.ci, absolute)
            if options.method != "bayesian" and needs_exact_test(control, treatment):
                return _exact(control, treatment, options, absolute)
        if options.method == "bayesian":
            critical = _dist.normal_ppf(1 - test.alpha / 2 if test.two_sided else 1 - test.alpha)
            item = contrast(control_arm, treatment_arm, test.difference_type, critical)
            bayes = bayesian_contrast(item, BayesianConfig(test, options.prior))
            if options.metric_type == "binary" and options.prior is not None:
                note = "a normal prior on the lift was given: the normal model is used"
                bayes = replace(bayes, notes=(*bayes.notes, note))
            return _Tested(bayes, lambda _alpha: bayes.ci, absolute)
        if options.method == "sequential":
            sequential = SequentialConfig(test, options.sequential_tuning_parameter)
            item = sequential_contrast(control_arm, treatment_arm, sequential)
            return _Tested(
                sequential_contrast_test(item, sequential),
                lambda alpha: sequential_contrast_interval(item, sequential, alpha),
                absolute,
            )
        item = fixed_contrast(control_arm, treatment_arm, test)
        return _Tested(
            fixed_test(item, test),
            lambda alpha: fixed_interval(item, replace(test, alpha=alpha)),
            absolute,
        )
    except StatsInputError as error:
        raise _locate(error, index) from None


def _exact(
    control: ProportionStatistic,
    treatment: ProportionStatistic,
    options: AnalysisOptions,
    absolute: float,
) -> _Tested:
    """The small-count 0/1 test: Fisher + Newcombe on the absolute difference of rates."""
    test = options.test
    result = exact_test(control, treatment, test)
    note = (
        "some cell of the 2x2 table expects fewer than 5 units: Fisher's exact test on the "
        "absolute difference of rates"
    )
    result = replace(result, notes=(note,))
    return _Tested(
        result,
        lambda alpha: newcombe_interval(control, treatment, replace(test, alpha=alpha)),
        absolute,
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
            notes=result.notes,
            absolute_estimate=item.absolute_estimate,
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
        notes=result.notes,
        absolute_estimate=item.absolute_estimate,
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
