"""PostgreSQL event store: COPY into a staging table, then insert with ON CONFLICT DO NOTHING.

Its tables (``ev_*``) live beside, but apart from, the Alembic-managed metadata tables and
are created by ``ensure_schema``. Several API processes may append at once: the primary
key makes the dedupe exact and ``ingest_seq`` comes from each process's clock.
"""

from __future__ import annotations

import threading

import psycopg

from avsb.server.events.dialects import POSTGRES, check_identifier
from avsb.server.events.schema import TABLES, ColumnType, Row, SequenceClock, Table, prepare_batch
from avsb.server.events.store import ResultRow, SqlPlan, parse_summary, summary_sql
from avsb.server.events.types import AppendResult, EventBatch, EventKind, IngestionSummary, RowBatch

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


class PostgresEventStore:
    """One connection guarded by a lock; each append is one transaction."""

    def __init__(self, url: str) -> None:
        self._conn = psycopg.connect(url, autocommit=True)
        self._lock = threading.Lock()
        self._clock = SequenceClock()

    @property
    def dialect(self) -> str:
        return POSTGRES

    def ensure_schema(self) -> None:
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            # Serialise concurrent first starts: CREATE ... IF NOT EXISTS can still race.
            cur.execute("SELECT pg_advisory_xact_lock(hashtext('avsb_event_schema'))")
            for table in TABLES.values():
                for statement in schema_sql(table):
                    cur.execute(statement.encode())
                cur.execute(f"SELECT MAX(ingest_seq) FROM {table.name}".encode())  # noqa: S608
                row = cur.fetchone()
                if row is not None and row[0] is not None:
                    self._clock.observe(int(row[0]))

    def append(self, batch: EventBatch | RowBatch) -> AppendResult:
        prepared = prepare_batch(batch, self._clock.reserve(len(batch.events)))
        accepted = 0
        # The transaction block commits on exit: the batch is acknowledged only after that.
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            for kind, rows in prepared.rows.items():
                accepted += _copy_insert(cur, TABLES[kind], rows)
        return AppendResult(accepted=accepted, duplicates=len(batch.events) - accepted)

    def query(self, sql: str | SqlPlan) -> list[ResultRow]:
        text = sql if isinstance(sql, str) else sql.to_sql(self.dialect)
        with self._lock, self._conn.transaction(), self._conn.cursor() as cur:
            # The planner guesses one row for the materialised CTEs of the analysis SQL and
            # picks nested loops over them (minutes instead of seconds at 1M units):
            # these are scans and aggregations, for which hash joins are always right.
            cur.execute(b"SET LOCAL enable_nestloop = off")
            cur.execute(text.encode())
            if cur.description is None:  # a statement without a result set
                return []
            return [tuple(row) for row in cur.fetchall()]

    def summary(self, org_id: str, project_id: str, experiment: str) -> IngestionSummary:
        return parse_summary(self.query(summary_sql(org_id, project_id, experiment, self.dialect)))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _copy_insert(cur: psycopg.Cursor[tuple[object, ...]], table: Table, rows: list[Row]) -> int:
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
        "ON CONFLICT DO NOTHING".encode()
    )
    return max(cur.rowcount, 0)
