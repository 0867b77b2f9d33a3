"""The per-unit tools: quantile comparison, Mann-Whitney rank test, bootstrap interval and
categorical readout. Pure: request models in, ``avsb.stats`` calls, response models out;
anything the statistics reject is a 422 naming the request field."""

from __future__ import annotations

from collections.abc import Callable
from typing import ParamSpec, TypeVar

from avsb.server.tools import kinds_schemas as schemas
from avsb.server.tools.service import ToolInputError
from avsb.stats import _dist, bootstrap, categorical, nonparametric, quantile
from avsb.stats.categorical import CategoricalAnalysis, ChiSquareResult
from avsb.stats.errors import StatsInputError
from avsb.stats.frequentist import TestConfig

T = TypeVar("T")
P = ParamSpec("P")


def _located(path: str, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a stats call; a StatsInputError becomes a 422 at ``path`` (its field appended)."""
    try:
        return call(*args, **kwargs)
    except StatsInputError as error:
        if error.field.startswith("control."):  # e.g. a relative lift over a control at 0
            raise ToolInputError("variants.0.values", error.message) from None
        field = error.field if error.field not in ("values", "control", "treatment") else ""
        raise ToolInputError(f"{path}.{field}" if field else path, error.message) from None


def quantile_tool(req: schemas.QuantileRequest) -> schemas.QuantileResult:
    """Each variant's quantile with its order-statistic interval, compared with the control."""
    z = _dist.normal_ppf(1.0 - req.alpha / 2)  # [X_(L), X_(U)] at level 1 - alpha
    arms = [
        _located(f"variants.{i}.values", quantile.quantile_arm, v.values, req.quantile, z)
        for i, v in enumerate(req.variants)
    ]
    config = TestConfig(req.alpha, req.two_sided, req.lower_is_better, req.difference_type)
    comparisons = []
    for i, arm in enumerate(arms[1:], start=1):
        found = _located(f"variants.{i}.values", quantile.compare_quantiles, arms[0], arm, config)
        comparisons.append(
            schemas.EffectResult(
                variant=req.variants[i].key,
                estimate=found.estimate,
                standard_error=found.standard_error,
                ci=found.ci,
                p_value=found.p_value,
                significant=found.significant,
                difference_type=found.difference_type,
                test=found.test,
            )
        )
    return schemas.QuantileResult(
        quantile=req.quantile,
        variants=[
            schemas.QuantileVariant(
                key=v.key,
                n=a.n,
                quantile=a.estimate,
                ci=(a.lower, a.upper),
                standard_error=a.standard_error,
            )
            for v, a in zip(req.variants, arms, strict=True)
        ],
        comparisons=comparisons,
    )


def rank_test(req: schemas.RankTestRequest) -> schemas.RankTestResult:
    """Mann-Whitney U of every variant against the control."""
    config = TestConfig(req.alpha, req.two_sided, req.lower_is_better)
    control = req.variants[0].values
    out = []
    for i, v in enumerate(req.variants[1:], start=1):
        result = _located(
            f"variants.{i}",
            nonparametric.mann_whitney,
            control,
            v.values,
            config,
            req.method,
        )
        out.append(
            schemas.RankComparison(
                variant=v.key,
                u_statistic=result.u_statistic,
                z=result.z,
                p_value=result.p_value,
                probability_of_superiority=result.probability_of_superiority,
                significant=result.significant,
                method=result.method,
                test=result.test,
            )
        )
    return schemas.RankTestResult(comparisons=out)


def bootstrap_tool(req: schemas.BootstrapRequest) -> schemas.BootstrapResult:
    """Seeded bootstrap interval of each variant's mean effect against the control."""
    control = req.variants[0].values
    out = []
    for i, v in enumerate(req.variants[1:], start=1):
        config = bootstrap.BootstrapConfig(
            req.resamples, req.alpha, req.method, req.difference_type, req.seed + i - 1
        )
        result = _located(
            f"variants.{i}",
            bootstrap.bootstrap_mean_difference,
            control,
            v.values,
            config,
        )
        out.append(
            schemas.BootstrapComparison(
                variant=v.key,
                estimate=result.estimate,
                ci=result.ci,
                standard_error=result.standard_error,
                difference_type=result.difference_type,
                method=result.method,
                resamples=result.resamples,
                acceleration=result.acceleration,
                bias_correction=result.bias_correction,
            )
        )
    return schemas.BootstrapResult(comparisons=out)


def chi_square_out(found: ChiSquareResult | None) -> schemas.ChiSquareOut | None:
    if found is None:
        return None
    return schemas.ChiSquareOut(chi2=found.chi2, df=found.df, p_value=found.p_value)


def categorical_out(keys: list[str], found: CategoricalAnalysis) -> schemas.CategoricalResult:
    """A categorical analysis as the API shows it (also used by experiment results)."""
    return schemas.CategoricalResult(
        categories=list(found.categories),
        variants=[
            schemas.CategoricalVariant(
                key=key, n=sum(counts), counts=list(counts), shares=list(shares)
            )
            for key, counts, shares in zip(keys, found.counts, found.shares, strict=True)
        ],
        chi_square=chi_square_out(found.chi_square),
        comparisons=[
            schemas.CategoricalComparisonOut(
                variant=keys[c.variant_index],
                chi_square=chi_square_out(c.chi_square),
                lifts=[
                    schemas.CategoryLiftOut(
                        category=lift.category,
                        control_share=lift.control_share,
                        variant_share=lift.variant_share,
                        difference=lift.difference,
                        ci=lift.ci,
                        p_value=lift.p_value,
                        relative_lift=lift.relative_lift,
                        relative_ci=lift.relative_ci,
                    )
                    for lift in c.lifts
                ],
            )
            for c in found.comparisons
        ],
    )


def categorical_tool(req: schemas.CategoricalRequest) -> schemas.CategoricalResult:
    """Distribution per variant, chi-square of independence and per-category lifts."""
    table = [v.counts for v in req.variants]
    found = _located("variants", categorical.categorical_analysis, table, req.categories, req.alpha)
    return categorical_out([v.key for v in req.variants], found)
