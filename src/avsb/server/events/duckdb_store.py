"""DuckDB event store: the embedded default (one file, one writing process)."""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import orjson

from avsb.server.errors import StoreUnavailable
from avsb.server.events.dialects import DUCKDB, check_identifier
from avsb.server.events.exposure_log import ExposureRecord, exposure_count
from avsb.server.events.schema import (
    FIELD_NAMES,
    TABLES,
    ColumnType,
    Row,
    SequenceClock,
    Table,
    prepare_batch,
)
from avsb.server.events.store import ResultRow, SqlPlan, parse_summary, summary_sql
from avsb.server.events.types import (
    AppendResult,
    EventBatch,
    EventColumns,
    IngestionSummary,
    RowBatch,
    RowValue,
    content_digest,
)

_TYPES = {
    ColumnType.TEXT: "VARCHAR NOT NULL",
    ColumnType.FLOAT: "DOUBLE NOT NULL",
    ColumnType.FLOAT_NULL: "DOUBLE",
    ColumnType.INT: "BIGINT NOT NULL",
}
_STAGE = "ev_stage"
_EXPOSURES_SQL = """
INSERT INTO ev_exposure
  (org_id, project_id, event_id, ingest_seq, experiment, variant, unit_id, ts_us, attributes)
SELECT o, p, 'x:' || left(sha256(e[1] || chr(0) || u), 40), ? + row_number() OVER () - 1,
       e[1], e[2], u, t, a
FROM (
  SELECT o, p, u, t, a, unnest(x) AS e
  FROM read_json(?, format = 'array', columns = {
    o: 'VARCHAR', p: 'VARCHAR', u: 'VARCHAR', t: 'BIGINT', a: 'VARCHAR', x: 'VARCHAR[][]'
  })
)
"""
"""Exposure records (`exposure_log`) as ev_exposure rows: one per (experiment, unit) pair,
the id computed as `exposure_event_id` does (SHA-256 over experiment key, NUL, unit id)."""
DEFAULT_MEMORY_LIMIT = "768MB"
"""DuckDB's `memory_limit` for the embedded store (its own default is 80% of RAM): a results
refresh at 1M units x 5M events x 5 metrics then peaks under 1 GiB of process memory, and
operators that need more spill to `<file>.tmp` (docs/benchmarks.md)."""
# DuckDB's errors that mean "cannot now" rather than "wrong SQL": the file is locked by
# another process, the disk or memory ran out, the database was invalidated.
UNAVAILABLE = (
    duckdb.IOException,
    duckdb.OutOfMemoryException,
    duckdb.FatalException,
    duckdb.ConnectionException,
    duckdb.InterruptException,
)


@contextlib.contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except UNAVAILABLE as exc:
        raise StoreUnavailable(f"The event store is unavailable: {type(exc).__name__}.") from exc


def create_table_sql(table: Table) -> str:
    cols = ", ".join(f"{check_identifier(c.name)} {_TYPES[c.type]}" for c in table.columns)
    return (
        f"CREATE TABLE IF NOT EXISTS {check_identifier(table.name)} "
        f"({cols}, PRIMARY KEY (org_id, project_id, event_id))"
    )


Columns = dict[str, npt.NDArray[np.generic]]


def _column_arrays(table: Table, rows: list[Row]) -> Columns:
    """Columns as numpy arrays: DuckDB scans them in place (NaN reads as NULL)."""
    arrays: Columns = {}
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


def _array(kind: ColumnType, values: Sequence[RowValue]) -> npt.NDArray[np.generic]:
    if kind is ColumnType.INT:
        return np.array(values, dtype=np.int64)
    if kind is ColumnType.TEXT:
        return np.array(values, dtype=object)
    return np.array(values, dtype=np.float64)  # None becomes NaN


def _constant(value: str, size: int) -> npt.NDArray[np.generic]:
    """``size`` references to one string (np.full would copy it into every cell)."""
    array = np.empty(size, dtype=object)
    array.fill(value)
    return array


def _staged_columns(
    org_id: str, project_id: str, events: EventColumns, first_seq: int
) -> dict[Table, Columns]:
    """``_column_arrays(prepare_batch(...))`` without a tuple per row: ids resolved, in-batch
    repeats dropped (first kept), ingest_seq counting up kind by kind."""
    staged: dict[Table, Columns] = {}
    seq = first_seq
    for kind, columns in events.by_kind.items():
        table, ids, payload = TABLES[kind], list(columns[0]), columns[1:]
        if None in ids:
            names = FIELD_NAMES[kind]
            for i in [i for i, event_id in enumerate(ids) if event_id is None]:
                content = dict(zip(names, (column[i] for column in payload), strict=True))
                ids[i] = content_digest(kind, content)
        keep: list[int] | None = None
        if len(set(ids)) < len(ids):
            first = {event_id: i for i, event_id in reversed(list(enumerate(ids)))}
            keep = sorted(first.values())
        size = len(ids) if keep is None else len(keep)
        if not size:
            continue
        arrays: Columns = {
            "org_id": _constant(org_id, size),
            "project_id": _constant(project_id, size),
            "event_id": np.array(ids, dtype=object),
            "ingest_seq": np.arange(seq, seq + size, dtype=np.int64),
        }
        if keep is not None:
            arrays["event_id"] = arrays["event_id"][keep]
        for column, values in zip(table.columns[4:], payload, strict=True):
            array = _array(column.type, values)
            arrays[column.name] = array if keep is None else array[keep]
        staged[table] = arrays
        seq += size
    return staged


@dataclass(eq=False)
class _Pending:
    """One append waiting for a group commit: its staged columns per table, then its answer."""

    staged: dict[Table, Columns]
    done: bool = False
    accepted: int = 0
    error: BaseException | None = None


def _rows(columns: Columns) -> int:
    return len(next(iter(columns.values())))


def _config(memory_limit: str) -> dict[str, str | bool | int | float | list[str]]:
    """The connection's settings. Appends stage text columns as numpy object arrays, which
    DuckDB would sample (1,000 values a column, each statement) to guess their type; every
    one is text or None, so the sample is skipped and they scan as VARCHAR: ~10% of an
    exposure write."""
    return {"memory_limit": memory_limit, "pandas_analyze_sample": 0}


class DuckDBEventStore:
    """Appends commit in groups under one lock; reads use their own cursors.

    Group commit: an append stages its batch as numpy columns, queues it, then takes the
    writer lock; whoever holds the lock writes every queued batch in one transaction (one
    INSERT per table, one commit), so concurrent appends share a commit. Each append still
    returns only after the transaction holding its rows committed. The insert is optimistic:
    a plain INSERT, which the primary key refuses as a whole when any row is already stored
    (a retry); then the group is written again batch by batch with ON CONFLICT DO NOTHING,
    which gives each batch its exact accepted count.
    """

    def __init__(self, path: str | Path, *, memory_limit: str = DEFAULT_MEMORY_LIMIT) -> None:
        with _unavailable_as_503():
            self._con = duckdb.connect(str(path), config=_config(memory_limit))
        self._lock = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._clock = SequenceClock()

    @property
    def dialect(self) -> str:
        return DUCKDB

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The raw connection, for bulk loads in benchmarks and tests."""
        return self._con

    def ensure_schema(self) -> None:
        with self._lock, _unavailable_as_503():
            for table in TABLES.values():
                self._con.execute(create_table_sql(table))
                (top,) = self._con.execute(
                    f"SELECT MAX(ingest_seq) FROM {table.name}"  # noqa: S608 - constant name
                ).fetchall()[0]
                if top is not None:
                    self._clock.observe(int(top))

    def append(self, batch: EventBatch | RowBatch) -> AppendResult:
        first_seq = self._clock.reserve(len(batch.events))
        if isinstance(batch, RowBatch) and isinstance(batch.events, EventColumns):
            staged = _staged_columns(batch.org_id, batch.project_id, batch.events, first_seq)
        else:
            prepared = prepare_batch(batch, first_seq)
            staged = {
                TABLES[kind]: _column_arrays(TABLES[kind], rows)
                for kind, rows in prepared.rows.items()
            }
        pending = _Pending(staged)
        with self._queue_lock:
            self._queue.append(pending)
        with self._lock:
            if not pending.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._write_group(group)
        if pending.error is not None:
            with _unavailable_as_503():
                raise pending.error
        return AppendResult(pending.accepted, len(batch.events) - pending.accepted)

    def append_exposures(self, records: Sequence[ExposureRecord]) -> None:
        """Write exposure records in one statement: DuckDB reads them as JSON from a staging
        file and expands, hashes and inserts them itself, with the GIL released, so the
        request threads keep running (numpy object columns are read value by value under
        the GIL). A row already stored, or repeated in `records`, is written once (the
        statement fails as a whole on the primary key, then runs again skipping those)."""
        count = exposure_count(records)
        if not count:
            return
        first_seq = self._clock.reserve(count)
        payload = orjson.dumps(
            [{"o": o, "p": p, "u": u, "t": t, "a": a, "x": x} for o, p, u, t, a, x in records]
        )
        fd, stage = tempfile.mkstemp(prefix="avsb-exposures-", suffix=".json")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
            with self._lock, _unavailable_as_503():
                try:  # optimistic, as `append`: ON CONFLICT costs most of the insert again
                    self._con.execute(_EXPOSURES_SQL, [first_seq, stage]).fetchall()
                except duckdb.ConstraintException:  # a stored or repeated pair: skip those
                    sql = _EXPOSURES_SQL + "ON CONFLICT DO NOTHING"
                    self._con.execute(sql, [first_seq, stage]).fetchall()
        finally:
            os.unlink(stage)

    def _write_group(self, group: list[_Pending]) -> None:
        """Write the queued batches in one transaction; every one of them gets its answer."""
        # One table (the usual batch is all metric events): its one INSERT is the whole
        # transaction, committed by DuckDB's autocommit before execute returns. Fewer calls
        # into DuckDB, each of which gives up the GIL and must win it back from the
        # request threads.
        single = len({table for pending in group for table in pending.staged}) == 1
        try:
            try:
                self._transaction(lambda: self._insert_all(group), explicit=not single)
            except duckdb.ConstraintException:
                self._transaction(lambda: self._insert_each(group), explicit=True)
        except BaseException as exc:
            for pending in group:
                pending.error = exc
        for pending in group:
            pending.done = True

    def _transaction(self, work: Callable[[], None], *, explicit: bool) -> None:
        """``work`` in one transaction: BEGIN ... COMMIT, or (``explicit`` false, for work
        that is a single statement) that statement's own autocommit."""
        if explicit:
            self._con.begin()
        try:
            work()
            if explicit:
                self._con.commit()
        except BaseException:
            if explicit:
                self._con.rollback()
            with contextlib.suppress(duckdb.Error):  # a failed INSERT leaves its stage behind
                self._con.unregister(_STAGE)
            raise

    def _insert_all(self, group: list[_Pending]) -> None:
        """Every batch at once, one plain INSERT per table (raises on any stored id)."""
        tables = {table for pending in group for table in pending.staged}
        for table in tables:
            parts = [p.staged[table] for p in group if table in p.staged]
            merged = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
            self._insert(table, merged, on_conflict=False)
        for pending in group:
            pending.accepted = sum(_rows(columns) for columns in pending.staged.values())

    def _insert_each(self, group: list[_Pending]) -> None:
        """Batch by batch in queue order, skipping stored ids: exact counts per batch."""
        for pending in group:
            pending.accepted = sum(
                self._insert(table, columns, on_conflict=True)
                for table, columns in pending.staged.items()
            )

    def _insert(self, table: Table, columns: Columns, *, on_conflict: bool) -> int:
        names = ", ".join(table.column_names)
        conflict = " ON CONFLICT DO NOTHING" if on_conflict else ""
        self._con.register(_STAGE, columns)
        # fetchall finishes the statement: under autocommit it has committed on return.
        result = self._con.execute(
            f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {_STAGE}"  # noqa: S608
            + conflict
        ).fetchall()
        self._con.unregister(_STAGE)
        return int(result[0][0]) if result else 0

    def query(self, sql: str | SqlPlan) -> list[ResultRow]:
        text = sql if isinstance(sql, str) else sql.to_sql(self.dialect)
        with _unavailable_as_503():
            cursor = self._con.cursor()
            try:
                return [tuple(row) for row in cursor.execute(text).fetchall()]
            finally:
                cursor.close()

    def ping(self) -> None:
        self.query("SELECT 1")

    def summary(self, org_id: str, project_id: str, experiment: str) -> IngestionSummary:
        return parse_summary(self.query(summary_sql(org_id, project_id, experiment, self.dialect)))

    def close(self) -> None:
        with self._lock:
            self._con.close()
