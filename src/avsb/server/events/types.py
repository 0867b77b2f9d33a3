"""Event value types: one frozen dataclass per ingestion kind, a batch, and the answers."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import ClassVar

import orjson

JsonObject = Mapping[str, object]


class EventKind(StrEnum):
    EXPOSURE = "exposure"
    METRIC = "metric"
    IDENTIFY = "identify"
    EXCLUSION = "exclusion"
    COVARIATE = "covariate"
    STRATUM = "stratum"
    HOLDOUT = "holdout"


# Kinds whose rows belong to one experiment (the rest are project-wide).
EXPERIMENT_KINDS = frozenset(
    {EventKind.EXPOSURE, EventKind.COVARIATE, EventKind.STRATUM, EventKind.HOLDOUT}
)
# Kinds with an event time (covariates and strata are timeless facts about a unit).
TIMED_KINDS = frozenset(
    {
        EventKind.EXPOSURE,
        EventKind.METRIC,
        EventKind.IDENTIFY,
        EventKind.EXCLUSION,
        EventKind.HOLDOUT,
    }
)
HOLDOUT_VARIANT = "__holdout__"


@dataclass(frozen=True, slots=True, kw_only=True)
class ExposureEvent:
    kind: ClassVar[EventKind] = EventKind.EXPOSURE
    experiment: str
    variant: str
    unit_id: str
    timestamp: datetime
    attributes: JsonObject = field(default_factory=dict)
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricEvent:
    kind: ClassVar[EventKind] = EventKind.METRIC
    event_name: str
    unit_id: str
    timestamp: datetime
    value: float | None = None
    properties: JsonObject = field(default_factory=dict)
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentifyEvent:
    kind: ClassVar[EventKind] = EventKind.IDENTIFY
    anonymous_id: str
    canonical_id: str
    timestamp: datetime
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ExclusionEvent:
    kind: ClassVar[EventKind] = EventKind.EXCLUSION
    unit_id: str
    reason: str
    timestamp: datetime
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CovariateEvent:
    kind: ClassVar[EventKind] = EventKind.COVARIATE
    experiment: str
    unit_id: str
    value: float
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StratumEvent:
    kind: ClassVar[EventKind] = EventKind.STRATUM
    experiment: str
    unit_id: str
    stratum: str
    event_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HoldoutEvent:
    kind: ClassVar[EventKind] = EventKind.HOLDOUT
    experiment: str
    unit_id: str
    timestamp: datetime
    event_id: str | None = None


Event = (
    ExposureEvent
    | MetricEvent
    | IdentifyEvent
    | ExclusionEvent
    | CovariateEvent
    | StratumEvent
    | HoldoutEvent
)


RowValue = str | float | int | None


@dataclass(frozen=True, slots=True)
class EventRows:
    """Events already checked and laid out as table rows: the ingestion fast path, which
    skips building an object per event.

    Per kind, tuples of ``(event_id or None, *columns)``: the kind's columns after the common
    four, in ``TABLES`` order, as ``prepare_batch`` would make them (times in epoch
    microseconds, JSON as ``json_text``, values as floats). A row without an id gets the
    content id its event would get.
    """

    by_kind: Mapping[EventKind, Sequence[tuple[RowValue, ...]]]

    def __len__(self) -> int:
        return sum(len(rows) for rows in self.by_kind.values())


@dataclass(frozen=True, slots=True)
class EventColumns:
    """``EventRows`` transposed: per kind, one sequence per column (the event id or None
    first, then the kind's columns), all of one length. The typed ingestion path builds
    these, and the DuckDB store scans them as arrays with no tuple per event."""

    by_kind: Mapping[EventKind, Sequence[Sequence[RowValue]]]

    def __len__(self) -> int:
        return sum(len(columns[0]) for columns in self.by_kind.values())

    def rows(self) -> EventRows:
        return EventRows(
            {kind: list(zip(*columns, strict=True)) for kind, columns in self.by_kind.items()}
        )


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events of one project, appended together (acknowledged only once committed)."""

    org_id: str
    project_id: str
    events: Sequence[Event]


@dataclass(frozen=True, slots=True)
class RowBatch:
    """Like ``EventBatch``, with the events already laid out as rows or columns."""

    org_id: str
    project_id: str
    events: EventRows | EventColumns


@dataclass(frozen=True, slots=True)
class AppendResult:
    accepted: int
    duplicates: int

    def __add__(self, other: AppendResult) -> AppendResult:
        return AppendResult(self.accepted + other.accepted, self.duplicates + other.duplicates)


@dataclass(frozen=True, slots=True)
class KindSummary:
    count: int
    last_event_at: datetime | None
    last_ingested_at: datetime | None


@dataclass(frozen=True, slots=True)
class IngestionSummary:
    """Per-kind counts for an experiment (exposure, covariate, stratum, holdout) and its
    project (metric, identify, exclusion)."""

    kinds: Mapping[EventKind, KindSummary]

    @property
    def last_event_at(self) -> datetime | None:
        times = [k.last_event_at for k in self.kinds.values() if k.last_event_at is not None]
        return max(times, default=None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_us(ts: datetime) -> int:
    """Microseconds since the Unix epoch; a naive datetime is taken as UTC."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    delta = ts - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_epoch_us(us: int) -> datetime:
    """The aware UTC datetime of a microsecond epoch value."""
    seconds, micros = divmod(us, 1_000_000)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


def json_text(obj: JsonObject) -> str:
    """Canonical JSON text (sorted keys) so equal payloads hash and compare equal."""
    return orjson.dumps(obj, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


def content_event_id(event: Event) -> str:
    """A deterministic id for an event sent without one: a hash of its kind and content."""
    payload = {
        f.name: _plain(getattr(event, f.name)) for f in fields(event) if f.name != "event_id"
    }
    return content_digest(event.kind, payload)


def content_digest(kind: EventKind, content: Mapping[str, object]) -> str:
    """``h:`` and 40 hex digits of the SHA-256 of a kind and its field values (by name)."""
    payload = {**content, "kind": str(kind)}
    digest = hashlib.sha256(orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return "h:" + digest[:40]


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        return to_epoch_us(value)
    if isinstance(value, Mapping):
        return json_text(value)
    return value
