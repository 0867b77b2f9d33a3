"""The one analysis SQL generator: plans in, engine SQL out (DuckDB, PostgreSQL, ClickHouse).

Every query is a chain of CTEs written once in neutral SQL (see events.dialects):

1. ``links``: anonymous -> canonical id, first write wins per anonymous id (self-links
   ignored); every unit id below is folded through it before anything else;
2. ``exposed`` / ``assigned``: exposures (plus holdout members as ``__holdout__``) per
   canonical unit: first exposure time and the number of distinct variants;
3. ``excluded``, ``activity``, ``bots``: deny-listed units and the rate-spike rule;
4. ``units``: units in exactly one variant, not excluded, not bots; ``keyed`` adds the
   group key (stratum, first-exposure attribute, or first-exposure day);
5. metric plans: ``metric_rows`` (stitched events of the metric's names), ``unit_agg``
   (per-unit post-window and pre-window aggregates), ``per_unit`` (every analysed unit,
   zeros for units without events, covariate), optional ``caps`` (winsorization), and the
   per-variant sums. With ``by_stratum`` every row is also split by the unit's stratum.
   ``covariate_n`` counts the units that have the covariate (a comparison may only be
   adjusted with a covariate every side has); ratio metrics with a pre-period covariate
   add the pre-period denominator and every cross sum the delta-method CUPED needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlglot import exp

from avsb.server.analysis.plan import (
    AnalysisPlan,
    BotsPlan,
    CupedSource,
    ExperimentScope,
    GroupBy,
    HealthPlan,
    MetricsPlan,
    MetricType,
    SrmPlan,
    UnitFilter,
    UnitRules,
)
from avsb.server.events.dialects import fragment, render
from avsb.server.events.types import HOLDOUT_VARIANT

STAT_COLUMNS = (
    "n",
    "sum",
    "sum_squares",
    "covariate_sum",
    "covariate_sum_squares",
    "cross_sum",
    "numerator_sum",
    "numerator_sum_squares",
    "denominator_sum",
    "denominator_sum_squares",
    "numerator_denominator_cross_sum",
    # Appended for the results' adjustments (NULL where they do not apply):
    "covariate_n",  # units with the covariate (ingested row, or any unit for pre-period)
    "pre_denominator_sum",  # ratio CUPED: pre-period denominator d0 (covariate_* is num0)
    "pre_denominator_sum_squares",
    "pre_cross_sum",  # num0 * d0
    "numerator_pre_denominator_cross_sum",  # num * d0 (num * num0 is cross_sum)
    "denominator_pre_numerator_cross_sum",  # d * num0
    "denominator_pre_denominator_cross_sum",  # d * d0
)
GROUP_COLUMNS: Mapping[GroupBy, str] = {
    GroupBy.STRATUM: "stratum",
    GroupBy.ATTRIBUTE: "segment",
    GroupBy.DAY: "day",
}
HEALTH_COLUMNS = (
    "assigned_units",
    "multiple_variant_units",
    "excluded_units",
    "bot_units",
    "analysed_units",
)
_US_PER_HOUR = 3_600_000_000

# -- unit CTEs -------------------------------------------------------------------------

_LINKS = """
SELECT r.anonymous_id AS anonymous_id, r.canonical_id AS canonical_id FROM (
  SELECT i.anonymous_id AS anonymous_id, i.canonical_id AS canonical_id,
    ROW_NUMBER() OVER (PARTITION BY i.anonymous_id ORDER BY i.ingest_seq, i.event_id) AS rn
  FROM ev_identify AS i
  WHERE i.org_id = :org AND i.project_id = :project AND i.anonymous_id <> i.canonical_id
) AS r WHERE r.rn = 1"""
_EXPOSED = """
SELECT COALESCE(l.canonical_id, e.unit_id) AS uid, e.variant AS variant, e.ts_us AS ts_us,
  e.ingest_seq AS seq, e.attributes AS attributes
FROM ev_exposure AS e LEFT JOIN links AS l ON l.anonymous_id = e.unit_id
WHERE e.org_id = :org AND e.project_id = :project AND e.experiment = :experiment"""
_HOLDOUT = """
SELECT COALESCE(l.canonical_id, h.unit_id) AS uid, :holdout AS variant, h.ts_us AS ts_us,
  h.ingest_seq AS seq, '{}' AS attributes
FROM ev_holdout AS h LEFT JOIN links AS l ON l.anonymous_id = h.unit_id
WHERE h.org_id = :org AND h.project_id = :project AND h.experiment = :experiment"""
_ASSIGNED = """
SELECT x.uid AS uid, MIN(x.variant) AS assigned_variant, MIN(x.ts_us) AS first_ts_us,
  COUNT(DISTINCT x.variant) AS n_variants
FROM exposed AS x GROUP BY x.uid"""
_EXCLUDED = """
SELECT DISTINCT COALESCE(l.canonical_id, x.unit_id) AS uid
FROM ev_exclusion AS x LEFT JOIN links AS l ON l.anonymous_id = x.unit_id
WHERE x.org_id = :org AND x.project_id = :project"""
_ACTIVITY = """
SELECT a.uid AS uid, COUNT(*) AS n_events FROM (
  SELECT COALESCE(l.canonical_id, m.unit_id) AS uid
  FROM ev_metric AS m LEFT JOIN links AS l ON l.anonymous_id = m.unit_id
  WHERE m.org_id = :org AND m.project_id = :project
) AS s JOIN assigned AS a ON a.uid = s.uid GROUP BY a.uid"""
_P99 = "(SELECT AVSB_PCT(CAST(q.n_events AS DOUBLE), 0.99) FROM activity AS q)"
_UNITS = """
SELECT a.uid AS uid, a.assigned_variant AS variant, a.first_ts_us AS first_ts_us
FROM assigned AS a WHERE a.n_variants = 1"""
# First write wins per (experiment, canonical unit) for strata and covariates.
_FIRST_PER_UNIT = """
SELECT r.uid AS uid, r.val AS val FROM (
  SELECT COALESCE(l.canonical_id, t.unit_id) AS uid, t.__col AS val,
    ROW_NUMBER() OVER (PARTITION BY COALESCE(l.canonical_id, t.unit_id)
                       ORDER BY t.ingest_seq, t.event_id) AS rn
  FROM __table AS t LEFT JOIN links AS l ON l.anonymous_id = t.unit_id
  WHERE t.org_id = :org AND t.project_id = :project AND t.experiment = :experiment
) AS r WHERE r.rn = 1"""
_FIRST_ATTRIBUTES = """
SELECT r.uid AS uid, AVSB_JSON_TEXT(r.attributes, :attribute_key) AS val FROM (
  SELECT x.uid AS uid, x.attributes AS attributes,
    ROW_NUMBER() OVER (PARTITION BY x.uid ORDER BY x.ts_us, x.seq) AS rn
  FROM exposed AS x
) AS r WHERE r.rn = 1"""
_DAY = "CAST(FLOOR(u.first_ts_us / 86400000000.0) AS BIGINT)"


@dataclass(frozen=True, slots=True)
class _Units:
    scope: ExperimentScope
    rules: UnitRules
    group_by: GroupBy
    attribute_key: str | None
    covariates: bool = False  # join ingested covariates as keyed.cov
    by_stratum: bool = False  # join the unit's stratum as keyed.stratum_key


def _base_values(scope: ExperimentScope) -> dict[str, object]:
    return {
        "org": scope.org_id,
        "project": scope.project_id,
        "experiment": scope.experiment,
        "holdout": HOLDOUT_VARIANT,
    }


def _first_per_unit(table: str, column: str, values: Mapping[str, object]) -> exp.Expr:
    tree = fragment(_FIRST_PER_UNIT, **values)
    names = {"__col": exp.to_identifier(column), "__table": exp.to_identifier(table)}
    return _substitute(tree, names)


def _substitute(tree: exp.Expr, names: Mapping[str, exp.Expr]) -> exp.Expr:
    """Replace marker columns/identifiers (our constants, e.g. ``__y``) by trees."""

    def swap(node: exp.Expr) -> exp.Expr:
        new = names.get(node.name) if isinstance(node, exp.Column | exp.Identifier) else None
        if new is None or isinstance(node, exp.Column) == isinstance(new, exp.Identifier):
            return node
        return new.copy()

    return tree.transform(swap)


def _unit_ctes(spec: _Units) -> list[tuple[str, exp.Expr]]:
    values = _base_values(spec.scope)
    exposed = fragment(_EXPOSED, **values)
    if spec.rules.include_holdout:
        holdout = fragment(_HOLDOUT, **values)
        assert isinstance(exposed, exp.Query)
        exposed = exp.union(exposed, holdout, distinct=False)
    ctes: list[tuple[str, exp.Expr]] = [
        ("links", fragment(_LINKS, **values)),
        ("exposed", exposed),
        ("assigned", fragment(_ASSIGNED)),
        ("excluded", fragment(_EXCLUDED, **values)),
    ]
    units = fragment(_UNITS)
    assert isinstance(units, exp.Select)
    if spec.rules.apply_exclusions:
        units = units.where("a.uid NOT IN (SELECT ex.uid FROM excluded AS ex)")
    bots = _bot_ctes(spec.rules, values)
    if bots:
        ctes += bots
        units = units.where("a.uid NOT IN (SELECT b.uid FROM bots AS b)")
    if spec.rules.unit_filter is not None:
        condition, filter_ctes = _unit_filter(spec.rules.unit_filter)
        ctes += filter_ctes
        units = units.where(condition)
    ctes.append(("units", units))
    return ctes + _keyed_ctes(spec, values)


def _bot_ctes(rules: UnitRules, values: Mapping[str, object]) -> list[tuple[str, exp.Expr]]:
    if rules.bot_units is not None:
        known = exp.select("x.uid AS uid").from_("assigned AS x")
        literals: list[exp.Expr] = [exp.Literal.string(uid) for uid in rules.bot_units]
        condition = (
            exp.In(this=exp.column("uid", table="x"), expressions=literals)
            if literals
            else fragment("1 = 0")
        )
        return [("bots", known.where(condition))]
    rule = rules.bot_rule
    if rule is None or (rule.p99_multiple is None and rule.max_events is None):
        return []
    conditions: list[exp.Expr] = []
    if rule.max_events is not None:
        conditions.append(fragment("c.n_events > :max_events", max_events=rule.max_events))
    if rule.p99_multiple is not None:
        limit = fragment(f":multiple * {_P99}", multiple=float(rule.p99_multiple))
        conditions.append(exp.GT(this=exp.column("n_events", table="c"), expression=limit))
    bots = exp.select("c.uid AS uid").from_("activity AS c").where(exp.or_(*conditions))
    return [("activity", fragment(_ACTIVITY, **values)), ("bots", bots)]


def _unit_filter(unit_filter: UnitFilter) -> tuple[exp.Expr, list[tuple[str, exp.Expr]]]:
    """The condition on ``a.uid`` that keeps a slice's units, and the CTEs it reads."""
    values: list[exp.Expr] = [exp.Literal.string(v) for v in unit_filter.values]
    if not values:
        return fragment("1 = 0"), []
    if unit_filter.attribute_key is None:
        return exp.In(this=exp.column("uid", table="a"), expressions=values), []
    attrs = fragment(_FIRST_ATTRIBUTES, attribute_key=unit_filter.attribute_key)
    members = exp.select("sa.uid AS uid").from_("segment_attributes AS sa")
    members = members.where(exp.In(this=exp.column("val", table="sa"), expressions=values))
    condition = fragment("a.uid IN (SELECT su.uid FROM segment_units AS su)")
    return condition, [("segment_attributes", attrs), ("segment_units", members)]


def _keyed_ctes(spec: _Units, values: Mapping[str, object]) -> list[tuple[str, exp.Expr]]:
    ctes: list[tuple[str, exp.Expr]] = []
    keyed = exp.select("u.uid AS uid", "u.variant AS variant", "u.first_ts_us AS first_ts_us")
    keyed = keyed.from_("units AS u")
    if spec.group_by is GroupBy.STRATUM:
        ctes.append(("strata", _first_per_unit("ev_stratum", "stratum", values)))
        keyed = keyed.select("g.val AS group_key").join(
            "strata AS g", on="g.uid = u.uid", join_type="left"
        )
    elif spec.group_by is GroupBy.ATTRIBUTE:
        attrs = fragment(_FIRST_ATTRIBUTES, attribute_key=spec.attribute_key)
        ctes.append(("first_attributes", attrs))
        keyed = keyed.select("g.val AS group_key").join(
            "first_attributes AS g", on="g.uid = u.uid", join_type="left"
        )
    elif spec.group_by is GroupBy.DAY:
        keyed = keyed.select(fragment(_DAY).as_("group_key"))
    if spec.by_stratum:
        ctes.append(("unit_strata", _first_per_unit("ev_stratum", "stratum", values)))
        keyed = keyed.select("us.val AS stratum_key").join(
            "unit_strata AS us", on="us.uid = u.uid", join_type="left"
        )
    if spec.covariates:
        ctes.append(("covariates", _first_per_unit("ev_covariate", "value", values)))
        keyed = keyed.select("cv.val AS cov").join(
            "covariates AS cv", on="cv.uid = u.uid", join_type="left"
        )
    return [*ctes, ("keyed", keyed)]


def _with_ctes(ctes: list[tuple[str, exp.Expr]], final: exp.Select) -> exp.Select:
    for name, body in ctes:
        final = final.with_(name, as_=body)
    return final


def _group_select(
    final: exp.Select, group_by: GroupBy, table: str, by_stratum: bool = False
) -> exp.Select:
    """Add the variant, group key (and stratum) columns, GROUP BY and ORDER BY them."""
    keys = [exp.column("variant", table=table).as_("variant")]
    if group_by is not GroupBy.NONE:
        keys.append(exp.column("group_key", table=table).as_(GROUP_COLUMNS[group_by]))
    if by_stratum:
        keys.append(exp.column("stratum_key", table=table).as_("stratum"))
    ordinals = [exp.Literal.number(i + 1) for i in range(len(keys))]
    grouped = final.select(*keys, append=False).select(*final.expressions)
    return grouped.group_by(*ordinals).order_by(*ordinals)


# -- SRM and health ---------------------------------------------------------------------


def srm_query_sql(plan: SrmPlan, dialect: str) -> str:
    """Analysed units per variant (and day or segment): columns variant, [day|segment], n."""
    spec = _Units(plan.scope, plan.rules, plan.group_by, plan.attribute_key)
    final = _group_select(exp.select("COUNT(*) AS n").from_("keyed AS k"), plan.group_by, "k")
    return render(_with_ctes(_unit_ctes(spec), final), dialect)


_HEALTH = """
SELECT COUNT(*) AS assigned_units,
  COALESCE(SUM(CASE WHEN a.n_variants > 1 THEN 1 ELSE 0 END), 0) AS multiple_variant_units,
  COALESCE(SUM(CASE WHEN a.uid IN (SELECT ex.uid FROM excluded AS ex) THEN 1 ELSE 0 END), 0)
    AS excluded_units,
  __bots AS bot_units,
  (SELECT COUNT(*) FROM units AS un) AS analysed_units
FROM assigned AS a"""
_HEALTH_BOTS = (
    "COALESCE(SUM(CASE WHEN a.uid IN (SELECT b.uid FROM bots AS b) THEN 1 ELSE 0 END), 0)"
)


def bots_query_sql(plan: BotsPlan, dialect: str) -> str:
    """Column ``uid``: the units the bot rule flags, sorted, at most ``plan.limit``."""
    ctes = _unit_ctes(_Units(plan.scope, plan.rules, GroupBy.NONE, None))
    if not any(name == "bots" for name, _ in ctes):
        final = exp.select("a.uid AS uid").from_("assigned AS a").where("1 = 0")
    else:
        final = exp.select("b.uid AS uid").from_("bots AS b")
    final = final.order_by("1").limit(exp.Literal.number(plan.limit))
    return render(_with_ctes(ctes, final), dialect)


def health_query_sql(plan: HealthPlan, dialect: str) -> str:
    """One row: assigned_units, multiple_variant_units, excluded_units, bot_units,
    analysed_units (units may be counted in several of the middle three)."""
    ctes = _unit_ctes(_Units(plan.scope, plan.rules, GroupBy.NONE, None))
    has_bots = any(name == "bots" for name, _ in ctes)
    bots = fragment(_HEALTH_BOTS) if has_bots else exp.Literal.number(0)
    final = _substitute(fragment(_HEALTH), {"__bots": bots})
    assert isinstance(final, exp.Select)
    return render(_with_ctes(ctes, final), dialect)


# -- metric sufficient statistics -------------------------------------------------------

_METRIC_ROWS = """
SELECT COALESCE(l.canonical_id, m.unit_id) AS uid, m.event_name AS event_name,
  m.ts_us AS ts_us, m.value AS own_value
FROM ev_metric AS m LEFT JOIN links AS l ON l.anonymous_id = m.unit_id
WHERE m.org_id = :org AND m.project_id = :project"""
_POST = "ev.ts_us >= u.first_ts_us"
_POST_WINDOW = "ev.ts_us >= u.first_ts_us AND ev.ts_us < u.first_ts_us + :window_us"
_PRE = "ev.ts_us < u.first_ts_us AND ev.ts_us >= u.first_ts_us - :pre_us"
_NUM = "ev.event_name = :event_name"
_DEN = "ev.event_name = :den_name"
_ONE = "CAST(1 AS DOUBLE)"
_ZERO = "CAST(0 AS DOUBLE)"
# Per-unit aggregate of the events matching __when (a condition), by metric type.
_AGGREGATES: Mapping[MetricType, str] = {
    MetricType.BINARY: f"MAX(CASE WHEN __when THEN {_ONE} ELSE {_ZERO} END)",
    MetricType.COUNT: f"SUM(CASE WHEN __when THEN {_ONE} ELSE {_ZERO} END)",
    MetricType.SUM: f"SUM(CASE WHEN __when THEN COALESCE(ev.value, {_ZERO}) ELSE {_ZERO} END)",
    MetricType.MEAN: f"SUM(CASE WHEN __when THEN COALESCE(ev.value, {_ZERO}) ELSE {_ZERO} END)",
    MetricType.RATIO: f"SUM(CASE WHEN __when THEN COALESCE(ev.value, {_ONE}) ELSE {_ZERO} END)",
    # A quantile metric's per-unit value is a sum metric's; a categorical metric's totals
    # count the units with an event (their categories come from analysis/kinds.py).
    MetricType.QUANTILE: f"SUM(CASE WHEN __when THEN COALESCE(ev.value, {_ZERO}) ELSE {_ZERO} END)",
    MetricType.CATEGORICAL: f"MAX(CASE WHEN __when THEN {_ONE} ELSE {_ZERO} END)",
}
_DENOMINATORS: Mapping[MetricType, str] = {
    MetricType.MEAN: f"SUM(CASE WHEN __when THEN {_ONE} ELSE {_ZERO} END)",
    MetricType.RATIO: f"SUM(CASE WHEN __when THEN COALESCE(ev.own_value, {_ONE}) ELSE {_ZERO} END)",
}
_ANY_INGESTED = "(SELECT COUNT(*) FROM covariates AS cc) > 0"
_AUTO_COVARIATE = (
    f"CASE WHEN {_ANY_INGESTED} "
    "THEN COALESCE(k.cov, CAST(0 AS DOUBLE)) ELSE COALESCE(a.pre_y, CAST(0 AS DOUBLE)) END"
)
_HAS_INGESTED = "CASE WHEN k.cov IS NULL THEN 0 ELSE 1 END"
# Whether the unit has the covariate: an ingested row; the pre-period is every unit's.
_HAS_COVARIATE: Mapping[CupedSource, str] = {
    CupedSource.NONE: "0",
    CupedSource.INGESTED: _HAS_INGESTED,
    CupedSource.PRE_PERIOD: "1",
    CupedSource.AUTO: f"CASE WHEN {_ANY_INGESTED} THEN {_HAS_INGESTED} ELSE 1 END",
}
_STATS = """
SELECT COUNT(*) AS n, SUM(__y) AS sum, SUM(__y * __y) AS sum_squares,
  SUM(p.x) AS covariate_sum, SUM(p.x * p.x) AS covariate_sum_squares,
  SUM(p.x * __y) AS cross_sum"""
_RATIO_STATS = """
SELECT SUM(__y) AS numerator_sum, SUM(__y * __y) AS numerator_sum_squares,
  SUM(p.d) AS denominator_sum, SUM(p.d * p.d) AS denominator_sum_squares,
  SUM(__y * p.d) AS numerator_denominator_cross_sum"""
_NO_RATIO_STATS = """
SELECT CAST(NULL AS DOUBLE) AS numerator_sum, CAST(NULL AS DOUBLE) AS numerator_sum_squares,
  CAST(NULL AS DOUBLE) AS denominator_sum, CAST(NULL AS DOUBLE) AS denominator_sum_squares,
  CAST(NULL AS DOUBLE) AS numerator_denominator_cross_sum"""
_COVERAGE = "SELECT SUM(p.has_x) AS covariate_n"
# Pre-period numerator x and denominator xd of a ratio metric (Deng et al. 2018, CUPED on
# a ratio by the delta method needs the covariance of all four per-unit sums).
_RATIO_CUPED_STATS = """
SELECT SUM(p.xd) AS pre_denominator_sum, SUM(p.xd * p.xd) AS pre_denominator_sum_squares,
  SUM(p.x * p.xd) AS pre_cross_sum, SUM(__y * p.xd) AS numerator_pre_denominator_cross_sum,
  SUM(p.d * p.x) AS denominator_pre_numerator_cross_sum,
  SUM(p.d * p.xd) AS denominator_pre_denominator_cross_sum"""
_NO_RATIO_CUPED_STATS = """
SELECT CAST(NULL AS DOUBLE) AS pre_denominator_sum,
  CAST(NULL AS DOUBLE) AS pre_denominator_sum_squares, CAST(NULL AS DOUBLE) AS pre_cross_sum,
  CAST(NULL AS DOUBLE) AS numerator_pre_denominator_cross_sum,
  CAST(NULL AS DOUBLE) AS denominator_pre_numerator_cross_sum,
  CAST(NULL AS DOUBLE) AS denominator_pre_denominator_cross_sum"""


def _metric_values(plan: AnalysisPlan) -> dict[str, object]:
    metric = plan.metric
    values = _base_values(plan.scope)
    values["event_name"] = metric.event_name
    values["den_name"] = metric.denominator_event_name or metric.event_name
    hours = metric.window_hours
    values["window_us"] = round((hours or 0) * _US_PER_HOUR)
    values["pre_us"] = round((hours or plan.pre_period_hours) * _US_PER_HOUR)
    values["value_cap"] = metric.value_cap
    values["pct"] = (metric.winsorize_percentile or 0) / 100
    return values


# The per-unit columns each metric owns; a query over several metrics suffixes them.
_OWN_COLUMNS = frozenset({"y", "d", "xd", "x", "has_x", "pre_y", "pre_d", "cap"})


@dataclass(frozen=True, slots=True)
class _Metric:
    """One metric of a stats query: its plan, bound values and column suffix."""

    plan: AnalysisPlan
    values: Mapping[str, object]
    suffix: str

    def own(self, tree: exp.Expr) -> exp.Expr:
        """``tree`` reading this metric's per-unit columns and its own event value."""
        value = self.plan.metric.value_property
        json_value = (
            None if value is None else fragment("AVSB_JSON_NUMBER(ev.properties, :key)", key=value)
        )

        def swap(node: exp.Expr) -> exp.Expr:
            if not isinstance(node, exp.Column):
                return node
            if node.table == "ev" and node.name == "value":
                return (json_value or exp.column("own_value", table="ev")).copy()
            if self.suffix and node.table in ("p", "a", "c", "q") and node.name in _OWN_COLUMNS:
                return exp.column(node.name + self.suffix, table=node.table)
            return node

        return tree.transform(swap)

    def aggregate(self, template: str, when: str) -> exp.Expr:
        tree = _substitute(
            fragment(template, **self.values), {"__when": fragment(when, **self.values)}
        )
        return self.own(tree)

    def alias(self, tree: exp.Expr, name: str) -> exp.Expr:
        return tree.as_(name + self.suffix)


def _unit_agg(metrics: list[_Metric]) -> exp.Select:
    """Per unit with events, per metric: y (post window), d (ratio denominator), pre_y and
    pre_d (pre window); one pass over the stitched events of every metric."""
    agg = exp.select("u.uid AS uid")
    for m in metrics:
        plan, metric = m.plan, m.plan.metric
        post = _POST_WINDOW if metric.window_hours is not None else _POST
        agg = agg.select(m.alias(m.aggregate(_AGGREGATES[metric.type], f"{_NUM} AND {post}"), "y"))
        if metric.is_ratio:
            den = _DEN if metric.type is MetricType.RATIO else _NUM
            den_agg = m.aggregate(_DENOMINATORS[metric.type], f"{den} AND {post}")
            agg = agg.select(m.alias(den_agg, "d"))
        if plan.cuped in (CupedSource.PRE_PERIOD, CupedSource.AUTO):
            pre = m.aggregate(_AGGREGATES[metric.type], f"{_NUM} AND {_PRE}")
            agg = agg.select(m.alias(pre, "pre_y"))
            if _ratio_pre_period(plan):
                den = _DEN if metric.type is MetricType.RATIO else _NUM
                pre_den = m.aggregate(_DENOMINATORS[metric.type], f"{den} AND {_PRE}")
                agg = agg.select(m.alias(pre_den, "pre_d"))
    agg = agg.from_("metric_rows AS ev").join("units AS u", on="u.uid = ev.uid")
    return agg.group_by("u.uid")


def _ratio_pre_period(plan: AnalysisPlan) -> bool:
    """A ratio metric adjusted by its own pre-period numerator and denominator."""
    return plan.metric.is_ratio and plan.cuped is CupedSource.PRE_PERIOD


def _per_unit(first: AnalysisPlan, metrics: list[_Metric]) -> exp.Select:
    """Every analysed unit (zeros when it has no events) with each metric's covariate x."""
    cols = ["k.uid AS uid", "k.variant AS variant"]
    if first.group_by is not GroupBy.NONE:
        cols.append("k.group_key AS group_key")
    if first.by_stratum:
        cols.append("k.stratum_key AS stratum_key")
    per_unit = exp.select(*cols)
    for m in metrics:
        plan = m.plan
        own = [m.alias(m.own(fragment(f"COALESCE(a.y, {_ZERO})")), "y")]
        if plan.metric.is_ratio:
            own.append(m.alias(m.own(fragment(f"COALESCE(a.d, {_ZERO})")), "d"))
            if _ratio_pre_period(plan):
                own.append(m.alias(m.own(fragment(f"COALESCE(a.pre_d, {_ZERO})")), "xd"))
        covariate = {
            CupedSource.NONE: _ZERO,
            CupedSource.INGESTED: f"COALESCE(k.cov, {_ZERO})",
            CupedSource.PRE_PERIOD: f"COALESCE(a.pre_y, {_ZERO})",
            CupedSource.AUTO: _AUTO_COVARIATE,
        }[plan.cuped]
        own.append(m.alias(m.own(fragment(covariate)), "x"))
        own.append(m.alias(fragment(_HAS_COVARIATE[plan.cuped]), "has_x"))
        per_unit = per_unit.select(*own)
    per_unit = per_unit.from_("keyed AS k")
    return per_unit.join("unit_agg AS a", on="a.uid = k.uid", join_type="left")


def _capped_y(m: _Metric) -> tuple[exp.Expr, bool]:
    """The per-unit value after winsorization, and whether it needs the caps CTE."""
    metric = m.plan.metric
    y: exp.Expr = m.own(exp.column("y", table="p"))
    if metric.type is MetricType.BINARY:
        return y, False
    if metric.value_cap is not None:
        y = exp.Least(this=y, expressions=[fragment(":value_cap", **m.values)])
    if metric.winsorize_percentile is not None:
        y = exp.Least(this=y, expressions=[m.own(exp.column("cap", table="c"))])
        return y, True
    return y, False


def _stat_columns(m: _Metric) -> tuple[list[exp.Expr], bool]:
    """The metric's STAT_COLUMNS (suffixed), and whether they read its cap."""
    y, needs_cap = _capped_y(m)
    stats = _substitute(fragment(_STATS), {"__y": y})
    ratio = (
        _substitute(fragment(_RATIO_STATS), {"__y": y})
        if m.plan.metric.is_ratio
        else fragment(_NO_RATIO_STATS)
    )
    ratio_cuped = (
        _substitute(fragment(_RATIO_CUPED_STATS), {"__y": y})
        if _ratio_pre_period(m.plan)
        else fragment(_NO_RATIO_CUPED_STATS)
    )
    parts = [stats, ratio, fragment(_COVERAGE), ratio_cuped]
    columns = [
        m.alias(m.own(e.this), e.alias)
        for part in parts
        if isinstance(part, exp.Select)
        for e in part.expressions
        if isinstance(e, exp.Alias)
    ]
    return columns, needs_cap


def _metric_rows(plans: tuple[AnalysisPlan, ...]) -> exp.Select:
    """The stitched events of every metric's event names (one scan of the events)."""
    names: list[str] = []
    for plan in plans:
        for name in (plan.metric.event_name, plan.metric.denominator_event_name):
            if name is not None and name not in names:
                names.append(name)
    rows = fragment(_METRIC_ROWS, **_base_values(plans[0].scope))
    assert isinstance(rows, exp.Select)
    if any(plan.metric.value_property is not None for plan in plans):
        rows = rows.select("m.properties AS properties")
    literals: list[exp.Expr] = [exp.Literal.string(name) for name in names]
    return rows.where(exp.In(this=exp.column("event_name", table="m"), expressions=literals))


def _per_unit_ctes(
    plans: tuple[AnalysisPlan, ...], suffixed: bool
) -> tuple[list[tuple[str, exp.Expr]], list[_Metric]]:
    """The unit CTEs, then ``metric_rows``, ``unit_agg`` and ``per_unit`` for ``plans`` (which
    share scope, rules and grouping), and each metric's handle on its columns."""
    first = plans[0]
    covariates = any(p.cuped in (CupedSource.INGESTED, CupedSource.AUTO) for p in plans)
    spec = _Units(
        first.scope, first.rules, first.group_by, first.attribute_key, covariates, first.by_stratum
    )
    metrics = [
        _Metric(plan, _metric_values(plan), f"_{i}" if suffixed else "")
        for i, plan in enumerate(plans)
    ]
    ctes = _unit_ctes(spec)
    ctes.append(("metric_rows", _metric_rows(plans)))
    ctes.append(("unit_agg", _unit_agg(metrics)))
    ctes.append(("per_unit", _per_unit(first, metrics)))
    return ctes, metrics


def _cap(m: _Metric) -> exp.Expr:
    """The metric's winsorization cap over ``per_unit AS q`` (alias ``cap``, suffixed)."""
    return m.alias(m.own(fragment("AVSB_PCT(q.y, :pct)", **m.values)), "cap")


def _stats_sql(plans: tuple[AnalysisPlan, ...], dialect: str, suffixed: bool) -> str:
    ctes, metrics = _per_unit_ctes(plans, suffixed)
    columns: list[exp.Expr] = []
    caps: list[exp.Expr] = []
    for m in metrics:
        own, needs_cap = _stat_columns(m)
        columns += own
        caps += [_cap(m)] if needs_cap else []
    if caps:
        ctes.append(("caps", exp.select(*caps).from_("per_unit AS q")))
    final = exp.select(*columns).from_("per_unit AS p")
    if caps:
        final = final.join("caps AS c", join_type="cross")
    first = plans[0]
    grouped = _group_select(final, first.group_by, "p", first.by_stratum)
    return render(_with_ctes(ctes, grouped), dialect)


def metric_query_sql(plan: AnalysisPlan, dialect: str) -> str:
    """Sufficient statistics per variant (and group): columns ``variant``, the group column
    (``stratum``, ``segment`` or ``day`` = days since 1970-01-01 UTC) when grouped, then
    ``stratum`` with ``by_stratum``, then STAT_COLUMNS; the numerator_* / denominator_*
    columns are NULL unless the metric is a ratio or mean, the pre-denominator ones unless
    it is one with a pre-period covariate. Units in several variants, excluded units and
    bots are left out."""
    return _stats_sql((plan,), dialect, suffixed=False)


def metrics_query_sql(plan: MetricsPlan, dialect: str) -> str:
    """Several metrics of one experiment in one query: one scan of the exposures and of the
    events, one per-unit aggregation. The key columns of ``metric_query_sql``, then each
    metric's STAT_COLUMNS suffixed ``_0``, ``_1``... (``MetricsPlan.split`` cuts the rows
    into each metric's ``metric_query_sql`` rows)."""
    return _stats_sql(plan.plans, dialect, suffixed=True)
