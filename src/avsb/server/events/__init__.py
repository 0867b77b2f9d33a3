"""Columnar event storage: idempotent batch appends and aggregation queries.

Backends: DuckDB (embedded default), PostgreSQL (psycopg 3) and ClickHouse (chdb in-process;
the same SQL runs on a ClickHouse server). See docs/events.md.
"""

from avsb.server.events.store import EventStore, SqlPlan, open_event_store
from avsb.server.events.types import (
    HOLDOUT_VARIANT,
    AppendResult,
    CovariateEvent,
    Event,
    EventBatch,
    EventKind,
    EventRows,
    ExclusionEvent,
    ExposureEvent,
    HoldoutEvent,
    IdentifyEvent,
    IngestionSummary,
    KindSummary,
    MetricEvent,
    RowBatch,
    StratumEvent,
)

__all__ = [
    "HOLDOUT_VARIANT",
    "AppendResult",
    "CovariateEvent",
    "Event",
    "EventBatch",
    "EventKind",
    "EventRows",
    "EventStore",
    "ExclusionEvent",
    "ExposureEvent",
    "HoldoutEvent",
    "IdentifyEvent",
    "IngestionSummary",
    "KindSummary",
    "MetricEvent",
    "RowBatch",
    "SqlPlan",
    "StratumEvent",
    "open_event_store",
]
