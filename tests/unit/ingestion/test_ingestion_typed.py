"""The typed one-pass read takes only batches the checked read accepts whole, and gives the
same rows (as columns), keys and tallies; anything else it hands back (None)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from avsb.server.events import EventKind
from avsb.server.events.types import EventColumns
from avsb.server.ingestion import typed
from avsb.server.ingestion.parse import Intake, Reader, Target, parse_events
from avsb.server.ingestion.service import decode

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
LATEST = NOW + timedelta(days=1)
T0 = "2026-03-01T10:00:00.5Z"


class Lookup:
    def variants(self, key: str) -> frozenset[str] | None:
        return frozenset({"control", "treatment"}) if key == "exp" else None


def metric(**overrides: Any) -> dict[str, Any]:
    return {"type": "metric", "event_name": "buy", "unit_id": "u1", "value": 2,
            "timestamp": T0, "properties": {"sku": "s", "n": 1.5}, "event_id": "m1",
            **overrides}  # fmt: skip


def exposure(**overrides: Any) -> dict[str, Any]:
    return {"type": "exposure", "experiment": "exp", "variant": "control", "unit_id": "u1",
            "timestamp": T0, "attributes": {"b": 1, "a": "x"}, "event_id": "x1",
            **overrides}  # fmt: skip


def body(*events: Any) -> bytes:
    return json.dumps({"events": list(events)}).encode()  # orjson cannot write 2**65


def read_typed(raw: bytes) -> Intake | None:
    events = typed.decode(raw)
    return None if events is None else typed.intake(events, Lookup(), LATEST)


def read_checked(raw: bytes) -> Intake:
    return parse_events(decode(raw), Reader(Lookup(), Target(), LATEST))


def assert_same(fast: Intake, checked: Intake) -> None:
    assert checked.rejected == []
    columns = fast.events()
    assert isinstance(columns, EventColumns)
    assert columns.rows().by_kind == checked.rows
    assert fast.attribute_keys == checked.attribute_keys
    assert fast.received() == checked.received()


class TestSameAsChecked:
    def test_metrics_and_exposures__same_rows_keys_and_tallies(self) -> None:
        raw = body(metric(), exposure(), metric(event_id=None, value=None, properties=None),
                   exposure(attributes=None, event_id=None, variant="treatment"),
                   metric(value=-0.0, properties={}), metric(timestamp="2026-03-01t10:00:00+02:00"),
                   exposure(attributes={"k": None, "t": True, "f": 1e-300}))  # fmt: skip

        fast = read_typed(raw)

        assert fast is not None
        assert fast.rows == {}
        assert set(fast.columns) == {EventKind.METRIC, EventKind.EXPOSURE}
        assert_same(fast, read_checked(raw))

    def test_unicode_lengths__counted_in_characters_as_checked(self) -> None:
        raw = body(metric(event_name="é" * 200, unit_id="😀" * 256, event_id="ß" * 200))
        fast = read_typed(raw)
        assert fast is not None
        assert_same(fast, read_checked(raw))


@pytest.mark.parametrize(
    "raw",
    [
        body(metric(), {"type": "identify", "anonymous_id": "a", "canonical_id": "b",
                        "timestamp": T0}),
        body(metric(timestamp="2026-03-01 10:00:00Z")),
        body(metric(timestamp="2026-03-01T10:00:00")),
        body(metric(timestamp="2026-03-05T10:00:00Z")),
        body(metric(timestamp="2026-02-30T10:00:00Z")),
        body(metric(event_name="a\x00b")),
        body(metric(event_name="a\u00a0b")),  # not printable, yet the checked read accepts it
        body(metric(value=True)),
        body(metric(value="1")),
        body(metric(unit_id="")),
        body(metric(unit_id="u" * 257)),
        body(metric(event_id="")),
        body(metric(properties=[])),
        body(metric(properties={str(i): i for i in range(101)})),
        body(metric(x=1)),
        body({k: v for k, v in metric().items() if k != "type"}),
        body(exposure(experiment="other")),
        body(exposure(variant="nope")),
        body(exposure(attributes={"a b": 1})),
        body(exposure(attributes={"a\n": 1})),
        body(exposure(attributes={"a": [1]})),
        body(exposure(attributes={str(i): i for i in range(51)})),
        b'{"events": [{"type": "metric", "event_name": "b", "unit_id": "u", "timestamp": "'
        + T0.encode() + b'", "properties": {"big": 100000000000000000000000000000}}]}',
        b'{"events": [], "x": 1}',
        b'{"events": {}}',
        b"[]",
        b"{",
        b'{"events": [{"type": "metric", "event_name": "\xff"}]}',
    ],
)  # fmt: skip
def test_anything_else__handed_back(raw: bytes) -> None:
    assert read_typed(raw) is None


def test_too_many_events__handed_back() -> None:
    assert read_typed(body(*[metric(event_id=f"m{i}") for i in range(10_001)])) is None


def _mutations(rng: random.Random) -> list[tuple[str, Any]]:
    return [
        ("value", rng.choice([None, 0, -3, 1.25, 2**63, 2**65, True, "1", 1e308])),
        ("timestamp", rng.choice([T0, "2026-03-01T10:00:00+05:30", "2026-03-01T10:00:00",
                                  "2026-03-01 10:00:00Z", "2026-03-01T10:00:00.1234567Z",
                                  "2027-01-01T00:00:00Z", "x" * 25, 5])),
        ("event_name", rng.choice(["buy", "", "b" * 201, "b\x1f", "b\u2028", "b\u00a0", 7])),
        ("unit_id", rng.choice(["u", "", "u" * 256, "u" * 257, None, "\x1f"])),
        ("event_id", rng.choice([None, "", "e" * 200, "e" * 201, "dup", 3])),
        ("properties", rng.choice([None, {}, {"a": [1, {"b": None}]}, [], {"z": 1, "a": 2},
                                   {"n": 2**64 + 1}, "x"])),
        ("attributes", rng.choice([None, {}, {"a": 1}, {"a-b_9": "x"}, {"": 1}, {"a": {}},
                                   {"A": 2**70}])),
        ("variant", rng.choice(["control", "treatment", "", "other"])),
        ("experiment", rng.choice(["exp", "zzz", ""])),
        ("extra", 1),
    ]  # fmt: skip


def test_random_batches__typed_agrees_with_checked_or_hands_back() -> None:
    rng = random.Random(20261122)
    taken = 0
    for _ in range(400):
        events = []
        for i in range(rng.randint(1, 6)):
            event = rng.choice([metric, exposure])(event_id=f"e{i}")
            for name, value in rng.sample(_mutations(rng), rng.choice([0, 0, 1, 2])):
                if name in event or name == "extra" or rng.random() < 0.3:
                    event[name] = value
            events.append(event)
        raw = body(*events)

        fast, checked = read_typed(raw), read_checked(raw)

        if fast is not None:
            taken += 1
            assert_same(fast, checked)
        elif checked.rejected == []:
            assert _explained(events), events  # handed back, yet the checked read takes all
    assert taken > 100


def _explained(events: list[dict[str, Any]]) -> bool:
    """What the typed read hands back though the checked one accepts it: names that are not
    printable (the checked read's regex takes them), and integers past 64 bits inside
    properties or attributes (orjson reads them as floats, msgspec as ints)."""
    for event in events:
        name = event.get("event_name")
        if isinstance(name, str) and not name.isprintable():
            return True
        for values in (event.get("properties"), event.get("attributes")):
            if isinstance(values, dict) and any(
                type(v) is int and abs(v) >= 2**64 for v in values.values()
            ):
                return True
    return False
