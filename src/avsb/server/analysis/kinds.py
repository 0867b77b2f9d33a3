"""SQL for the metric kinds beyond sums: quantiles, rank tests, bootstrap replicates and
categories. Each reuses the unit and per-unit CTEs of ``analysis.sql`` and aggregates in the
engine, so only a few rows per variant reach Python:

- ``QuantilePlan``: per variant n, the sample quantile (``AVSB_PCT``, numpy's linear rule)
  and the order statistics X_(L), X_(U) at the ranks of ``avsb.stats.quantile.rank_bounds``
  (``ROW_NUMBER`` within the variant);
- ``RankPlan``: per treatment variant, pooled with the control, the arm sizes, the
  treatment's sum of average ranks (``RANK`` + (ties - 1) / 2) and sum_k (t_k^3 - t_k);
- ``BootstrapPlan``: per variant and replicate b, the Poisson(1) weight total and weighted
  sum; a unit's weight is the inverse Poisson CDF of a uniform hashed from (hash(unit,
  seed), b);
- ``MomentsPlan``: per variant n and the sums of y, y^2, y^3 (the BCa acceleration);
- ``CategoryPlan``: units per variant and category, the category being the text of the
  property ``value_property`` of the unit's first event in the window (NULL: no event).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlglot import exp

from avsb.server.analysis import sql as base
from avsb.server.analysis.plan import (
    AnalysisPlan,
    CupedSource,
    ExperimentScope,
    GroupBy,
    MetricDefinition,
    UnitRules,
)
from avsb.server.events.dialects import CLICKHOUSE, DUCKDB, fragment, render
from avsb.stats.bootstrap import poisson_cdf_thresholds
from avsb.stats.quantile import RANK_Z

MAX_CATEGORY_ROWS = 5_000  # variants x categories read back, at most
_HASH_MODULUS = 1_000_000_007


@dataclass(frozen=True, slots=True, kw_only=True)
class _KindPlan:
    scope: ExperimentScope
    metric: MetricDefinition
    variants: tuple[str, ...]  # the design's variants, control first (no holdout)
    rules: UnitRules = field(default_factory=UnitRules)

    def _analysis(self) -> AnalysisPlan:
        return AnalysisPlan(
            scope=self.scope, metric=self.metric, cuped=CupedSource.NONE, rules=self.rules
        )


def _value_ctes(plan: _KindPlan) -> list[tuple[str, exp.Expr]]:
    """The unit CTEs, per-unit values and ``vals(uid, variant, y)``: every analysed unit of
    the design's variants with its (winsorized) value, as the sufficient statistics use it."""
    ctes, (metric,) = base._per_unit_ctes((plan._analysis(),), suffixed=False)
    y, needs_caps = base._capped_y(metric)
    if needs_caps:
        ctes.append(("caps", exp.select(base._cap(metric)).from_("per_unit AS q")))
    vals = exp.select("p.uid AS uid", "p.variant AS variant").select(y.as_("y"))
    vals = vals.from_("per_unit AS p").where(_in_variants("p", plan.variants))
    if needs_caps:
        vals = vals.join("caps AS c", join_type="cross")
    return [*ctes, ("vals", vals)]


def _in_variants(table: str, variants: tuple[str, ...]) -> exp.Expr:
    literals: list[exp.Expr] = [exp.Literal.string(v) for v in variants]
    return exp.In(this=exp.column("variant", table=table), expressions=literals)


def _render(ctes: list[tuple[str, exp.Expr]], final: exp.Select, dialect: str) -> str:
    tree = base._with_ctes(ctes, final).transform(lambda node: _unit_uniform(node, dialect))
    return render(tree, dialect)


# -- quantiles ----------------------------------------------------------------------------

_RANKED = """
SELECT v.variant AS variant, v.y AS y,
  CAST(ROW_NUMBER() OVER (PARTITION BY v.variant ORDER BY v.y) AS BIGINT) AS rk,
  CAST(COUNT(*) OVER (PARTITION BY v.variant) AS BIGINT) AS cnt
FROM vals AS v"""
_BOUNDS = """
SELECT r.variant AS variant, r.y AS y, r.rk AS rk, r.cnt AS cnt,
  GREATEST(CAST(1 AS BIGINT), CAST(FLOOR(r.cnt * :p - :z * SQRT(r.cnt * :p * (1.0 - :p)))
    AS BIGINT)) AS lo,
  LEAST(r.cnt, CAST(CEIL(r.cnt * :p + :z * SQRT(r.cnt * :p * (1.0 - :p)) + 1.0) AS BIGINT)) AS hi
FROM ranked AS r"""
_QUANTILE = """
SELECT b.variant AS variant, MAX(b.cnt) AS n, AVSB_PCT(b.y, :p) AS estimate,
  MAX(CASE WHEN b.rk = b.lo THEN b.y END) AS lower_value,
  MAX(CASE WHEN b.rk = b.hi THEN b.y END) AS upper_value
FROM bounds AS b GROUP BY b.variant ORDER BY 1"""


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantilePlan(_KindPlan):
    """Rows (variant, n, estimate, lower_value, upper_value), one per variant with units."""

    z: float = RANK_Z

    def to_sql(self, dialect: str) -> str:
        p = self.metric.quantile
        if p is None:
            raise ValueError("a quantile plan needs a quantile metric")
        ctes = _value_ctes(self)
        ctes += [("ranked", fragment(_RANKED)), ("bounds", fragment(_BOUNDS, p=p, z=self.z))]
        final = fragment(_QUANTILE, p=p)
        assert isinstance(final, exp.Select)
        return _render(ctes, final, dialect)


# -- rank sums ----------------------------------------------------------------------------

_PAIRS_TREATED = """
SELECT v.variant AS pair, v.variant AS variant, v.y AS y FROM vals AS v"""
_PAIRS_CONTROL = """
SELECT t.variant AS pair, v.variant AS variant, v.y AS y
FROM vals AS v CROSS JOIN treated AS t WHERE v.variant = :control"""
_RANKS = """
SELECT q.pair AS pair, q.variant AS variant,
  RANK() OVER (PARTITION BY q.pair ORDER BY q.y) AS rk,
  COUNT(*) OVER (PARTITION BY q.pair, q.y) AS ties
FROM pairs AS q"""
_RANK_SUMS = """
SELECT r.pair AS variant,
  SUM(CASE WHEN r.variant = :control THEN 1 ELSE 0 END) AS n_control,
  SUM(CASE WHEN r.variant = :control THEN 0 ELSE 1 END) AS n_treatment,
  SUM(CASE WHEN r.variant = :control THEN 0.0 ELSE r.rk + (r.ties - 1) / 2.0 END) AS rank_sum,
  SUM(CAST(r.ties AS DOUBLE) * r.ties - 1.0) AS tie_term
FROM ranks AS r GROUP BY r.pair ORDER BY 1"""


@dataclass(frozen=True, slots=True, kw_only=True)
class RankPlan(_KindPlan):
    """Rows (variant, n_control, n_treatment, rank_sum, tie_term), one per treatment
    variant with units; ranks are over that variant and the control pooled."""

    def to_sql(self, dialect: str) -> str:
        control, treated = self.variants[0], self.variants[1:]
        ctes = _value_ctes(self)
        literals = [exp.select(exp.Literal.string(v).as_("variant")) for v in treated]
        union: exp.Query = literals[0]
        for part in literals[1:]:
            union = exp.union(union, part, distinct=False)
        ctes.append(("treated", exp.select("tv.variant AS variant").from_(union.subquery("tv"))))
        own = fragment(_PAIRS_TREATED)
        assert isinstance(own, exp.Select)
        own = own.where(_in_variants("v", treated))
        pairs = exp.union(own, fragment(_PAIRS_CONTROL, control=control), distinct=False)
        ctes += [("pairs", pairs), ("ranks", fragment(_RANKS))]
        final = fragment(_RANK_SUMS, control=control)
        assert isinstance(final, exp.Select)
        return _render(ctes, final, dialect)


# -- Poisson bootstrap --------------------------------------------------------------------

_HASHED = """
SELECT v.variant AS variant, v.y AS y, AVSB_UNIT_HASH(CONCAT(v.uid, ':', :seed)) AS h
FROM vals AS v"""
_WEIGHTED = """
SELECT v.variant AS variant, r.b AS b, v.y AS y, AVSB_UNIFORM(v.h, r.b) AS u
FROM hashed AS v CROSS JOIN replicates AS r"""
_POISSON = "SELECT w.variant AS variant, w.b AS b, w.y AS y, __w AS k FROM weighted AS w"
_REPLICATE_SUMS = """
SELECT q.variant AS variant, q.b AS b, SUM(q.k) AS w_sum, SUM(q.k * q.y) AS wy_sum
FROM poisson AS q GROUP BY q.variant, q.b ORDER BY 1, 2"""


def _poisson_weight() -> exp.Expr:
    """CASE WHEN u < P(K <= 0) THEN 0 WHEN u < P(K <= 1) THEN 1 ... ELSE 12 END, K ~ Poisson(1)."""
    thresholds = poisson_cdf_thresholds()
    case = exp.Case()
    for k, cdf in enumerate(thresholds):
        condition = exp.LT(this=exp.column("u", table="w"), expression=exp.Literal.number(cdf))
        case = case.when(condition, exp.Literal.number(k))
    return case.else_(exp.Literal.number(len(thresholds)))


_DIGITS = " UNION ALL ".join(f"SELECT {d} AS d" for d in range(10))


def _numbers(name: str, count: int) -> list[tuple[str, exp.Expr]]:
    """CTEs whose last, ``name``, holds ``b`` = 0 .. count - 1: a ten-row ``digits`` table
    cross-joined once per decimal place, portable to every engine. (A UNION ALL of ``count``
    one-row selects nests ``count`` deep, which sqlglot transforms and renders in time
    quadratic in its depth: 8-9 s for 500 replicates, on every results read.)"""
    places = max(1, math.ceil(math.log10(count)))
    number = " + ".join(f"{10**i} * p{i}.d" for i in range(places))
    joins = " CROSS JOIN ".join(f"digits AS p{i}" for i in range(places))
    text = f"SELECT {number} AS b FROM {joins} WHERE {number} < :count"  # noqa: S608 - digits
    numbers = fragment(text, count=count)
    return [("digits", fragment(_DIGITS)), (name, numbers)]


@dataclass(frozen=True, slots=True, kw_only=True)
class BootstrapPlan(_KindPlan):
    """Rows (variant, b, w_sum, wy_sum) for replicates b = 0..replicates - 1."""

    replicates: int = 400
    seed: int = 0

    def to_sql(self, dialect: str) -> str:
        ctes = [*_value_ctes(self), *_numbers("replicates", self.replicates)]
        ctes.append(("hashed", fragment(_HASHED, seed=str(self.seed))))
        ctes.append(("weighted", fragment(_WEIGHTED)))
        ctes.append(("poisson", base._substitute(fragment(_POISSON), {"__w": _poisson_weight()})))
        final = fragment(_REPLICATE_SUMS)
        assert isinstance(final, exp.Select)
        return _render(ctes, final, dialect)


def _unit_uniform(node: exp.Expr, dialect: str) -> exp.Expr:
    """The engine's 64-bit hashes behind two markers: AVSB_UNIT_HASH(text), once per unit, and
    AVSB_UNIFORM(h, b), a uniform in [0, 1) per unit and replicate from hashing (h, b):
    hash (DuckDB), cityHash64 (ClickHouse), hashtextextended / hashint8extended (PostgreSQL,
    signed, so its residue is taken non-negative)."""
    if not isinstance(node, exp.Anonymous):
        return node
    name = str(node.this).upper()
    args = list(node.expressions)
    if name == "AVSB_UNIT_HASH":
        if dialect == DUCKDB:
            return exp.Anonymous(this="HASH", expressions=args)
        if dialect == CLICKHOUSE:
            return exp.Anonymous(this="cityHash64", expressions=args)
        return exp.Anonymous(this="HASHTEXTEXTENDED", expressions=[*args, exp.Literal.number(0)])
    if name != "AVSB_UNIFORM":
        return node
    modulus = exp.Literal.number(_HASH_MODULUS)
    if dialect == DUCKDB:
        hashed: exp.Expr = exp.Anonymous(this="HASH", expressions=args)
    elif dialect == CLICKHOUSE:
        hashed = exp.Anonymous(this="cityHash64", expressions=args)
    else:
        signed = exp.Anonymous(this="HASHINT8EXTENDED", expressions=args)
        hashed = exp.Add(this=exp.Mod(this=signed, expression=modulus), expression=modulus)
    residue = exp.Mod(this=exp.paren(hashed), expression=modulus)
    return exp.Div(
        this=exp.Cast(this=residue, to=exp.DataType.build("DOUBLE")),
        expression=exp.Literal.number(_HASH_MODULUS),
    )


_MOMENTS = """
SELECT v.variant AS variant, COUNT(*) AS n, SUM(v.y) AS s1, SUM(v.y * v.y) AS s2,
  SUM(v.y * v.y * v.y) AS s3
FROM vals AS v GROUP BY v.variant ORDER BY 1"""


@dataclass(frozen=True, slots=True, kw_only=True)
class MomentsPlan(_KindPlan):
    """Rows (variant, n, sum y, sum y^2, sum y^3)."""

    def to_sql(self, dialect: str) -> str:
        final = fragment(_MOMENTS)
        assert isinstance(final, exp.Select)
        return _render(_value_ctes(self), final, dialect)


# -- categories ---------------------------------------------------------------------------

_CATEGORY_ROWS = """
SELECT COALESCE(l.canonical_id, m.unit_id) AS uid, m.ts_us AS ts_us, m.ingest_seq AS seq,
  m.event_id AS event_id, AVSB_JSON_TEXT(m.properties, :key) AS category
FROM ev_metric AS m LEFT JOIN links AS l ON l.anonymous_id = m.unit_id
WHERE m.org_id = :org AND m.project_id = :project AND m.event_name = :event_name"""
_FIRST_CATEGORY = """
SELECT f.uid AS uid, f.category AS category FROM (
  SELECT c.uid AS uid, c.category AS category,
    ROW_NUMBER() OVER (PARTITION BY c.uid ORDER BY c.ts_us, c.seq, c.event_id) AS rn
  FROM category_rows AS c JOIN units AS u ON u.uid = c.uid
  WHERE c.category IS NOT NULL AND __when
) AS f WHERE f.rn = 1"""
_CATEGORY_COUNTS = """
SELECT k.variant AS variant, f.category AS category, COUNT(*) AS n
FROM units AS k LEFT JOIN first_category AS f ON f.uid = k.uid
GROUP BY k.variant, f.category ORDER BY 1, 2"""


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoryPlan(_KindPlan):
    """Rows (variant, category or NULL, units), at most MAX_CATEGORY_ROWS + 1."""

    def to_sql(self, dialect: str) -> str:
        metric = self.metric
        if metric.value_property is None:
            raise ValueError("a category plan needs the metric's value_property")
        values: Mapping[str, object] = base._metric_values(self._analysis())
        spec = base._Units(self.scope, self.rules, GroupBy.NONE, None, False)
        ctes = base._unit_ctes(spec)
        rows = fragment(_CATEGORY_ROWS, key=metric.value_property, **values)
        ctes.append(("category_rows", rows))
        when = (
            "c.ts_us >= u.first_ts_us AND c.ts_us < u.first_ts_us + :window_us"
            if metric.window_hours is not None
            else "c.ts_us >= u.first_ts_us"
        )
        first = base._substitute(fragment(_FIRST_CATEGORY), {"__when": fragment(when, **values)})
        ctes.append(("first_category", first))
        final = fragment(_CATEGORY_COUNTS)
        assert isinstance(final, exp.Select)
        final = final.where(_in_variants("k", self.variants))
        final = final.limit(exp.Literal.number(MAX_CATEGORY_ROWS + 1))
        return _render(ctes, final, dialect)


__all__ = [
    "MAX_CATEGORY_ROWS",
    "BootstrapPlan",
    "CategoryPlan",
    "MomentsPlan",
    "QuantilePlan",
    "RankPlan",
]
