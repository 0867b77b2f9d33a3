"""Results of the metric kinds beyond means (docs/results.md, "Metric kinds"):

- quantile metrics compare the arms' quantiles (order-statistic SE, ``avsb.stats.quantile``);
- categorical metrics show each arm's category distribution, the chi-square test of
  independence and per-category lifts, and have no single lift (so no comparisons);
- count and sum metrics with ``test="mann_whitney"`` take the comparison's p-value from the
  Mann-Whitney U test, and with ``interval="bootstrap"`` its interval and standard error
  from a Poisson bootstrap (BCa) of the same effect.

These metrics are analysed without CUPED (the test and interval are of the plain values) and
stay outside the multiple-testing families, whose correction recomputes Welch tests.
The event store answers one extra query per metric and option (``analysis.kinds``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import SupportsFloat, TypeVar, cast

import numpy as np
import numpy.typing as npt

from avsb.server.analysis import ExperimentScope, MetricDefinition, MetricType, UnitRules
from avsb.server.analysis.kinds import (
    MAX_CATEGORY_ROWS,
    BootstrapPlan,
    CategoryPlan,
    MomentsPlan,
    QuantilePlan,
    RankPlan,
)
from avsb.server.events import EventStore
from avsb.server.results import readout, schemas
from avsb.server.results.readout import AnalysisSettings, DailyStats, Matrix, MetricSpec, Readout
from avsb.server.tools import kinds_schemas
from avsb.server.tools.kinds_service import categorical_out
from avsb.stats import AnalysisOptions, Comparison, StatsInputError, _dist
from avsb.stats.bootstrap import BootstrapConfig, Moments, poisson_replicates_result
from avsb.stats.categorical import categorical_analysis
from avsb.stats.frequentist import EffectEstimate, Interval, TestConfig
from avsb.stats.nonparametric import RankSums, mann_whitney_from_sums
from avsb.stats.quantile import QuantileArm, compare_quantiles

Vector = npt.NDArray[np.float64]
BOOTSTRAP_REPLICATES = 500
BOOTSTRAP_SEED = 0  # fixed: the same events give the same interval (and snapshot)
MAX_CATEGORIES = kinds_schemas.MAX_CATEGORIES
NO_CATEGORY = "(none)"  # units without an event of the metric in the window
MIN_ALPHA = 1e-10  # smaller levels have no finite normal quantile in doubles
_OWN_TYPES = frozenset({MetricType.QUANTILE, MetricType.CATEGORICAL})


def own_analysis(metric: MetricDefinition) -> bool:
    """Whether the metric's comparisons come from this module (not Welch's t-test alone)."""
    return metric.type in _OWN_TYPES or metric.test != "welch" or metric.interval != "normal"


def has_mean_series(metric: MetricDefinition) -> bool:
    """Whether the per-day series and the holdout readout (means) describe the metric."""
    return metric.type not in _OWN_TYPES


def arms(spec: MetricSpec, stats: DailyStats, variants: Sequence[str]) -> list[Matrix]:
    """Each arm's (strata x sums): one stratum of totals when the analysis is this module's
    (its tests and intervals are of the plain values, not post-stratified)."""
    if own_analysis(spec.definition):
        return [stats.total(key)[None, :] for key in variants]
    return [stats.by_stratum(key) for key in variants]


def options(spec: MetricSpec, found: AnalysisOptions) -> AnalysisOptions:
    """The analysis options of a metric: without CUPED when its analysis is this module's."""
    return replace(found, cuped=False) if own_analysis(spec.definition) else found


@dataclass
class Extra:
    """What the extra queries found, by metric id, and the ``kind`` sections made from it."""

    quantiles: dict[str, dict[str, QuantileArm]] = field(default_factory=dict)
    ranks: dict[str, dict[str, tuple[int, int, float, float]]] = field(default_factory=dict)
    moments: dict[str, dict[str, Moments]] = field(default_factory=dict)
    replicates: dict[str, dict[str, tuple[Vector, Vector]]] = field(default_factory=dict)
    categories: dict[str, list[tuple[str, str | None, int]]] = field(default_factory=dict)
    outs: dict[str, schemas.MetricKindOut] = field(default_factory=dict)


def _num(value: object) -> float:
    return float(cast(SupportsFloat, value))


@dataclass(frozen=True, slots=True)
class Scope:
    """What every extra query of one results answer shares."""

    experiment: ExperimentScope
    variants: tuple[str, ...]  # control first
    rules: UnitRules
    settings: AnalysisSettings


P = TypeVar("P", QuantilePlan, RankPlan, MomentsPlan, CategoryPlan)
Common = tuple[ExperimentScope, MetricDefinition, tuple[str, ...], UnitRules]


def _plan(cls: type[P], common: Common, **options: float) -> P:
    scope, metric, variants, rules = common
    return cls(scope=scope, metric=metric, variants=variants, rules=rules, **options)


def query(store: EventStore, scope: Scope, specs: Sequence[MetricSpec]) -> Extra:
    """Run the extra queries the metrics' kinds and options need (none for plain metrics)."""
    extra = Extra()
    z = _dist.normal_ppf(1.0 - max(scope.settings.alpha, MIN_ALPHA) / 2)
    for spec in specs:
        metric, key = spec.definition, spec.id
        common = (scope.experiment, metric, scope.variants, scope.rules)
        if metric.type is MetricType.QUANTILE:
            rows = store.query(_plan(QuantilePlan, common, z=z))
            extra.quantiles[key] = {
                str(v): QuantileArm(int(_num(n)), _num(e), _num(lo), _num(hi), z)
                for v, n, e, lo, hi in rows
                if _num(n) >= 2
            }
        if metric.type is MetricType.CATEGORICAL:
            rows = store.query(_plan(CategoryPlan, common))
            extra.categories[key] = [
                (str(v), None if c is None else str(c), int(_num(n))) for v, c, n in rows
            ]
        if metric.test == "mann_whitney":
            rows = store.query(_plan(RankPlan, common))
            extra.ranks[key] = {
                str(v): (int(_num(nc)), int(_num(nt)), _num(rs), _num(tie))
                for v, nc, nt, rs, tie in rows
            }
        if metric.interval == "bootstrap":
            moments = store.query(_plan(MomentsPlan, common))
            extra.moments[key] = {
                str(v): Moments.from_sums(int(_num(n)), _num(s1), _num(s2), _num(s3))
                for v, n, s1, s2, s3 in moments
                if _num(n) >= 2
            }
            experiment, _, variants, rules = common
            plan = BootstrapPlan(
                scope=experiment, metric=metric, variants=variants, rules=rules,
                replicates=BOOTSTRAP_REPLICATES, seed=BOOTSTRAP_SEED,
            )  # fmt: skip
            extra.replicates[key] = _replicates(store.query(plan))
    return extra


def _replicates(rows: Sequence[tuple[object, ...]]) -> dict[str, tuple[Vector, Vector]]:
    """Per variant the replicates' weight totals and weighted sums, indexed by replicate."""
    out: dict[str, tuple[Vector, Vector]] = {}
    for variant, b, w, wy in rows:
        if str(variant) not in out:
            out[str(variant)] = (np.zeros(BOOTSTRAP_REPLICATES), np.zeros(BOOTSTRAP_REPLICATES))
        weights, sums = out[str(variant)]
        weights[int(_num(b))], sums[int(_num(b))] = _num(w), _num(wy or 0.0)
    return out


# -- comparisons ----------------------------------------------------------------------------


def _comparison(index: int, effect: EffectEstimate) -> Comparison:
    return Comparison(
        variant_index=index,
        estimate=effect.estimate,
        standard_error=effect.standard_error,
        ci=effect.ci,
        p_value=effect.p_value,
        adjusted_p_value=None,
        chance_to_win=None,
        risk_control=None,
        risk_variant=None,
        significant=effect.significant,
        difference_type=effect.difference_type,
        test=effect.test,
    )


def _failed(r: Readout, code: str, message: str) -> Readout:
    return replace(r, analysis=None, error=schemas.MetricError(code=code, message=message))


def _quantile(r: Readout, arms: dict[str, QuantileArm], keys: Sequence[str]) -> Readout:
    if r.analysis is None:
        return r
    found = [arms.get(key) for key in keys]
    control = found[0]
    comparisons = []
    for index, arm in enumerate(found[1:], start=1):
        if control is None or arm is None:
            return _failed(r, "insufficient_data", "Every variant needs at least 2 units.")
        config = r.options.test
        try:
            try:
                effect = compare_quantiles(control, arm, config)
            except StatsInputError as exc:  # a control quantile of 0: report the difference
                if not exc.field.startswith("control"):
                    raise
                effect = compare_quantiles(
                    control, arm, replace(config, difference_type="absolute")
                )
        except StatsInputError as exc:
            return _failed(r, "not_analysable", f"{exc.field}: {exc.message}")
        comparisons.append(_comparison(index, effect))
    return replace(r, analysis=replace(r.analysis, comparisons=tuple(comparisons)))


def _rank_tests(
    r: Readout, sums: dict[str, tuple[int, int, float, float]], keys: Sequence[str]
) -> tuple[Readout, list[kinds_schemas.RankComparison]]:
    if r.analysis is None:
        return r, []
    comparisons, outs = [], []
    for c in r.analysis.comparisons:
        key = keys[c.variant_index]
        found = sums.get(key)
        if found is None:
            return _failed(r, "insufficient_data", f"No units in {key!r}."), []
        try:
            test = mann_whitney_from_sums(RankSums(*found), r.options.test, "asymptotic")
        except StatsInputError as exc:
            return _failed(r, "not_analysable", f"{exc.field}: {exc.message}"), []
        comparisons.append(
            replace(c, p_value=test.p_value, significant=test.significant, test=test.test)
        )
        outs.append(
            kinds_schemas.RankComparison(
                variant=key, u_statistic=test.u_statistic, z=test.z, p_value=test.p_value,
                probability_of_superiority=test.probability_of_superiority,
                significant=test.significant, method=test.method, test=test.test,
            )
        )  # fmt: skip
    return replace(r, analysis=replace(r.analysis, comparisons=tuple(comparisons))), outs


def _one_sided(ci: tuple[float, float], config: TestConfig) -> Interval:
    if config.two_sided:
        return ci
    return (None, ci[1]) if config.lower_is_better else (ci[0], None)


def _bootstrap(
    r: Readout, extra: Extra, keys: Sequence[str]
) -> tuple[Readout, list[kinds_schemas.BootstrapComparison]]:
    if r.analysis is None:
        return r, []
    moments, reps = extra.moments.get(r.spec.id, {}), extra.replicates.get(r.spec.id, {})
    config = r.options.test
    comparisons, outs = [], []
    for c in r.analysis.comparisons:
        key = keys[c.variant_index]
        arms = (moments.get(keys[0]), moments.get(key))
        weights = (reps.get(keys[0]), reps.get(key))
        if arms[0] is None or arms[1] is None or weights[0] is None or weights[1] is None:
            return _failed(r, "insufficient_data", "Every variant needs at least 2 units."), []
        tail = max(config.alpha if config.two_sided else 2 * config.alpha, MIN_ALPHA)
        boot = BootstrapConfig(BOOTSTRAP_REPLICATES, tail, "bca", c.difference_type)
        try:
            found = poisson_replicates_result(arms[0], arms[1], (*weights[0], *weights[1]), boot)
        except StatsInputError as exc:
            return _failed(r, "not_analysable", f"{exc.field}: {exc.message}"), []
        ci = _one_sided(found.ci, config)
        comparisons.append(replace(c, ci=ci, standard_error=found.standard_error))
        outs.append(
            kinds_schemas.BootstrapComparison(
                variant=key, estimate=found.estimate, ci=found.ci,
                standard_error=found.standard_error, difference_type=found.difference_type,
                method=found.method, resamples=found.resamples,
                acceleration=found.acceleration, bias_correction=found.bias_correction,
            )
        )  # fmt: skip
    return replace(r, analysis=replace(r.analysis, comparisons=tuple(comparisons))), outs


def _categorical(
    r: Readout, rows: list[tuple[str, str | None, int]], keys: Sequence[str]
) -> tuple[Readout, kinds_schemas.CategoricalResult | None]:
    if r.error is not None and r.error.code == "insufficient_data":
        return r, None  # (the Welch readout of "has an event" failing otherwise is moot)
    if len(rows) > MAX_CATEGORY_ROWS:
        return _failed(r, "too_many_categories", f"More than {MAX_CATEGORY_ROWS} cells."), None
    counts: dict[tuple[str, str], int] = {}
    for variant, category, n in rows:
        name = NO_CATEGORY if category is None else category
        counts[(variant, name)] = counts.get((variant, name), 0) + n
    names = sorted({name for _, name in counts})
    if len(names) > MAX_CATEGORIES:
        message = f"{len(names)} categories; a categorical metric may have {MAX_CATEGORIES}."
        return _failed(r, "too_many_categories", message), None
    table = [[counts.get((key, name), 0) for name in names] for key in keys]
    try:
        found = categorical_analysis(table, names, r.options.test.alpha)
    except StatsInputError as exc:
        return _failed(r, "not_analysable", f"{exc.field}: {exc.message}"), None
    message = "Compared by its category distribution (kind.categorical): it has no single lift."
    return _failed(r, "categorical", message), categorical_out(list(keys), found)


def refine(r: Readout, extra: Extra, keys: Sequence[str]) -> Readout:
    """The readout with this module's comparisons; its ``kind`` section kept in ``extra``."""
    metric = r.spec.definition
    if not own_analysis(metric):
        return r
    kind = schemas.MetricKindOut(
        test="welch_t" if metric.test == "welch" else metric.test,
        interval="bootstrap_bca" if metric.interval == "bootstrap" else "normal",
    )
    if metric.type is MetricType.QUANTILE:
        arms = extra.quantiles.get(r.spec.id, {})
        r = _quantile(r, arms, keys)
        p = metric.quantile or 0.0
        kind.test, kind.interval = "quantile_normal", "order_statistics"
        kind.quantile = schemas.QuantileOut(
            quantile=p,
            variants=[
                kinds_schemas.QuantileVariant(
                    key=key, n=a.n, quantile=a.estimate, ci=(a.lower, a.upper),
                    standard_error=a.standard_error,
                )
                for key in keys
                if (a := arms.get(key)) is not None
            ],
        )  # fmt: skip
    if metric.type is MetricType.CATEGORICAL:
        r, kind.categorical = _categorical(r, extra.categories.get(r.spec.id, []), keys)
        kind.test, kind.interval = "chi_square", "newcombe"
    if metric.test == "mann_whitney":
        r, kind.rank_tests = _rank_tests(r, extra.ranks.get(r.spec.id, {}), keys)
    if metric.interval == "bootstrap":
        r, kind.bootstrap = _bootstrap(r, extra, keys)
    extra.outs[r.spec.id] = kind
    return r


def present(out: schemas.MetricResultOut, extra: Extra) -> schemas.MetricResultOut:
    """The metric's answer with its ``kind`` section, when it has one."""
    kind = extra.outs.get(out.metric_id)
    return out if kind is None else out.model_copy(update={"kind": kind})


def correct_family(
    members: Sequence[Readout], family: str, settings: AnalysisSettings
) -> list[Readout]:
    """``readout.correct_family`` over the members analysed by Welch's t-test; the others
    keep their own (uncorrected) comparisons, in place."""
    welch = [r for r in members if not own_analysis(r.spec.definition)]
    corrected = iter(readout.correct_family(welch, family, settings))
    return [r if own_analysis(r.spec.definition) else next(corrected) for r in members]
