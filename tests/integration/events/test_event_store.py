from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from avsb.server.events import (
    AppendResult,
    CovariateEvent,
    Event,
    EventBatch,
    EventKind,
    EventStore,
    ExclusionEvent,
    ExposureEvent,
    HoldoutEvent,
    IdentifyEvent,
    MetricEvent,
    RowBatch,
    StratumEvent,
    open_event_store,
)
from avsb.server.events.schema import prepare_batch
from avsb.server.events.types import EventColumns

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


def _batch(events: list[Event], project: str = "prj_1") -> EventBatch:
    return EventBatch("org_1", project, events)


def _every_kind() -> list[Event]:
    return [
        ExposureEvent(experiment="exp", variant="a", unit_id="u1", timestamp=T0, event_id="x1"),
        MetricEvent(event_name="buy", unit_id="u1", timestamp=T0, value=2.5, event_id="m1"),
        MetricEvent(event_name="buy", unit_id="u1", timestamp=T0 + timedelta(hours=2)),
        IdentifyEvent(anonymous_id="a1", canonical_id="u1", timestamp=T0),
        ExclusionEvent(unit_id="u9", reason="bot", timestamp=T0),
        CovariateEvent(experiment="exp", unit_id="u1", value=3.0),
        StratumEvent(experiment="exp", unit_id="u1", stratum="mobile"),
        HoldoutEvent(experiment="exp", unit_id="h1", timestamp=T0 - timedelta(hours=1)),
    ]


class TestAppend:
    def test_append__new_batch__all_accepted(self, store: EventStore) -> None:
        assert store.append(_batch(_every_kind())) == AppendResult(accepted=8, duplicates=0)

    def test_append__same_batch_twice__second_all_duplicates(self, store: EventStore) -> None:
        store.append(_batch(_every_kind()))

        again = store.append(_batch(_every_kind()))

        assert again == AppendResult(accepted=0, duplicates=8)
        assert store.summary("org_1", "prj_1", "exp").kinds[EventKind.METRIC].count == 2

    def test_append__overlapping_retry__only_new_rows_accepted(self, store: EventStore) -> None:
        events = _every_kind()
        store.append(_batch(events[:5]))

        result = store.append(_batch(events[3:]))

        assert result == AppendResult(accepted=3, duplicates=2)

    def test_append__duplicate_inside_batch__counted_once(self, store: EventStore) -> None:
        event = MetricEvent(event_name="buy", unit_id="u1", timestamp=T0, event_id="same")
        other = MetricEvent(event_name="buy", unit_id="u2", timestamp=T0, event_id="same")

        assert store.append(_batch([event, other])) == AppendResult(accepted=1, duplicates=1)
        rows = store.query("SELECT unit_id FROM ev_metric")
        assert rows == [("u1",)]

    def test_append__no_event_id__content_hash_dedupes(self, store: EventStore) -> None:
        event = MetricEvent(event_name="buy", unit_id="u1", timestamp=T0, value=1.0)
        changed = MetricEvent(event_name="buy", unit_id="u1", timestamp=T0, value=2.0)
        store.append(_batch([event]))

        assert store.append(_batch([event, changed])) == AppendResult(1, 1)

    def test_append__same_id_other_project__both_kept(self, store: EventStore) -> None:
        event = MetricEvent(event_name="buy", unit_id="u1", timestamp=T0, event_id="e1")

        store.append(_batch([event], project="prj_1"))
        second = store.append(_batch([event], project="prj_2"))

        assert second == AppendResult(accepted=1, duplicates=0)

    def test_append__values_round_trip(self, store: EventStore) -> None:
        store.append(_batch(_every_kind()))

        rows = store.query(
            "SELECT event_id, value, ts_us, properties FROM ev_metric ORDER BY ts_us"
        )

        micros = int(T0.timestamp()) * 1_000_000
        assert rows[0] == ("m1", 2.5, micros, "{}")
        assert rows[1][1:3] == (None, micros + 2 * 3_600_000_000)
        assert str(rows[1][0]).startswith("h:")

    def test_append__columns__same_rows_as_events(self, store: EventStore) -> None:
        # Rows as the typed ingestion path hands them over: transposed, ids or None.
        rows = prepare_batch(_batch(_every_kind()), 0).rows
        columns = {
            kind: [list(c) for c in zip(*[(r[2], *r[4:]) for r in kind_rows], strict=True)]
            for kind, kind_rows in rows.items()
        }
        columns[EventKind.METRIC][0][1] = None  # no id: the content id, as for the event
        columns[EventKind.METRIC] = [c + c[-1:] for c in columns[EventKind.METRIC]]  # a repeat

        result = store.append(RowBatch("org_1", "prj_1", EventColumns(columns)))

        assert result == AppendResult(accepted=8, duplicates=1)
        assert store.append(_batch(_every_kind())) == AppendResult(accepted=0, duplicates=8)

    def test_append__ingest_seq__increases_in_batch_order(self, store: EventStore) -> None:
        store.append(_batch(_every_kind()[:2]))
        store.append(_batch(_every_kind()[2:3]))

        rows = store.query("SELECT event_id, ingest_seq FROM ev_metric ORDER BY ingest_seq")

        assert rows[0][0] == "m1"
        assert len({r[1] for r in rows}) == 2


class TestSummary:
    def test_summary__counts_and_last_times_per_kind(self, store: EventStore) -> None:
        store.append(_batch(_every_kind()))

        summary = store.summary("org_1", "prj_1", "exp")

        counts = {kind: s.count for kind, s in summary.kinds.items()}
        assert counts == dict.fromkeys(EventKind, 1) | {EventKind.METRIC: 2}
        assert summary.kinds[EventKind.METRIC].last_event_at == T0 + timedelta(hours=2)
        assert summary.kinds[EventKind.COVARIATE].last_event_at is None
        assert summary.kinds[EventKind.COVARIATE].last_ingested_at is not None
        assert summary.last_event_at == T0 + timedelta(hours=2)

    def test_summary__other_experiment__project_kinds_only(self, store: EventStore) -> None:
        store.append(_batch(_every_kind()))

        summary = store.summary("org_1", "prj_1", "another")

        assert summary.kinds[EventKind.EXPOSURE].count == 0
        assert summary.kinds[EventKind.EXPOSURE].last_event_at is None
        assert summary.kinds[EventKind.IDENTIFY].count == 1


class TestDurability:
    def test_duckdb__reopened__rows_and_dedupe_kept(self, tmp_path: Path) -> None:
        path = str(tmp_path / "events.duckdb")
        first = open_event_store(path)
        first.ensure_schema()
        first.append(_batch(_every_kind()))
        first.close()

        second = open_event_store(path)
        second.ensure_schema()
        try:
            assert second.append(_batch(_every_kind())) == AppendResult(0, 8)
        finally:
            second.close()

    def test_chdb__reopened__rows_kept(self, tmp_path: Path) -> None:
        url = f"chdb://{tmp_path / 'ch'}"
        first = open_event_store(url)
        first.ensure_schema()
        first.append(_batch(_every_kind()))
        first.close()

        second = open_event_store(url)
        second.ensure_schema()
        try:
            assert second.append(_batch(_every_kind())) == AppendResult(0, 8)
            assert second.query("SELECT count() FROM ev_metric") == [(2,)]
        finally:
            second.close()


@pytest.mark.parametrize("url", ["events.duckdb", "chdb://ch"])
def test_open_event_store__url__dialect(tmp_path: Path, url: str) -> None:
    full = f"chdb://{tmp_path / 'ch'}" if url.startswith("chdb") else str(tmp_path / url)
    opened = open_event_store(full)
    try:
        assert opened.dialect == ("clickhouse" if url.startswith("chdb") else "duckdb")
    finally:
        opened.close()
