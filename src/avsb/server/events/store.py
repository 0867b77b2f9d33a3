"""The EventStore interface, shared summary SQL, and ``open_event_store(url)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlglot import exp

from avsb.server.events.dialects import fragment, render
from avsb.server.events.exposure_log import ExposureRecord
from avsb.server.events.schema import TABLES
from avsb.server.events.types import (
    EXPERIMENT_KINDS,
    TIMED_KINDS,
    AppendResult,
    EventBatch,
    EventKind,
    IngestionSummary,
    KindSummary,
    RowBatch,
    from_epoch_us,
)

ResultRow = tuple[object, ...]


class SqlPlan(Protocol):
    """A query plan that compiles itself for an engine (see avsb.server.analysis.sql)."""

    def to_sql(self, dialect: str) -> str: ...


class EventStore(Protocol):
    """Columnar event storage: idempotent batch appends and aggregation queries."""

    @property
    def dialect(self) -> str:
        """The sqlglot dialect name of the engine: duckdb, postgres or clickhouse."""
        ...

    def ensure_schema(self) -> None:
        """Create the ev_* tables if missing (idempotent)."""
        ...

    def append(self, batch: EventBatch | RowBatch) -> AppendResult:
        """Store a batch exactly once; returns after the rows are committed."""
        ...

    def append_exposures(self, records: Sequence[ExposureRecord]) -> None:
        """Store the exposures of `records` (`exposure_log`): one row per (experiment, unit),
        one already stored kept as it was; returns after they are committed."""
        ...

    def query(self, sql: str | SqlPlan) -> list[ResultRow]:
        """Run engine SQL (or compile a plan for this engine) and return all rows."""
        ...

    def summary(self, org_id: str, project_id: str, experiment: str) -> IngestionSummary:
        """Counts and last times per kind for an experiment and its project."""
        ...

    def ping(self) -> None:
        """Return when the store answers a trivial query; raise (``StoreUnavailable``) if not."""
        ...

    def close(self) -> None: ...


def summary_sql(org_id: str, project_id: str, experiment: str, dialect: str) -> str:
    """One UNION ALL query: (kind, count, max ts_us, max ingest_seq) per kind."""
    parts: list[exp.Expr] = []
    for kind, table in TABLES.items():
        ts = "MAX(t.ts_us)" if kind in TIMED_KINDS else "CAST(NULL AS BIGINT)"
        where = "t.org_id = :org AND t.project_id = :project"
        if kind in EXPERIMENT_KINDS:
            where += " AND t.experiment = :experiment"
        sql = (
            f"SELECT :kind AS kind, COUNT(*) AS n, {ts} AS max_ts, "  # noqa: S608 - constants
            f"MAX(t.ingest_seq) AS max_seq FROM {table.name} AS t WHERE {where}"
        )
        values = {"kind": kind.value, "org": org_id, "project": project_id}
        if kind in EXPERIMENT_KINDS:
            values["experiment"] = experiment
        parts.append(fragment(sql, **values))
    union = parts[0]
    for part in parts[1:]:
        union = exp.union(union, part, distinct=False)
    return render(exp.select("*").from_(exp.paren(union).as_("s")), dialect)


def parse_summary(rows: Sequence[ResultRow]) -> IngestionSummary:
    kinds: dict[EventKind, KindSummary] = {}
    for kind, count, max_ts, max_seq in rows:
        n = _as_int(count)
        # ClickHouse answers 0, not NULL, for MAX over no rows.
        kinds[EventKind(str(kind))] = KindSummary(
            count=n,
            last_event_at=None if max_ts is None or n == 0 else from_epoch_us(_as_int(max_ts)),
            last_ingested_at=None if max_seq is None or n == 0 else from_epoch_us(_as_int(max_seq)),
        )
    return IngestionSummary(kinds)


def _as_int(value: object) -> int:
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")


def open_event_store(url: str, *, duckdb_memory_limit: str | None = None) -> EventStore:
    """A store for a URL: ``postgresql://...``, ``chdb:///data/dir`` or a DuckDB file path
    (``duckdb:///path/events.duckdb``, a bare path, or ``:memory:``); ``avsb-owner://socket``
    is an embedded store owned by another process of this server (see events.owner).
    ``duckdb_memory_limit``: DuckDB's ``memory_limit`` (default ``DEFAULT_MEMORY_LIMIT``)."""
    if url.startswith("avsb-owner://"):
        from avsb.server.events.owner import OwnedEventStore

        return OwnedEventStore.from_url(url)
    if url.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from avsb.server.events.postgres_store import PostgresEventStore

        return PostgresEventStore(url.replace("postgresql+psycopg://", "postgresql://", 1))
    if url.startswith(("chdb://", "clickhouse+chdb://")):
        from avsb.server.events.clickhouse_store import ChdbEventStore

        return ChdbEventStore(url.split("://", 1)[1])
    from avsb.server.events.duckdb_store import DEFAULT_MEMORY_LIMIT, DuckDBEventStore

    limit = duckdb_memory_limit or DEFAULT_MEMORY_LIMIT
    return DuckDBEventStore(url.removeprefix("duckdb://"), memory_limit=limit)
