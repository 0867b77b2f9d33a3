"""The stateless tools: request models in, `avsb.stats` calls, response models out.

Pure functions with no I/O. The schemas reject impossible input up front; anything the
statistics still find impossible surfaces as `ToolInputError`, a 422 `validation_error` whose
`details.fields[].path` names the request field (e.g. `variants.1.sum_squares`).
"""

from __future__ import annotations

import numpy as np

from avsb.server.errors import ValidationFailed
from avsb.server.tools import schemas
from avsb.stats import analysis, bandit, power
from avsb.stats import multiple_testing as multiple_testing_stats
from avsb.stats import srm as srm_stats
from avsb.stats.bayesian import NormalPrior
from avsb.stats.errors import StatsInputError
from avsb.stats.frequentist import TestConfig
from avsb.stats.statistics import (
    MetricStatistic,
    ProportionStatistic,
    RatioStatistic,
    RegressionAdjustedStatistic,
    SampleMeanStatistic,
)

# Stats-side names of planning inputs that differ from the request's field names.
_PLAN_FIELDS = {"mde_relative": "mde_pct"}


class ToolInputError(ValidationFailed):
    """Input the statistics cannot use; `path` is the dotted request field (422)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(
            f"{path}: {message}",
            [{"path": path, "location": "body", "message": message, "type": "value_error"}],
        )
        self.path = path
        self.loc: tuple[str | int, ...] = tuple(
            int(part) if part.isascii() and part.isdigit() else part for part in path.split(".")
        )


def analyze(req: schemas.AnalyzeRequest) -> schemas.AnalyzeResult:
    """Compare every variant with the control (the first) by the requested method."""
    groups = req.groups()
    keys = [v.key for v in groups[0][1]]
    cells = [[_statistic(req, v, (*loc, i)) for i, v in enumerate(vs)] for loc, vs in groups]
    try:
        options = analysis.AnalysisOptions(
            metric_type=req.metric_type,
            method=req.method,
            test=TestConfig(req.alpha, req.two_sided, req.lower_is_better, req.difference_type),
            prior=None if req.prior is None else NormalPrior(req.prior.mean, req.prior.sd),
            sequential_tuning_parameter=req.sequential_tuning_parameter,
            cuped=req.cuped,
            correction=req.correction,
            srm_weights=None if req.weights is None else tuple(req.weights),
            srm_threshold=req.srm_threshold,
        )
        result = analysis.analyze_metric(cells, options)
    except StatsInputError as error:
        raise ToolInputError(
            _analyze_path(error.field, req.strata is not None), error.message
        ) from None
    correction = result.correction
    return schemas.AnalyzeResult(
        comparisons=[comparison_result(keys, c) for c in result.comparisons],
        srm=schemas.SrmSummary(p_value=result.srm.p_value, srm_detected=result.srm.srm_detected),
        correction=None
        if correction is None
        else schemas.CorrectionSummary(
            method=correction.method,
            family_size=correction.family_size,
            interval_alpha=correction.interval_alpha,
        ),
    )


def _statistic(
    req: schemas.AnalyzeRequest, v: schemas.VariantStats, loc: tuple[str | int, ...]
) -> MetricStatistic:
    """The sufficient statistic the metric type (and CUPED) calls for; errors located at loc."""
    try:
        return _build_statistic(req, v)
    except StatsInputError as error:
        path = ".".join(str(part) for part in (*loc, error.field))
        raise ToolInputError(path, error.message) from None


def _build_statistic(req: schemas.AnalyzeRequest, v: schemas.VariantStats) -> MetricStatistic:
    if req.metric_type == "ratio":
        return RatioStatistic(
            v.n,
            v.numerator_sum,
            v.numerator_sum_squares,
            v.denominator_sum,
            v.denominator_sum_squares,
            v.numerator_denominator_cross_sum,
        )
    squares = v.sum if req.metric_type == "binary" else (v.sum_squares or 0.0)
    if req.cuped:
        return RegressionAdjustedStatistic(
            v.n, v.sum, squares, v.covariate_sum, v.covariate_sum_squares, v.cross_sum
        )
    if req.metric_type == "binary":
        return ProportionStatistic(v.n, v.sum)
    return SampleMeanStatistic(v.n, v.sum, squares)


def _analyze_path(field: str, stratified: bool) -> str:
    """Map strata.S.arms.A.x (stats) to variants.A.x or strata.S.variants.A.x (request)."""
    parts = field.split(".")
    if parts[:1] == ["strata"] and len(parts) >= 3 and parts[2] == "arms":
        parts[2] = "variants"
        if not stratified:
            parts = parts[2:]
    return ".".join(parts)


def comparison_result(keys: list[str], c: analysis.Comparison) -> schemas.ComparisonResult:
    """A stats comparison as the API shows it, named by its variant key."""
    return schemas.ComparisonResult(
        variant=keys[c.variant_index],
        estimate=c.estimate,
        standard_error=c.standard_error,
        ci=c.ci,
        p_value=c.p_value,
        adjusted_p_value=c.adjusted_p_value,
        chance_to_win=c.chance_to_win,
        risk_control=c.risk_control,
        risk_variant=c.risk_variant,
        significant=c.significant,
        difference_type=c.difference_type,
        test=c.test,
        notes=list(c.notes),
    )


def _plan_inputs(
    req: schemas.SampleSizeRequest | schemas.SensitivityRequest,
) -> tuple[power.Baseline, power.Traffic, power.PowerConfig]:
    try:
        baseline = power.Baseline(req.metric_type, req.baseline_value, req.std_dev)
        split = None if req.traffic_split is None else tuple(req.traffic_split)
        traffic = power.Traffic(
            req.variants_count, split, req.expected_daily_traffic, req.audience_share_in_test
        )
        return baseline, traffic, power.PowerConfig(req.alpha, req.power, req.two_sided)
    except StatsInputError as error:
        raise _plan_error(error) from None


def _plan_error(error: StatsInputError) -> ToolInputError:
    return ToolInputError(_PLAN_FIELDS.get(error.field, error.field), error.message)


def sample_size(req: schemas.SampleSizeRequest) -> schemas.SampleSizeResult:
    """Units per variant, in total and days needed to detect a relative lift of mde_pct percent."""
    baseline, traffic, config = _plan_inputs(req)
    try:
        plan = power.sample_size(baseline, req.mde_pct / 100, traffic, config)
    except StatsInputError as error:
        raise _plan_error(error) from None
    return schemas.SampleSizeResult(
        sample_size_per_variant=list(plan.sample_size_per_variant),
        total_sample_size=plan.total_sample_size,
        estimated_duration_days=plan.estimated_duration_days,
        method=plan.method,
        alpha_per_comparison=plan.alpha_per_comparison,
    )


def sensitivity(req: schemas.SensitivityRequest) -> schemas.SensitivityResult:
    """The smallest relative lift (percent) detectable after `days` days of traffic."""
    baseline, traffic, config = _plan_inputs(req)
    try:
        result = power.sensitivity(baseline, traffic, req.days, config)
    except StatsInputError as error:
        raise _plan_error(error) from None
    return schemas.SensitivityResult(
        mde_pct=None if result.mde_relative is None else result.mde_relative * 100,
        mde_absolute=result.mde_absolute,
        sample_size_per_variant=list(result.sample_size_per_variant),
        total_sample_size=result.total_sample_size,
        days=result.days,
    )


def srm(req: schemas.SrmRequest) -> schemas.SrmResult:
    """Chi-square SRM test (and the anytime-valid one when `sequential`) against the weights."""
    try:
        fixed = srm_stats.srm_test(req.observed, req.weights, req.threshold)
        sequential = (
            srm_stats.sequential_srm_test(req.observed, req.weights, req.threshold)
            if req.sequential
            else None
        )
    except StatsInputError as error:
        raise ToolInputError(error.field, error.message) from None
    return schemas.SrmResult(
        chi2=fixed.chi2,
        df=fixed.df,
        p_value=fixed.p_value,
        srm_detected=fixed.srm_detected if sequential is None else sequential.srm_detected,
        expected=list(fixed.expected),
        sequential_p_value=None if sequential is None else sequential.p_value,
    )


def multiple_testing(req: schemas.MultipleTestingRequest) -> schemas.MultipleTestingResult:
    """Adjusted p-values and decisions for the family `p_values` (Holm, BH or Bonferroni)."""
    try:
        result = multiple_testing_stats.correct(req.p_values, req.method, req.alpha)
    except StatsInputError as error:
        raise ToolInputError(error.field, error.message) from None
    return schemas.MultipleTestingResult(
        adjusted_p_values=list(result.adjusted_p_values),
        reject=list(result.reject),
        family_size=result.family_size,
        interval_alpha=result.interval_alpha,
    )


def bandit_simulation(req: schemas.BanditSimulationRequest) -> schemas.BanditSimulationResult:
    """Thompson sampling over the true rates, seeded by `seed` (same seed, same answer)."""
    config = bandit.BanditConfig(req.steps, req.batch_size, req.prior_alpha, req.prior_beta)
    try:
        result = bandit.simulate_thompson(req.true_rates, config, np.random.default_rng(req.seed))
    except StatsInputError as error:
        raise ToolInputError(error.field, error.message) from None
    return schemas.BanditSimulationResult(
        allocation=[list(step) for step in result.allocation],
        cumulative_regret=list(result.cumulative_regret),
        pulls=list(result.pulls),
        successes=list(result.successes),
        posterior_means=list(result.posterior_means),
        best_arm=result.best_arm,
        uniform_regret=bandit.uniform_regret(req.true_rates, req.steps * req.batch_size),
    )
