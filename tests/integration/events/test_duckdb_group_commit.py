"""DuckDB appends commit in groups: concurrent batches share a transaction, and each still
gets its exact accepted and duplicate counts (retries and repeats inside a group too)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from avsb.server.events import (
    AppendResult,
    Event,
    EventBatch,
    EventKind,
    EventRows,
    MetricEvent,
    RowBatch,
)
from avsb.server.events.duckdb_store import DuckDBEventStore
from avsb.server.events.types import EventColumns, RowValue

T0 = datetime(2026, 1, 5, 12, tzinfo=UTC)


def batch(first: int, size: int) -> EventBatch:
    events: list[Event] = [
        MetricEvent(event_name="buy", unit_id=f"u{i}", timestamp=T0 + timedelta(seconds=i),
                    value=float(i), event_id=f"e{i}")
        for i in range(first, first + size)
    ]  # fmt: skip
    return EventBatch("org", "prj", events)


def test_concurrent_overlapping_batches__exact_counts(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    store.ensure_schema()
    # 16 batches of 100 over ids 0..999: many overlap, several are exact repeats.
    batches = [batch((k * 50) % 900, 100) for k in range(16)]
    results: list[AppendResult] = []
    lock = threading.Lock()

    def append(b: EventBatch) -> None:
        result = store.append(b)
        with lock:
            results.append(result)

    threads = [threading.Thread(target=append, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    distinct = {e.event_id for b in batches for e in b.events if isinstance(e, MetricEvent)}
    assert sum(r.accepted for r in results) == len(distinct)
    assert all(r.accepted + r.duplicates == 100 for r in results)
    assert store.summary("org", "prj", "x").kinds[EventKind.METRIC].count == len(distinct)
    store.close()


def test_failed_group__nothing_written_and_store_usable(tmp_path: Path) -> None:
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    store.ensure_schema()
    store.append(batch(0, 10))

    again = store.append(batch(5, 10))  # half already stored: the optimistic insert fails

    assert again == AppendResult(accepted=5, duplicates=5)
    assert store.append(batch(100, 3)) == AppendResult(accepted=3, duplicates=0)
    store.close()


def _rows_batch(columns: bool) -> RowBatch:
    """Metric rows with a repeated id (first kept), two without ids (content ids) and
    exposure rows beside them."""
    metric: list[tuple[RowValue, ...]] = [
        ("m1", "buy", "u1", 1.5, 10, "{}"),
        (None, "buy", "u2", None, 11, '{"a":1}'),
        ("m1", "buy", "u3", 2.5, 12, "{}"),
        (None, "buy", "u2", None, 11, '{"a":1}'),
        ("m2", "view", "u1", 0.0, 13, "{}"),
    ]
    exposure: list[tuple[RowValue, ...]] = [("x1", "exp", "control", "u1", 9, '{"k":"v"}')]
    rows = EventRows({EventKind.METRIC: metric, EventKind.EXPOSURE: exposure})
    if not columns:
        return RowBatch("org", "prj", rows)
    by_kind = {kind: [list(c) for c in zip(*kind_rows, strict=True)]
               for kind, kind_rows in rows.by_kind.items()}  # fmt: skip
    return RowBatch("org", "prj", EventColumns(by_kind))


def _stored(store: DuckDBEventStore, table: str) -> list[tuple[object, ...]]:
    return store.query(
        f"SELECT * EXCLUDE (ingest_seq), RANK() OVER (ORDER BY ingest_seq) "
        f"FROM {table} ORDER BY event_id"
    )


def test_columns__same_rows_and_counts_as_rows(tmp_path: Path) -> None:
    by_rows = DuckDBEventStore(tmp_path / "rows.duckdb")
    by_columns = DuckDBEventStore(tmp_path / "columns.duckdb")
    for store in (by_rows, by_columns):
        store.ensure_schema()

    results = [by_rows.append(_rows_batch(columns=False)) for _ in range(2)]
    column_results = [by_columns.append(_rows_batch(columns=True)) for _ in range(2)]

    assert results == column_results == [AppendResult(4, 2), AppendResult(0, 6)]
    for table in ("ev_metric", "ev_exposure"):
        assert _stored(by_rows, table) == _stored(by_columns, table)
    assert len(_stored(by_columns, "ev_metric")) == 3
    by_rows.close()
    by_columns.close()


def test_single_table_group__committed_when_append_returns(tmp_path: Path) -> None:
    # A metric-only group is one autocommitted INSERT: on return it is durable and visible.
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    store.ensure_schema()

    assert store.append(batch(0, 50)) == AppendResult(accepted=50, duplicates=0)
    seen = store.connection.cursor().execute("SELECT count(*) FROM ev_metric").fetchall()
    store.close()
    reopened = DuckDBEventStore(tmp_path / "events.duckdb")
    reopened.ensure_schema()

    assert seen == [(50,)]
    assert reopened.summary("org", "prj", "x").kinds[EventKind.METRIC].count == 50
    assert reopened.append(batch(25, 50)) == AppendResult(accepted=25, duplicates=25)
    reopened.close()


def test_text_columns__scanned_as_text_without_a_type_sample(tmp_path: Path) -> None:
    """Appends stage text as numpy object arrays; the writer's connection does not sample
    them to guess a type (a fixed cost per statement, ~10% of an exposure write), and text
    that looks like a number, a null or JSON is stored exactly as sent."""
    store = DuckDBEventStore(tmp_path / "events.duckdb")
    store.ensure_schema()
    (setting,) = store.connection.execute(
        "SELECT current_setting('pandas_analyze_sample')"
    ).fetchall()[0]
    assert setting == 0
    units = ["0012", "1e5", "null", "é ✓", '{"a":1}', "true"]
    columns: list[list[RowValue]] = [
        [f"x{i}" for i in range(len(units))],
        ["exp"] * len(units),
        ["control"] * len(units),
        list(units),
        list(range(len(units))),
        ["{}"] * len(units),
    ]
    result = store.append(RowBatch("org", "prj", EventColumns({EventKind.EXPOSURE: columns})))
    assert (result.accepted, result.duplicates) == (len(units), 0)
    stored = store.query("SELECT unit_id, typeof(unit_id) FROM ev_exposure ORDER BY ts_us")
    assert stored == [(u, "VARCHAR") for u in units]
    store.close()
