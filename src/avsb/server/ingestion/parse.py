"""Events batches checked by hand: orjson-decoded JSON in, typed events and rejections out.

This is the ingestion hot path (up to 10,000 events a request), so every event is checked
field by field with plain type tests, not through a pydantic model per event. An event that
fails a check is rejected with its index, a code and a message; the others go on. Nothing
here does I/O: which experiments and variants exist comes in through ``ExperimentLookup``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from avsb.server.events import EventKind
from avsb.server.events.types import (
    EXPERIMENT_KINDS,
    EventColumns,
    EventRows,
    RowValue,
    json_text,
)

MAX_EVENTS = 10_000
MAX_SDK_EXPOSURES = 1_000
"""Items of one `POST /api/sdk/exposures` request (an SDK key's exposures)."""
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_ATTRIBUTES = 50
MAX_PROPERTIES = 100
MAX_UNIT = 256
MAX_EVENT_ID = 200
MAX_NAME = 200
MAX_KEY = 100
_TEXT = 1000
_EVENT_NAME = re.compile(r"[^\x00-\x1f]{1,200}")
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_TIME_HINT = "an RFC 3339 date-time with an offset, such as 2026-11-22T10:00:00Z"
_SCALARS = (str, int, float, bool, type(None))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FIELDS: Mapping[EventKind, frozenset[str]] = {
    EventKind.EXPOSURE: frozenset(
        {"experiment", "variant", "unit_id", "timestamp", "attributes", "event_id"}
    ),
    EventKind.METRIC: frozenset(
        {"event_name", "unit_id", "value", "timestamp", "properties", "event_id"}
    ),
    EventKind.IDENTIFY: frozenset({"anonymous_id", "canonical_id", "timestamp", "event_id"}),
    EventKind.EXCLUSION: frozenset({"unit_id", "reason", "timestamp", "event_id"}),
    EventKind.COVARIATE: frozenset({"experiment", "unit_id", "value", "event_id"}),
    EventKind.STRATUM: frozenset({"experiment", "unit_id", "stratum", "event_id"}),
    EventKind.HOLDOUT: frozenset({"experiment", "unit_id", "timestamp", "event_id"}),
}
_KINDS: Mapping[str, EventKind] = {k.value: k for k in EventKind}
Group = tuple[str, str]
"""(experiment key, kind): the experiment is "" for project-wide kinds and unknown ones."""


class ExperimentLookup(Protocol):
    def variants(self, key: str) -> frozenset[str] | None:
        """The variant keys of the project's experiment ``key``; None if there is none."""
        ...


@dataclass(frozen=True, slots=True)
class Target:
    """Per-experiment routes imply the kind and the experiment; the batch route neither.

    `typed`: events may still say their `type`, which must then be the route's kind (the SDK
    exposures route takes the batch route's exposure items as they are, and nothing else).
    """

    kind: EventKind | None = None
    experiment: str | None = None
    typed: bool = False


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    code: str
    message: str


Row = tuple[RowValue, ...]


@dataclass(slots=True)
class Intake:
    """The valid events as ``EventRows`` rows, or as ``EventColumns`` columns from the typed
    path (in batch order within a kind), the rejections, and tallies for the counters."""

    rows: dict[EventKind, list[Row]] = field(default_factory=dict)
    columns: dict[EventKind, list[list[RowValue]]] = field(default_factory=dict)
    rejected: list[Rejection] = field(default_factory=list)
    rejected_groups: Counter[Group] = field(default_factory=Counter)
    attribute_keys: dict[str, set[str]] = field(default_factory=dict)

    def events(self) -> EventRows | EventColumns:
        """What the store appends."""
        return EventColumns(self.columns) if self.columns else EventRows(self.rows)

    def received(self) -> Counter[Group]:
        """Valid events per group (experiment kinds carry their experiment in column 1)."""
        counts: Counter[Group] = Counter()
        for kind in self.rows.keys() | self.columns.keys():
            columns = self.columns.get(kind)
            if kind not in EXPERIMENT_KINDS:
                counts[("", kind.value)] += len(columns[0]) if columns else len(self.rows[kind])
                continue
            experiments = columns[1] if columns else [row[1] for row in self.rows[kind]]
            for experiment, n in Counter(experiments).items():
                counts[(str(experiment), kind.value)] += n
        return counts


class Rejected(Exception):  # noqa: N818 - a verdict on one event, not an error of the server
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _problem(doc: Mapping[str, object], name: str, expected: str) -> Rejected:
    if doc.get(name) is None:
        return Rejected("missing_field", f"'{name}' is required: {expected}.")
    return Rejected("invalid_field", f"'{name}' must be {expected}.")


def _text(doc: Mapping[str, object], name: str, limit: int) -> str:
    value = doc.get(name)
    if type(value) is str and 0 < len(value) <= limit:
        return value
    raise _problem(doc, name, f"a non-empty string of at most {limit} characters")


def _optional_id(doc: Mapping[str, object]) -> str | None:
    value = doc.get("event_id")
    if value is None or (type(value) is str and 0 < len(value) <= MAX_EVENT_ID):
        return value
    raise _problem(doc, "event_id", f"a non-empty string of at most {MAX_EVENT_ID} characters")


def _number(doc: Mapping[str, object], name: str) -> float:
    value = doc.get(name)
    if (type(value) is float and math.isfinite(value)) or type(value) is int:
        return float(value)
    raise _problem(doc, name, "a finite number")


def _object(doc: Mapping[str, object], name: str, limit: int) -> dict[str, object]:
    value = doc.get(name)
    if value is None:
        return {}
    if type(value) is dict and len(value) <= limit:
        return value
    raise Rejected("invalid_field", f"'{name}' must be a JSON object of at most {limit} keys.")


def _attributes(doc: Mapping[str, object]) -> dict[str, object]:
    attributes = _object(doc, "attributes", MAX_ATTRIBUTES)
    for key, value in attributes.items():
        if not _ATTRIBUTE_KEY.fullmatch(key) or not isinstance(value, _SCALARS):
            raise Rejected(
                "invalid_field",
                "'attributes' keys must be 1-128 letters, digits, '_' or '-', with string, "
                f"number, boolean or null values (see {key[:40]!r}).",
            )
    return attributes


def _json(value: dict[str, object]) -> str:
    return json_text(value) if value else "{}"


class Reader:
    """Turns one event document into its table row, or raises Rejected."""

    def __init__(self, lookup: ExperimentLookup, target: Target, latest: datetime) -> None:
        self._lookup = lookup
        self._target = target
        self._latest = latest  # timestamps after this are refused (clock skew)
        self._parsers: Mapping[EventKind, Callable[[Mapping[str, object]], Row]] = {
            EventKind.EXPOSURE: self._exposure,
            EventKind.METRIC: self._metric,
            EventKind.IDENTIFY: self._identify,
            EventKind.EXCLUSION: self._exclusion,
            EventKind.COVARIATE: self._covariate,
            EventKind.STRATUM: self._stratum,
            EventKind.HOLDOUT: self._holdout,
        }
        # Batch route: "type" names the kind; per-experiment routes: the path does, and the
        # experiment too.
        self._allowed = {
            kind: fields | {"type"}
            if target.kind is None or target.typed
            else fields - ({"experiment"} if target.experiment else set())
            for kind, fields in _FIELDS.items()
        }

    def kind_of(self, doc: Mapping[str, object]) -> EventKind:
        if self._target.kind is not None:
            value = doc.get("type", self._target.kind.value) if self._target.typed else None
            if value is not None and value != self._target.kind.value:
                only = self._target.kind.value
                raise Rejected(
                    f"{only}s_only",
                    f"This route takes {only} events only; 'type' must be {only!r}.",
                )
            return self._target.kind
        value = doc.get("type")
        kind = _KINDS.get(value) if type(value) is str else None
        if kind is None:
            kinds = ", ".join(k.value for k in EventKind)
            raise Rejected("invalid_type", f"'type' must be one of: {kinds}.")
        return kind

    def read(self, kind: EventKind, doc: Mapping[str, object]) -> Row:
        allowed = self._allowed[kind]
        if not allowed.issuperset(doc):
            names = ", ".join(sorted(repr(name[:40]) for name in doc.keys() - allowed)[:5])
            raise Rejected("unknown_field", f"Unknown field(s) for a {kind.value} event: {names}.")
        return self._parsers[kind](doc)

    def _timestamp(self, doc: Mapping[str, object]) -> int:
        """The event time in microseconds since the epoch."""
        value = doc.get("timestamp")
        if type(value) is str and len(value) >= 20 and value[10] in "Tt":
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is not None and parsed.tzinfo is not None:
                if parsed > self._latest:
                    raise Rejected(
                        "timestamp_in_future", f"'timestamp' {value} is more than a day ahead."
                    )
                return (parsed - _EPOCH) // _MICROSECOND
        raise _problem(doc, "timestamp", _TIME_HINT)

    def experiment(self, doc: Mapping[str, object]) -> tuple[str, frozenset[str]]:
        """The experiment key an event belongs to, and that experiment's variant keys."""
        key = self._target.experiment or _text(doc, "experiment", MAX_KEY)
        variants = self._lookup.variants(key)
        if variants is None:
            raise Rejected("unknown_experiment", f"No experiment {key!r} in this project.")
        return key, variants

    def _exposure(self, doc: Mapping[str, object]) -> Row:
        experiment, variants = self.experiment(doc)
        variant = _text(doc, "variant", MAX_KEY)
        if variant not in variants:
            raise Rejected(
                "unknown_variant", f"Experiment {experiment!r} has no variant {variant!r}."
            )
        unit, ts = _text(doc, "unit_id", MAX_UNIT), self._timestamp(doc)
        attributes = _json(_attributes(doc))
        return (_optional_id(doc), experiment, variant, unit, ts, attributes)

    def _metric(self, doc: Mapping[str, object]) -> Row:
        """The commonest kind, so a well-formed event is checked in one expression; any
        doubt goes to the field-by-field path, which names the problem."""
        name, unit = doc.get("event_name"), doc.get("unit_id")
        value, properties = doc.get("value"), doc.get("properties")
        if (
            type(name) is str
            and 0 < len(name) <= MAX_NAME
            and name.isprintable()
            and type(unit) is str
            and 0 < len(unit) <= MAX_UNIT
            and (
                value is None
                or type(value) is int
                or (type(value) is float and math.isfinite(value))
            )
            and (
                properties is None
                or (type(properties) is dict and len(properties) <= MAX_PROPERTIES)
            )
        ):
            number = None if value is None else float(value)
            json = _json(properties) if properties else "{}"
            return (_optional_id(doc), name, unit, number, self._timestamp(doc), json)
        return self._metric_checked(doc)

    def _metric_checked(self, doc: Mapping[str, object]) -> Row:
        name = _text(doc, "event_name", MAX_NAME)
        if not name.isprintable() and not _EVENT_NAME.fullmatch(name):  # the cheap test first
            raise Rejected("invalid_field", "'event_name' may not contain control characters.")
        unit, ts = _text(doc, "unit_id", MAX_UNIT), self._timestamp(doc)
        value = None if doc.get("value") is None else _number(doc, "value")
        properties = _json(_object(doc, "properties", MAX_PROPERTIES))
        return (_optional_id(doc), name, unit, value, ts, properties)

    def _identify(self, doc: Mapping[str, object]) -> Row:
        anonymous, canonical = (
            _text(doc, "anonymous_id", MAX_UNIT),
            _text(doc, "canonical_id", MAX_UNIT),
        )
        return (_optional_id(doc), anonymous, canonical, self._timestamp(doc))

    def _exclusion(self, doc: Mapping[str, object]) -> Row:
        reason = "manual" if doc.get("reason") is None else _text(doc, "reason", _TEXT)
        unit, ts = _text(doc, "unit_id", MAX_UNIT), self._timestamp(doc)
        return (_optional_id(doc), unit, reason, ts)

    def _covariate(self, doc: Mapping[str, object]) -> Row:
        experiment = self.experiment(doc)[0]
        unit, value = _text(doc, "unit_id", MAX_UNIT), _number(doc, "value")
        return (_optional_id(doc), experiment, unit, value)

    def _stratum(self, doc: Mapping[str, object]) -> Row:
        experiment = self.experiment(doc)[0]
        unit, stratum = _text(doc, "unit_id", MAX_UNIT), _text(doc, "stratum", _TEXT)
        return (_optional_id(doc), experiment, unit, stratum)

    def _holdout(self, doc: Mapping[str, object]) -> Row:
        experiment = self.experiment(doc)[0]
        unit, ts = _text(doc, "unit_id", MAX_UNIT), self._timestamp(doc)
        return (_optional_id(doc), experiment, unit, ts)


def _rejected_group(reader: Reader, doc: object) -> Group:
    """Where a rejection is counted: its experiment only when that experiment exists."""
    if type(doc) is not dict:
        return ("", "unknown")
    try:
        kind = reader.kind_of(doc)
        experiment = reader.experiment(doc)[0] if kind in EXPERIMENT_KINDS else ""
    except Rejected:
        return ("", "unknown")
    return (experiment, kind.value)


def parse_events(docs: list[object], reader: Reader) -> Intake:
    """Every event of a batch, checked: valid ones kept in order, the rest rejected."""
    intake = Intake()
    rows = intake.rows
    for index, doc in enumerate(docs):
        try:
            if type(doc) is not dict:
                raise Rejected("invalid_event", "An event must be a JSON object.")
            kind = reader.kind_of(doc)
            row = reader.read(kind, doc)
        except Rejected as rejected:
            intake.rejected.append(Rejection(index, rejected.code, rejected.message))
            intake.rejected_groups[_rejected_group(reader, doc)] += 1
            continue
        rows.setdefault(kind, []).append(row)
        if kind is EventKind.EXPOSURE and row[5] != "{}":
            attributes = doc["attributes"]
            intake.attribute_keys.setdefault(str(row[1]), set()).update(attributes)
    return intake
