"""Hand validation of event batches: every kind's row layout and every rejection code."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from avsb.server.errors import PayloadTooLarge, ValidationFailed
from avsb.server.events import EventBatch, EventKind, EventRows, MetricEvent, RowBatch
from avsb.server.events.schema import prepare_batch
from avsb.server.events.types import content_event_id
from avsb.server.ingestion.parse import Reader, Target, parse_events
from avsb.server.ingestion.service import apportion, decode

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
T0 = "2026-03-01T10:00:00.5Z"
T0_US = 1_772_359_200_500_000


class Lookup:
    def variants(self, key: str) -> frozenset[str] | None:
        return frozenset({"control", "treatment"}) if key == "exp" else None


def reader(target: Target | None = None) -> Reader:
    return Reader(Lookup(), target or Target(), NOW + timedelta(days=1))


def parse(*docs: Any, target: Target | None = None) -> Any:
    return parse_events(list(docs), reader(target))


class TestRows:
    def test_every_kind__table_row_layout(self) -> None:
        intake = parse(
            {"type": "exposure", "experiment": "exp", "variant": "control", "unit_id": "u1",
             "timestamp": T0, "attributes": {"b": 1, "a": "x"}, "event_id": "e1"},
            {"type": "metric", "event_name": "buy", "unit_id": "u1", "value": 2,
             "timestamp": T0, "properties": {"sku": "s"}},
            {"type": "identify", "anonymous_id": "a1", "canonical_id": "u1", "timestamp": T0},
            {"type": "exclusion", "unit_id": "u9", "timestamp": T0},
            {"type": "covariate", "experiment": "exp", "unit_id": "u1", "value": 1.5},
            {"type": "stratum", "experiment": "exp", "unit_id": "u1", "stratum": "web"},
            {"type": "holdout", "experiment": "exp", "unit_id": "h1", "timestamp": T0},
        )  # fmt: skip

        assert intake.rejected == []
        assert intake.rows == {
            EventKind.EXPOSURE: [("e1", "exp", "control", "u1", T0_US, '{"a":"x","b":1}')],
            EventKind.METRIC: [(None, "buy", "u1", 2.0, T0_US, '{"sku":"s"}')],
            EventKind.IDENTIFY: [(None, "a1", "u1", T0_US)],
            EventKind.EXCLUSION: [(None, "u9", "manual", T0_US)],
            EventKind.COVARIATE: [(None, "exp", "u1", 1.5)],
            EventKind.STRATUM: [(None, "exp", "u1", "web")],
            EventKind.HOLDOUT: [(None, "exp", "h1", T0_US)],
        }
        assert intake.attribute_keys == {"exp": {"a", "b"}}
        assert intake.received()[("exp", "exposure")] == 1

    def test_row_without_id__same_content_id_as_its_event(self) -> None:
        intake = parse({"type": "metric", "event_name": "buy", "unit_id": "u1", "value": 2.0,
                        "timestamp": T0, "properties": {"sku": "s"}})  # fmt: skip
        event = MetricEvent(event_name="buy", unit_id="u1", value=2.0, properties={"sku": "s"},
                            timestamp=datetime.fromisoformat(T0))  # fmt: skip

        rows = prepare_batch(RowBatch("o", "p", EventRows(intake.rows)), 0).rows
        objects = prepare_batch(EventBatch("o", "p", [event]), 0).rows

        assert rows[EventKind.METRIC][0][2] == content_event_id(event)
        assert rows == objects

    def test_per_experiment_route__kind_and_experiment_from_the_path(self) -> None:
        target = Target(EventKind.EXPOSURE, "exp")
        intake = parse({"variant": "treatment", "unit_id": "u1", "timestamp": T0}, target=target)
        assert intake.rows[EventKind.EXPOSURE][0][1:3] == ("exp", "treatment")


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        ("text", "invalid_event"),
        ({"type": "nope"}, "invalid_type"),
        ({"type": ["metric"]}, "invalid_type"),
        ({"type": "metric", "event_name": "buy", "timestamp": T0}, "missing_field"),
        ({"type": "metric", "event_name": "b\x01", "unit_id": "u", "timestamp": T0},
         "invalid_field"),
        ({"type": "metric", "event_name": "buy", "unit_id": "u", "timestamp": T0,
          "value": True}, "invalid_field"),
        ({"type": "metric", "event_name": "buy", "unit_id": "u", "timestamp": T0,
          "properties": []}, "invalid_field"),
        ({"type": "metric", "event_name": "buy", "unit_id": "u" * 257, "timestamp": T0},
         "invalid_field"),
        ({"type": "metric", "event_name": "buy", "unit_id": "u", "timestamp": 1}, "invalid_field"),
        ({"type": "metric", "event_name": "buy", "unit_id": "u",
          "timestamp": "2026-03-01T10:00:00"}, "invalid_field"),
        ({"type": "metric", "event_name": "buy", "unit_id": "u",
          "timestamp": "2026-03-05T10:00:00Z"}, "timestamp_in_future"),
        ({"type": "metric", "event_name": "buy", "unit_id": "u", "timestamp": T0, "x": 1},
         "unknown_field"),
        ({"type": "metric", "event_name": "buy", "unit_id": "u", "timestamp": T0,
          "event_id": ""}, "invalid_field"),
        ({"type": "exposure", "experiment": "other", "variant": "control", "unit_id": "u",
          "timestamp": T0}, "unknown_experiment"),
        ({"type": "exposure", "experiment": "exp", "variant": "c", "unit_id": "u",
          "timestamp": T0}, "unknown_variant"),
        ({"type": "exposure", "experiment": "exp", "variant": "control", "unit_id": "u",
          "timestamp": T0, "attributes": {"a b": 1}}, "invalid_field"),
        ({"type": "exposure", "experiment": "exp", "variant": "control", "unit_id": "u",
          "timestamp": T0, "attributes": {"a": {"nested": 1}}}, "invalid_field"),
        ({"type": "covariate", "experiment": "exp", "unit_id": "u"}, "missing_field"),
    ],
)  # fmt: skip
def test_rejections__code_per_problem(doc: Any, code: str) -> None:
    intake = parse({"type": "identify", "anonymous_id": "a", "canonical_id": "b",
                    "timestamp": T0}, doc)  # fmt: skip

    assert [(r.index, r.code) for r in intake.rejected] == [(1, code)]
    assert len(intake.rows[EventKind.IDENTIFY]) == 1


def test_rejections__counted_under_a_known_experiment_only() -> None:
    bad = {"type": "exposure", "variant": "x", "unit_id": "u", "timestamp": T0}
    intake = parse({**bad, "experiment": "exp"}, {**bad, "experiment": "zzz"}, {"type": 1})
    assert intake.rejected_groups == {("exp", "exposure"): 1, ("", "unknown"): 2}


class TestDecode:
    def test_too_many_bytes__413(self) -> None:
        with pytest.raises(PayloadTooLarge):
            decode(b" " * (5 * 1024 * 1024 + 1))

    @pytest.mark.parametrize("body", [b"{", b"[]", b'{"events": 1}', b'{"events": [], "x": 1}'])
    def test_malformed__422(self, body: bytes) -> None:
        with pytest.raises(ValidationFailed):
            decode(body)


class TestApportion:
    def test_exact_cases(self) -> None:
        sizes = {("a", "exposure"): 3, ("", "metric"): 5}
        assert apportion(0, sizes) == {("a", "exposure"): 0, ("", "metric"): 0}
        assert apportion(8, sizes) == sizes

    def test_partial__proportional_and_adds_up(self) -> None:
        sizes = {("a", "exposure"): 3, ("b", "exposure"): 3, ("", "metric"): 4}
        split = apportion(5, sizes)
        assert sum(split.values()) == 5
        assert split[("", "metric")] == 2
