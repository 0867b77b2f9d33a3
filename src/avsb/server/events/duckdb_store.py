"""DuckDB event store: the embedded default (one file, one writing process)."""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt

from avsb.server.events.dialects import DUCKDB, check_identifier
from avsb.server.events.schema import TABLES, ColumnType, Row, SequenceClock, Table, prepare_batch
from avsb.server.events.store import ResultRow, SqlPlan, parse_summary, summary_sql
from avsb.server.events.types import AppendResult, EventBatch, IngestionSummary

_TYPES = {
    ColumnType.TEXT: "VARCHAR NOT NULL",
    ColumnType.FLOAT: "DOUBLE NOT NULL",
    ColumnType.FLOAT_NULL: "DOUBLE",
    ColumnType.INT: "BIGINT NOT NULL",
}
_STAGE = "ev_stage"


def create_table_sql(table: Table) -> str:
    cols = ", ".join(f"{check_identifier(c.name)} {_TYPES[c.type]}" for c in table.columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {check_identifier(table.name)} "
        f"({cols}, PRIMARY KEY (org_id, project_id, event_id))"
    )


def _column_arrays(table: Table, rows: list[Row]) -> dict[str, npt.NDArray[np.generic]]:
    """Columns as numpy arrays: DuckDB scans them in place (NaN reads as NULL)."""
    arrays: dict[str, npt.NDArray[np.generic]] = {}
    for index, column in enumerate(table.columns):
        values = [row[index] for row in rows]
        if column.type is ColumnType.INT:
            arrays[column.name] = np.array(values, dtype=np.int64)
        elif column.type is ColumnType.TEXT:
            arrays[column.name] = np.array(values, dtype=object)
        else:
            arrays[column.name] = np.array(
                [np.nan if v is None else v for v in values], dtype=np.float64
            )
    return arrays


class DuckDBEventStore:
    """Appends go through one connection under a lock; reads use their own cursors."""

    def __init__(self, path: str | Path) -> None:
        self._con = duckdb.connect(str(path))
        self._lock = threading.Lock()
        self._clock = SequenceClock()

    @property
    def dialect(self) -> str:
        return DUCKDB

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The raw connection, for bulk loads in benchmarks and tests."""
        return self._con

    def ensure_schema(self) -> None:
        with self._lock:
            for table in TABLES.values():
                self._con.execute(create_table_sql(table))
                row = self._con.execute(
                    f"SELECT MAX(ingest_seq) FROM {table.name}"  # noqa: S608 - constant name
                ).fetchone()
                if row is not None and row[0] is not None:
                    self._clock.observe(int(row[0]))

    def append(self, batch: EventBatch) -> AppendResult:
        prepared = prepare_batch(batch, self._clock.reserve(len(batch.events)))
        accepted = 0
        with self._lock:
            self._con.begin()
            try:
                for kind, rows in prepared.rows.items():
                    accepted += self._insert(TABLES[kind], rows)
                self._con.commit()
            except BaseException:
                self._con.rollback()
                raise
        return AppendResult(accepted=accepted, duplicates=len(batch.events) - accepted)

    def _insert(self, table: Table, rows: list[Row]) -> int:
        columns = ", ".join(table.column_names)
        self._con.register(_STAGE, _column_arrays(table, rows))
        try:
            result = self._con.execute(
                f"INSERT INTO {table.name} ({columns}) SELECT {columns} FROM {_STAGE} "  # noqa: S608
                "ON CONFLICT DO NOTHING"
            ).fetchone()
        finally:
            self._con.unregister(_STAGE)
        return 0 if result is None else int(result[0])

    def query(self, sql: str | SqlPlan) -> list[ResultRow]:
        text = sql if isinstance(sql, str) else sql.to_sql(self.dialect)
        cursor = self._con.cursor()
        try:
            return [tuple(row) for row in cursor.execute(text).fetchall()]
        finally:
            cursor.close()

    def summary(self, org_id: str, project_id: str, experiment: str) -> IngestionSummary:
        return parse_summary(self.query(summary_sql(org_id, project_id, experiment, self.dialect)))

    def close(self) -> None:
        with self._lock:
            self._con.close()
