"""The event tables (one per kind, prefix ``ev_``) and the mapping of events to rows.

Every table starts with ``org_id, project_id, event_id, ingest_seq``: ``event_id`` is the
client's id or a content hash (the dedupe key, unique per org and project), and
``ingest_seq`` is a store-assigned, increasing number (microseconds since the epoch at
ingestion, bumped to stay unique) that decides "first write wins". Event times are stored
as ``ts_us``, microseconds since the Unix epoch (UTC): integer arithmetic is identical in
every engine, so the analysis SQL needs no dialect-specific interval or timezone logic.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from avsb.server.events.types import (
    CovariateEvent,
    Event,
    EventBatch,
    EventKind,
    EventRows,
    ExclusionEvent,
    ExposureEvent,
    HoldoutEvent,
    IdentifyEvent,
    MetricEvent,
    RowBatch,
    StratumEvent,
    content_digest,
    content_event_id,
    json_text,
    to_epoch_us,
)

Row = tuple[str | float | int | None, ...]


class ColumnType(StrEnum):
    TEXT = "text"
    FLOAT = "float"
    FLOAT_NULL = "float_null"
    INT = "int"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType


@dataclass(frozen=True, slots=True)
class Table:
    kind: EventKind
    name: str
    columns: tuple[Column, ...]
    # ClickHouse sorting key (must end with event_id: it is also the dedupe key there).
    sort_key: tuple[str, ...]

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


_T, _F, _FN, _I = ColumnType.TEXT, ColumnType.FLOAT, ColumnType.FLOAT_NULL, ColumnType.INT
_COMMON = (
    Column("org_id", _T),
    Column("project_id", _T),
    Column("event_id", _T),
    Column("ingest_seq", _I),
)


def _table(kind: EventKind, columns: Sequence[tuple[str, ColumnType]], key: Sequence[str]) -> Table:
    cols = _COMMON + tuple(Column(n, t) for n, t in columns)
    return Table(kind, f"ev_{kind.value}", cols, ("org_id", "project_id", *key, "event_id"))


TABLES: Mapping[EventKind, Table] = {
    t.kind: t
    for t in (
        _table(
            EventKind.EXPOSURE,
            [
                ("experiment", _T),
                ("variant", _T),
                ("unit_id", _T),
                ("ts_us", _I),
                ("attributes", _T),
            ],
            ["experiment", "unit_id"],
        ),
        _table(
            EventKind.METRIC,
            [
                ("event_name", _T),
                ("unit_id", _T),
                ("value", _FN),
                ("ts_us", _I),
                ("properties", _T),
            ],
            ["event_name", "unit_id"],
        ),
        _table(
            EventKind.IDENTIFY,
            [("anonymous_id", _T), ("canonical_id", _T), ("ts_us", _I)],
            ["anonymous_id"],
        ),
        _table(EventKind.EXCLUSION, [("unit_id", _T), ("reason", _T), ("ts_us", _I)], ["unit_id"]),
        _table(
            EventKind.COVARIATE,
            [("experiment", _T), ("unit_id", _T), ("value", _F)],
            ["experiment", "unit_id"],
        ),
        _table(
            EventKind.STRATUM,
            [("experiment", _T), ("unit_id", _T), ("stratum", _T)],
            ["experiment", "unit_id"],
        ),
        _table(
            EventKind.HOLDOUT,
            [("experiment", _T), ("unit_id", _T), ("ts_us", _I)],
            ["experiment", "unit_id"],
        ),
    )
}


def _payload(event: Event) -> Row:
    """The kind-specific columns of an event, in table order."""
    match event:
        case ExposureEvent():
            return (
                event.experiment,
                event.variant,
                event.unit_id,
                to_epoch_us(event.timestamp),
                json_text(event.attributes),
            )
        case MetricEvent():
            value = None if event.value is None else float(event.value)
            ts = to_epoch_us(event.timestamp)
            return (event.event_name, event.unit_id, value, ts, json_text(event.properties))
        case IdentifyEvent():
            ts = to_epoch_us(event.timestamp)
            return (event.anonymous_id, event.canonical_id, ts)
        case ExclusionEvent():
            return (event.unit_id, event.reason, to_epoch_us(event.timestamp))
        case CovariateEvent():
            return (event.experiment, event.unit_id, float(event.value))
        case StratumEvent():
            return (event.experiment, event.unit_id, event.stratum)
        case HoldoutEvent():
            return (event.experiment, event.unit_id, to_epoch_us(event.timestamp))


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """Rows per kind, deduplicated within the batch (first occurrence kept)."""

    rows: Mapping[EventKind, list[Row]]
    in_batch_duplicates: int


def prepare_batch(batch: EventBatch | RowBatch, first_seq: int) -> PreparedBatch:
    """Rows for every event of a batch; ingest_seq counts up from first_seq in batch order."""
    if isinstance(batch, RowBatch):
        events = batch.events if isinstance(batch.events, EventRows) else batch.events.rows()
        return _prepare_rows(batch.org_id, batch.project_id, events, first_seq)
    rows: dict[EventKind, list[Row]] = {}
    seen: set[tuple[EventKind, str]] = set()
    duplicates = 0
    for offset, event in enumerate(batch.events):
        event_id = event.event_id if event.event_id is not None else content_event_id(event)
        if (event.kind, event_id) in seen:
            duplicates += 1
            continue
        seen.add((event.kind, event_id))
        common: Row = (batch.org_id, batch.project_id, event_id, first_seq + offset)
        rows.setdefault(event.kind, []).append(common + _payload(event))
    return PreparedBatch(rows, duplicates)


# The event field each payload column comes from (for content ids of rows without one).
FIELD_NAMES: Mapping[EventKind, tuple[str, ...]] = {
    kind: tuple("timestamp" if c.name == "ts_us" else c.name for c in table.columns[4:])
    for kind, table in TABLES.items()
}


def _prepare_rows(org_id: str, project_id: str, events: EventRows, first_seq: int) -> PreparedBatch:
    """prepare_batch for rows already laid out: ids resolved, in-batch repeats dropped;
    ingest_seq counts up kind by kind, in order within a kind."""
    rows: dict[EventKind, list[Row]] = {}
    duplicates, seq = 0, first_seq
    for kind, kind_rows in events.by_kind.items():
        names, seen, out = FIELD_NAMES[kind], set(), []
        for row in kind_rows:
            payload = row[1:]
            event_id = row[0]
            if event_id is None:
                event_id = content_digest(kind, dict(zip(names, payload, strict=True)))
            if event_id in seen:
                duplicates += 1
                continue
            seen.add(event_id)
            out.append((org_id, project_id, event_id, seq, *payload))
            seq += 1
        if out:
            rows[kind] = out
    return PreparedBatch(rows, duplicates)


class SequenceClock:
    """Hands out increasing ingest_seq ranges: microseconds now, never going backwards."""

    def __init__(self) -> None:
        self._last = 0
        self._lock = threading.Lock()

    def reserve(self, count: int) -> int:
        with self._lock:
            first = max(time.time_ns() // 1000, self._last + 1)
            self._last = first + max(count, 1) - 1
            return first

    def observe(self, seq: int) -> None:
        """Never hand out a value at or below one already stored (clock stepped back)."""
        with self._lock:
            self._last = max(self._last, seq)
