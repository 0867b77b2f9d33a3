"""ClickHouse event store, in-process through chdb (the embedded ClickHouse engine).

ClickHouse has no unique constraints, so idempotency is two-layered:

- ``append`` looks up which event ids of the batch are already stored and inserts only the
  new rows, under a lock: exact accepted / duplicate counts within one process (chdb allows
  one data path per process, so there is one writer);
- the tables are ``ReplacingMergeTree`` sorted by a key ending in ``event_id`` and every
  generated query reads them ``FINAL``, so rows that concurrent writers on a ClickHouse
  server insert twice are still counted once. The generated SQL runs unchanged there.

An insert is acknowledged once ClickHouse has written the part; a batch touching several
kinds is several inserts (ClickHouse has no multi-table transaction), which is safe to
retry because of the above.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from types import TracebackType
from typing import Protocol, cast

import orjson

from avsb.server.events.dialects import CLICKHOUSE, check_identifier
from avsb.server.events.exposure_log import ExposureRecord, exposure_batches
from avsb.server.events.schema import TABLES, ColumnType, Row, SequenceClock, Table, prepare_batch
from avsb.server.events.store import ResultRow, SqlPlan, parse_summary, summary_sql
from avsb.server.events.types import AppendResult, EventBatch, IngestionSummary, RowBatch

_TYPES = {
    ColumnType.TEXT: "String",
    ColumnType.FLOAT: "Float64",
    ColumnType.FLOAT_NULL: "Nullable(Float64)",
    ColumnType.INT: "Int64",
}
# Session settings: numbers come back as JSON numbers, not quoted strings.
_SESSION_SETTINGS = (
    "SET output_format_json_quote_64bit_integers = 0",
    "SET output_format_json_quote_64bit_floats = 0",
)


class _Result(Protocol):
    def bytes(self) -> bytes: ...


class _Inserter(Protocol):
    def __enter__(self) -> _Inserter: ...
    def __exit__(
        self, kind: type[BaseException] | None, err: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    def append(self, data: str) -> None: ...
    def finish(self) -> object: ...


class _Session(Protocol):
    """The part of chdb.session.Session used here (chdb ships no type hints)."""

    def query(
        self, sql: str, fmt: str = ..., params: dict[str, object] | None = ...
    ) -> _Result: ...

    def send_insert(self, query: str, fmt: str = ...) -> _Inserter: ...
    def close(self) -> None: ...


def create_table_sql(table: Table) -> str:
    cols = ", ".join(f"{check_identifier(c.name)} {_TYPES[c.type]}" for c in table.columns)
    key = ", ".join(check_identifier(c) for c in table.sort_key)
    # A skip index finds retried ids fast when the sorting key does not start with them.
    index = ", INDEX ix_event_id event_id TYPE bloom_filter GRANULARITY 4"
    return (
        f"CREATE TABLE IF NOT EXISTS {check_identifier(table.name)} ({cols}{index}) "
        f"ENGINE = ReplacingMergeTree ORDER BY ({key})"
    )


class ChdbEventStore:
    """A chdb session on a data directory; close it before opening another directory."""

    def __init__(self, path: str) -> None:
        from chdb import session  # optional dependency: the "clickhouse" extra

        self._session = cast(Callable[[str], _Session], session.Session)(path)
        for statement in _SESSION_SETTINGS:
            self._session.query(statement)
        self._lock = threading.Lock()
        self._clock = SequenceClock()

    @property
    def dialect(self) -> str:
        return CLICKHOUSE

    def ensure_schema(self) -> None:
        with self._lock:
            for table in TABLES.values():
                self._session.query(create_table_sql(table))
                rows = self._rows(f"SELECT count(), max(ingest_seq) FROM {table.name}")  # noqa: S608
                if rows and _int(rows[0][0]) > 0:
                    self._clock.observe(_int(rows[0][1]))

    def append_exposures(self, records: Sequence[ExposureRecord]) -> None:
        for batch in exposure_batches(records):
            self.append(batch)

    def append(self, batch: EventBatch | RowBatch) -> AppendResult:
        prepared = prepare_batch(batch, self._clock.reserve(len(batch.events)))
        accepted = 0
        with self._lock:
            for kind, rows in prepared.rows.items():
                table = TABLES[kind]
                stored = self._stored_ids(batch, table, (str(r[2]) for r in rows))
                new_rows = [r for r in rows if r[2] not in stored]
                if new_rows:
                    self._insert(table, new_rows)
                accepted += len(new_rows)
        return AppendResult(accepted=accepted, duplicates=len(batch.events) - accepted)

    def _stored_ids(
        self, batch: EventBatch | RowBatch, table: Table, ids: Iterable[str]
    ) -> set[str]:
        rows = self._rows(
            f"SELECT DISTINCT event_id FROM {table.name} "  # noqa: S608 - constant table name
            "WHERE org_id = {org:String} AND project_id = {project:String} "
            "AND event_id IN {ids:Array(String)}",
            {"org": batch.org_id, "project": batch.project_id, "ids": _array_param(ids)},
        )
        return {str(row[0]) for row in rows}

    def _insert(self, table: Table, rows: list[Row]) -> None:
        names = table.column_names
        payload = b"\n".join(orjson.dumps(dict(zip(names, row, strict=True))) for row in rows)
        with self._session.send_insert(
            f"INSERT INTO {table.name} ({', '.join(names)})", "JSONEachRow"
        ) as inserter:
            inserter.append(payload.decode() + "\n")
            inserter.finish()

    def query(self, sql: str | SqlPlan) -> list[ResultRow]:
        text = sql if isinstance(sql, str) else sql.to_sql(self.dialect)
        with self._lock:
            return self._rows(text)

    def _rows(self, text: str, params: dict[str, object] | None = None) -> list[ResultRow]:
        result = self._session.query(text, "JSONCompact", params=params)
        raw = result.bytes()
        if not raw:
            return []
        answer = orjson.loads(raw)
        # JSON writes a whole Float64 as 1, not 1.0: restore floats from the column types.
        floats = ["Float" in str(col["type"]) for col in answer["meta"]]
        return [
            tuple(float(v) if f and v is not None else v for v, f in zip(row, floats, strict=True))
            for row in answer["data"]
        ]

    def ping(self) -> None:
        self.query("SELECT 1")

    def summary(self, org_id: str, project_id: str, experiment: str) -> IngestionSummary:
        return parse_summary(self.query(summary_sql(org_id, project_id, experiment, self.dialect)))

    def close(self) -> None:
        with self._lock:
            self._session.close()


def _array_param(values: Iterable[str]) -> str:
    """An Array(String) query-parameter value in ClickHouse's quoted text format."""
    quoted = ("'" + v.replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)
    return "[" + ",".join(quoted) + "]"


def _int(value: object) -> int:
    if isinstance(value, int | float | str):
        return int(value)
    raise TypeError(f"expected an integer, got {value!r}")
