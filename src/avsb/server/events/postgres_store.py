"""PostgreSQL event store: COPY into a staging table, then insert with ON CONFLICT DO NOTHING.

Its tables (``ev_*``) live beside, but apart from, the Alembic-managed metadata tables and
are created by ``ensure_schema``. Several API processes may append at once: the primary
key makes the dedupe exact and ``ingest_seq`` comes from each process's clock.

Connections come from a small pool that survives the server: a connection found broken
(PostgreSQL restarted, the backend terminated) is dropped together with every idle one (they
are as dead), the operation runs once more on a new connection, and a failure after that is
``StoreUnavailable`` (503 with Retry-After). Running an append again is safe: its rows are
inserted at most once, and an append whose commit was lost is retried whole.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import pq

from avsb.server.errors import StoreUnavailable
from avsb.server.events.dialects import POSTGRES, check_identifier
from avsb.server.events.exposure_log import ExposureRecord, exposure_batches, exposure_count
from avsb.server.events.schema import TABLES, ColumnType, Row, SequenceClock, Table, prepare_batch
from avsb.server.events.store import ResultRow, SqlPlan, parse_summary, summary_sql
from avsb.server.events.types import AppendResult, EventBatch, EventKind, IngestionSummary, RowBatch

T = TypeVar("T")
log = logging.getLogger("avsb.server.events")
Connection = psycopg.Connection[tuple[Any, ...]]
POOL_SIZE = 8
"""Connections per process: appends and queries beyond this wait for one."""
CONNECT_TIMEOUT_SECONDS = 3
WAIT_SECONDS = 30.0
"""How long an operation waits for a free connection before it is refused (503)."""
_KIND_ORDER = {kind: index for index, kind in enumerate(TABLES)}

_TYPES = {
    ColumnType.TEXT: "TEXT NOT NULL",
    ColumnType.FLOAT: "DOUBLE PRECISION NOT NULL",
    ColumnType.FLOAT_NULL: "DOUBLE PRECISION",
    ColumnType.INT: "BIGINT NOT NULL",
}
# Secondary indexes for the analysis scans (the primary key serves the dedupe).
_INDEXES = {
    EventKind.EXPOSURE: ("experiment", "unit_id"),
    EventKind.METRIC: ("event_name", "unit_id"),
    EventKind.IDENTIFY: ("anonymous_id",),
}


def schema_sql(table: Table) -> list[str]:
    name = check_identifier(table.name)
    cols = ", ".join(f"{check_identifier(c.name)} {_TYPES[c.type]}" for c in table.columns)
    statements = [
        f"CREATE TABLE IF NOT EXISTS {name} ({cols}, PRIMARY KEY (org_id, project_id, event_id))"
    ]
    index_cols = _INDEXES.get(table.kind)
    if index_cols:
        statements.append(
            f"CREATE INDEX IF NOT EXISTS {name}_scan ON {name} "
            f"(org_id, project_id, {', '.join(index_cols)})"
        )
    return statements


class ConnectionPool:
    """Up to ``size`` autocommit connections, made on demand and reused while they work."""

    def __init__(self, url: str, size: int) -> None:
        self._url = url
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    @contextlib.contextmanager
    def connection(self) -> Iterator[Connection]:
        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise StoreUnavailable("The event store is busy; retry shortly.")
        try:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                conn = psycopg.connect(
                    self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
                )
            try:
                yield conn
            except BaseException:
                self._release(conn)
                raise
            self._release(conn)
        finally:
            self._slots.release()

    def _release(self, conn: Connection) -> None:
        """Back to the idle list if it is sound; if broken, drop it and every idle one."""
        if conn.broken or conn.closed:
            self.clear()
            conn.close()
        elif conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.close()  # a transaction left open (an error inside it): never reuse
        else:
            with self._lock:
                if not self._closed:
                    self._idle.append(conn)
                    return
            conn.close()  # the pool closed while this one was in use: never left open

    def clear(self) -> None:
        """Close the idle connections (a lost server: the next use connects afresh)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def close(self) -> None:
        """Close the idle connections, and each one in use when it comes back."""
        with self._lock:
            self._closed = True
        self.clear()


class PostgresEventStore:
    """A pool of connections; each append is one transaction on one of them."""

    def __init__(self, url: str, pool_size: int = POOL_SIZE) -> None:
        self._pool = ConnectionPool(url, pool_size)
        self._clock = SequenceClock()

    @property
    def dialect(self) -> str:
        return POSTGRES

    def _run(self, work: Callable[[Connection], T]) -> T:
        """``work`` on a pooled connection; once more on a new one if the connection was lost
        (restart, terminated backend, stale idle connection); ``StoreUnavailable`` if it
        still fails for want of the server."""
        for attempt in (1, 2):
            try:
                with self._pool.connection() as conn:
                    return work(conn)
            except psycopg.OperationalError as exc:
                if attempt == 1 and _connection_lost(exc):
                    continue
                raise StoreUnavailable(
                    "The event store is unavailable; nothing was stored, retry shortly."
                ) from exc
        raise AssertionError("unreachable")

    def ensure_schema(self) -> None:
        def create(conn: Connection) -> None:
            with conn.transaction(), conn.cursor() as cur:
                # Serialise concurrent first starts: CREATE ... IF NOT EXISTS can still race.
                cur.execute("SELECT pg_advisory_xact_lock(hashtext('avsb_event_schema'))")
                for table in TABLES.values():
                    for statement in schema_sql(table):
                        cur.execute(statement.encode())
                    cur.execute(f"SELECT MAX(ingest_seq) FROM {table.name}".encode())  # noqa: S608
                    row = cur.fetchone()
                    if row is not None and row[0] is not None:
                        self._clock.observe(int(row[0]))

        self._run(create)

    def append_exposures(self, records: Sequence[ExposureRecord]) -> None:
        # PostgreSQL text cannot hold NUL: such a unit id would fail the whole write, and
        # every retry of it, so it is left out here (DuckDB and ClickHouse store it).
        storable = [record for record in records if "\x00" not in record[2]]
        if len(storable) < len(records):  # a record holds one or more exposures
            left_out = exposure_count(records) - exposure_count(storable)
            log.warning("%d exposures not stored: NUL in the unit id", left_out)
        for batch in exposure_batches(storable):
            self.append(batch)

    def append(self, batch: EventBatch | RowBatch) -> AppendResult:
        prepared = prepare_batch(batch, self._clock.reserve(len(batch.events)))
        # Tables in one order, rows in key order: concurrent appends of overlapping batches
        # wait for each other instead of deadlocking.
        kinds = sorted(prepared.rows, key=_KIND_ORDER.__getitem__)

        def insert(conn: Connection) -> int:
            accepted = 0
            # The transaction block commits on exit: the batch is acknowledged only after that.
            with conn.transaction(), conn.cursor() as cur:
                for kind in kinds:
                    accepted += _copy_insert(cur, TABLES[kind], prepared.rows[kind])
            return accepted

        accepted = self._run(insert)
        return AppendResult(accepted=accepted, duplicates=len(batch.events) - accepted)

    def query(self, sql: str | SqlPlan) -> list[ResultRow]:
        text = sql if isinstance(sql, str) else sql.to_sql(self.dialect)

        def run(conn: Connection) -> list[ResultRow]:
            with conn.transaction(), conn.cursor() as cur:
                # The planner guesses one row for the materialised CTEs of the analysis SQL
                # and picks nested loops over them (minutes instead of seconds at 1M units):
                # these are scans and aggregations, for which hash joins are always right.
                cur.execute(b"SET LOCAL enable_nestloop = off")
                cur.execute(text.encode())
                if cur.description is None:  # a statement without a result set
                    return []
                return [tuple(row) for row in cur.fetchall()]

        return self._run(run)

    def ping(self) -> None:
        """Raise ``StoreUnavailable`` unless the server answers."""
        self._run(lambda conn: conn.execute(b"SELECT 1").fetchall())

    def summary(self, org_id: str, project_id: str, experiment: str) -> IngestionSummary:
        return parse_summary(self.query(summary_sql(org_id, project_id, experiment, self.dialect)))

    def close(self) -> None:
        self._pool.close()


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """The connection failed, not the statement: worth one more try on a new connection.

    Client-side errors (no SQLSTATE: connection refused, reset, closed) and the server's
    shutdown / terminate / starting-up codes (class 57P)."""
    return exc.sqlstate is None or exc.sqlstate.startswith("57P")


def _copy_insert(cur: psycopg.Cursor[tuple[Any, ...]], table: Table, rows: list[Row]) -> int:
    stage = f"{table.name}_stage"
    columns = ", ".join(table.column_names)
    cur.execute(
        f"CREATE TEMP TABLE IF NOT EXISTS {stage} "
        f"(LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS".encode()
    )
    with cur.copy(f"COPY {stage} ({columns}) FROM STDIN".encode()) as copy:
        for row in rows:
            copy.write_row(row)
    cur.execute(
        f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {stage} "  # noqa: S608
        "ORDER BY org_id, project_id, event_id ON CONFLICT DO NOTHING".encode()
    )
    return max(cur.rowcount, 0)
