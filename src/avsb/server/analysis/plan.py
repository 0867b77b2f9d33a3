"""Query plans: what to aggregate (a metric over an experiment) and how to slice it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from avsb.server.events.dialects import check_json_key


class MetricType(StrEnum):
    BINARY = "binary"
    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    RATIO = "ratio"
    QUANTILE = "quantile"  # a percentile of per-unit sums of values (analysis/kinds.py)
    CATEGORICAL = "categorical"  # the category of the unit's first event (analysis/kinds.py)


class GroupBy(StrEnum):
    NONE = "none"
    STRATUM = "stratum"  # the unit's ingested stratum (first write wins)
    ATTRIBUTE = "attribute"  # a key of the attributes of the unit's first exposure
    DAY = "day"  # the day (UTC) of the unit's first exposure: add rows up for a cumulative series


class CupedSource(StrEnum):
    NONE = "none"
    INGESTED = "ingested"  # covariate rows for the experiment (missing -> 0)
    PRE_PERIOD = "pre_period"  # the same metric in the window before the first exposure
    AUTO = "auto"  # ingested when the experiment has any covariate row, else pre-period


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricDefinition:
    """A metric as stored by the metrics feature (DESIGN.md "Key payloads").

    Per-unit values, counted over events in ``[first exposure, + window_hours)``:
    binary = 1 if any ``event_name`` event else 0; count = number of events; sum = sum of
    values (missing value -> 0); mean = sum of values / number of events, analysed as a
    ratio; ratio = sum of ``event_name`` values / sum of ``denominator_event_name`` values,
    where an event without a value counts as 1 (so value-less events make a ratio of counts).
    A value is the ``value_property`` key of the event's properties, or its own value.
    """

    type: MetricType
    event_name: str
    value_property: str | None = None
    denominator_event_name: str | None = None
    window_hours: float | None = None
    winsorize_percentile: float | None = None  # in (0, 100): cap per-unit values at it
    value_cap: float | None = None  # a fixed cap on per-unit values
    lower_is_better: bool = False
    key: str = ""
    quantile: float | None = None  # quantile metrics: the probability in (0, 1)
    test: str = "welch"  # count / sum metrics: "welch" or "mann_whitney"
    interval: str = "normal"  # count / sum metrics: "normal" or "bootstrap"

    def __post_init__(self) -> None:
        if self.type is MetricType.RATIO and not self.denominator_event_name:
            raise ValueError("a ratio metric needs denominator_event_name")
        if self.value_property is not None:
            check_json_key(self.value_property)
        if self.window_hours is not None and self.window_hours <= 0:
            raise ValueError("window_hours must be positive")
        pct = self.winsorize_percentile
        if pct is not None and not 0 < pct < 100:
            raise ValueError("winsorize_percentile must be in (0, 100)")
        if self.quantile is not None and not 0 < self.quantile < 1:
            raise ValueError("quantile must be in (0, 1)")

    @property
    def is_ratio(self) -> bool:
        return self.type in (MetricType.RATIO, MetricType.MEAN)


@dataclass(frozen=True, slots=True, kw_only=True)
class BotRule:
    """A unit is a bot when its metric-event count exceeds ``p99_multiple`` times the 99th
    percentile over exposed units with events, or ``max_events`` (either may be None)."""

    p99_multiple: float | None = 10.0
    max_events: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExperimentScope:
    org_id: str
    project_id: str
    experiment: str  # the experiment key exposures carry


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitFilter:
    """A slice of the exposed units: those whose first exposure's attribute ``attribute_key``
    (as text) is one of ``values``, or with ``attribute_key=None`` those whose canonical id
    is one of ``values`` (a segment's member list). No values matches no unit."""

    attribute_key: str | None = None
    values: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.attribute_key is not None:
            check_json_key(self.attribute_key)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitRules:
    """Which exposed units are analysed (all applied at read time; raw rows are kept)."""

    bot_rule: BotRule | None = field(default_factory=BotRule)
    apply_exclusions: bool = True
    include_holdout: bool = True  # holdout members form the variant "__holdout__"
    unit_filter: UnitFilter | None = None  # a segment slice; None = every unit
    # The bots, when already known (``BotsPlan``): they replace the rate-spike computation,
    # which otherwise scans every metric event again in each query.
    bot_units: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisPlan:
    """One metric over one experiment -> per-variant (per group) sufficient statistics."""

    scope: ExperimentScope
    metric: MetricDefinition
    group_by: GroupBy = GroupBy.NONE
    attribute_key: str | None = None
    cuped: CupedSource = CupedSource.AUTO
    pre_period_hours: float = 168.0  # the pre window when the metric has no window_hours
    rules: UnitRules = field(default_factory=UnitRules)
    # Also group by the unit's ingested stratum (column ``stratum``, after the group column;
    # NULL for units without one): the cells of post-stratification.
    by_stratum: bool = False

    def __post_init__(self) -> None:
        _check_grouping(self.group_by, self.attribute_key)
        if self.by_stratum and self.group_by is GroupBy.STRATUM:
            raise ValueError("by_stratum adds the stratum to another grouping")

    def to_sql(self, dialect: str) -> str:
        from avsb.server.analysis.sql import metric_query_sql

        return metric_query_sql(self, dialect)


@dataclass(frozen=True, slots=True)
class MetricsPlan:
    """Several metrics of one experiment with the same units and grouping, aggregated in one
    query (one scan of the exposures and of the events instead of one per metric)."""

    plans: tuple[AnalysisPlan, ...]

    def __post_init__(self) -> None:
        if not self.plans:
            raise ValueError("a MetricsPlan needs at least one metric")
        first = self.plans[0]
        shared = (first.scope, first.rules, first.group_by, first.attribute_key, first.by_stratum)
        for plan in self.plans[1:]:
            if (plan.scope, plan.rules, plan.group_by, plan.attribute_key, plan.by_stratum) != (
                shared
            ):
                raise ValueError("the metrics of a MetricsPlan share scope, rules and grouping")

    def to_sql(self, dialect: str) -> str:
        from avsb.server.analysis.sql import metrics_query_sql

        return metrics_query_sql(self, dialect)

    def split(self, rows: Sequence[Sequence[object]]) -> list[list[tuple[object, ...]]]:
        """Each metric's rows, as its own ``AnalysisPlan`` query returns them."""
        from avsb.server.analysis.sql import STAT_COLUMNS

        first = self.plans[0]
        keys = 1 + (first.group_by is not GroupBy.NONE) + first.by_stratum
        width = len(STAT_COLUMNS)
        return [
            [(*row[:keys], *row[keys + i * width : keys + (i + 1) * width]) for row in rows]
            for i in range(len(self.plans))
        ]


@dataclass(frozen=True, slots=True, kw_only=True)
class SrmPlan:
    """Analysed units per variant, by first-exposure day or by an exposure attribute."""

    scope: ExperimentScope
    group_by: GroupBy = GroupBy.NONE
    attribute_key: str | None = None
    rules: UnitRules = field(default_factory=UnitRules)

    def __post_init__(self) -> None:
        if self.group_by is GroupBy.STRATUM:
            raise ValueError("SRM is diagnosed by day or by attribute")
        _check_grouping(self.group_by, self.attribute_key)

    def to_sql(self, dialect: str) -> str:
        from avsb.server.analysis.sql import srm_query_sql

        return srm_query_sql(self, dialect)


@dataclass(frozen=True, slots=True, kw_only=True)
class BotsPlan:
    """The canonical ids of the units the bot rule flags (at most ``limit``, sorted)."""

    scope: ExperimentScope
    rules: UnitRules = field(default_factory=UnitRules)
    limit: int = 10_000

    def to_sql(self, dialect: str) -> str:
        from avsb.server.analysis.sql import bots_query_sql

        return bots_query_sql(self, dialect)


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthPlan:
    """Unit counts: assigned, in several variants, excluded, bots, analysed."""

    scope: ExperimentScope
    rules: UnitRules = field(default_factory=UnitRules)

    def to_sql(self, dialect: str) -> str:
        from avsb.server.analysis.sql import health_query_sql

        return health_query_sql(self, dialect)


def _check_grouping(group_by: GroupBy, attribute_key: str | None) -> None:
    if group_by is GroupBy.ATTRIBUTE:
        if attribute_key is None:
            raise ValueError("group_by=attribute needs attribute_key")
        check_json_key(attribute_key)
