"""DuckDB appends commit in groups: concurrent batches share a transaction, and each still
gets its exact accepted and duplicate counts (retries and repeats inside a group too)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from avsb.server.events import AppendResult, Event, EventBatch, EventKind, MetricEvent
from avsb.server.events.duckdb_store import DuckDBEventStore

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
