"""Analysis: metric plans compiled to SQL that aggregates events to sufficient statistics."""

from avsb.server.analysis.plan import (
    AnalysisPlan,
    BotRule,
    BotsPlan,
    CupedSource,
    ExperimentScope,
    GroupBy,
    HealthPlan,
    MetricDefinition,
    MetricType,
    SrmPlan,
    UnitFilter,
    UnitRules,
)
from avsb.server.analysis.sql import (
    GROUP_COLUMNS,
    HEALTH_COLUMNS,
    STAT_COLUMNS,
    bots_query_sql,
    health_query_sql,
    metric_query_sql,
    srm_query_sql,
)

__all__ = [
    "GROUP_COLUMNS",
    "HEALTH_COLUMNS",
    "STAT_COLUMNS",
    "AnalysisPlan",
    "BotRule",
    "BotsPlan",
    "CupedSource",
    "ExperimentScope",
    "GroupBy",
    "HealthPlan",
    "MetricDefinition",
    "MetricType",
    "SrmPlan",
    "UnitFilter",
    "UnitRules",
    "bots_query_sql",
    "health_query_sql",
    "metric_query_sql",
    "srm_query_sql",
]
