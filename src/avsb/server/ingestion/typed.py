"""The well-formed batch in one pass: msgspec decodes the body straight into one struct per
event, checking types, lengths and unknown fields as it goes, and the few checks it cannot
express (timestamps, known experiments and variants, printable names) run over whole columns.

Any doubt, a decode error or one failed check, answers None and the caller takes the
field-by-field path of ``parse``, which names every problem. So this path only ever takes
a batch that path would accept whole, and gives the same rows, as columns; it covers the
two high-volume kinds on the batch route (metric and exposure events).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from avsb.server.events import EventKind
from avsb.server.events.types import RowValue, json_text
from avsb.server.ingestion.parse import (
    MAX_ATTRIBUTES,
    MAX_EVENT_ID,
    MAX_EVENTS,
    MAX_KEY,
    MAX_NAME,
    MAX_PROPERTIES,
    MAX_UNIT,
    ExperimentLookup,
    Intake,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

_Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME)]
_Key = Annotated[str, Meta(min_length=1, max_length=MAX_KEY)]
_Unit = Annotated[str, Meta(min_length=1, max_length=MAX_UNIT)]
_EventId = Annotated[str, Meta(min_length=1, max_length=MAX_EVENT_ID)]
_Time = Annotated[str, Meta(min_length=20)]  # parse._timestamp's shortest
_Properties = Annotated[dict[str, Any], Meta(max_length=MAX_PROPERTIES)]
# parse._ATTRIBUTE_KEY.fullmatch, as a search pattern (\Z: "$" would allow a final newline)
_AttributeKey = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_\-]{1,128}\Z")]
_Attributes = Annotated[
    dict[_AttributeKey, str | int | float | bool | None], Meta(max_length=MAX_ATTRIBUTES)
]


class _Metric(msgspec.Struct, tag_field="type", tag="metric", forbid_unknown_fields=True, gc=False):
    event_name: _Name
    unit_id: _Unit
    timestamp: _Time
    value: float | None = None  # a JSON integer decodes as its float, as float(value) does
    properties: _Properties | None = None
    event_id: _EventId | None = None


class _Exposure(
    msgspec.Struct, tag_field="type", tag="exposure", forbid_unknown_fields=True, gc=False
):
    experiment: _Key
    variant: _Key
    unit_id: _Unit
    timestamp: _Time
    attributes: _Attributes | None = None
    event_id: _EventId | None = None


class _Batch(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    events: Annotated[list[_Metric | _Exposure], Meta(max_length=MAX_EVENTS)]


_DECODER = msgspec.json.Decoder(_Batch)
Events = list[_Metric | _Exposure]
Column = list[RowValue]


class _Doubt(Exception):  # noqa: N818 - not an error: a hand-over to the checked path
    """A check this path does not explain: the batch goes to the field-by-field path."""


def decode(body: bytes) -> Events | None:
    """The events of a body whose every event is a well-formed metric or exposure event as
    far as types, lengths and fields go; None for any other body."""
    try:
        return _DECODER.decode(body).events
    except (msgspec.MsgspecError, ValueError):  # invalid UTF-8 is a UnicodeDecodeError
        return None


def intake(events: Events, lookup: ExperimentLookup, latest: datetime) -> Intake | None:
    """The decoded events as columns when ``parse_events`` would accept every one of them
    (timestamps up to ``latest``, known experiments and variants); None otherwise."""
    metrics = [e for e in events if type(e) is _Metric]
    exposures = [e for e in events if type(e) is _Exposure] if len(metrics) < len(events) else []
    out = Intake()
    try:
        if metrics:
            out.columns[EventKind.METRIC] = _metric_columns(metrics, latest)
        if exposures:
            out.columns[EventKind.EXPOSURE] = _exposure_columns(exposures, lookup, latest)
    except _Doubt:
        return None
    for event in exposures:
        if event.attributes:
            out.attribute_keys.setdefault(event.experiment, set()).update(event.attributes)
    return out


def _metric_columns(events: list[_Metric], latest: datetime) -> list[Column]:
    names = [e.event_name for e in events]
    if not all(map(str.isprintable, names)):  # parse's regex may still accept the name
        raise _Doubt
    values: Column = [e.value for e in events]
    if math.inf in values or -math.inf in values:  # JSON cannot say infinity; a guard
        raise _Doubt
    return [
        [e.event_id for e in events],
        list[RowValue](names),
        [e.unit_id for e in events],
        values,
        _epoch_us([e.timestamp for e in events], latest),
        _json_texts([e.properties for e in events]),
    ]


def _exposure_columns(
    events: list[_Exposure], lookup: ExperimentLookup, latest: datetime
) -> list[Column]:
    experiments = [e.experiment for e in events]
    variants = {key: lookup.variants(key) for key in set(experiments)}
    for event in events:
        known = variants[event.experiment]
        if known is None or event.variant not in known:
            raise _Doubt
    return [
        [e.event_id for e in events],
        list(experiments),
        [e.variant for e in events],
        [e.unit_id for e in events],
        _epoch_us([e.timestamp for e in events], latest),
        _json_texts([e.attributes for e in events]),
    ]


def _epoch_us(texts: Sequence[str], latest: datetime) -> Column:
    """parse.Reader._timestamp over a column: a "T" at index 10, an offset, not after
    ``latest``; microseconds since the epoch."""
    if not all(text[10] in "Tt" for text in texts):
        raise _Doubt
    try:
        parsed = list(map(datetime.fromisoformat, texts))
    except ValueError:
        raise _Doubt from None
    if any(p.tzinfo is None for p in parsed) or max(parsed) > latest:
        raise _Doubt
    return [(p - _EPOCH) // _MICROSECOND for p in parsed]


def _json_texts(objects: Sequence[dict[str, Any] | None]) -> Column:
    """parse._json per object; an integer orjson would have read as a float (past 64 bits)
    is a doubt, as orjson cannot write it back."""
    try:
        return [json_text(o) if o else "{}" for o in objects]
    except TypeError:  # orjson.JSONEncodeError
        raise _Doubt from None
