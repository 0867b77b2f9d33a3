"""`EventStore.append_exposures` on every backend: the records of logged answers become one
ev_exposure row per (experiment, unit) with the id every other path gives it, the first one
kept (avsb.server.events.exposure_log; DuckDB does it in SQL, the others in Python)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from avsb.server.events import EventBatch, EventStore, ExposureEvent
from avsb.server.events.exposure_log import ExposureRecord, exposure_batches, exposure_event_id
from avsb.server.events.types import EventKind

# Unit ids that a hand-written SQL hash or a JSON staging step could get wrong: quotes,
# backslashes, a NUL, non-ASCII letters, an emoji (outside the BMP), a line break.
ODD_UNITS = ['q"uote', "back\\slash", "nul\x00byte", "ünï日本", "emoji😀", "line\nbreak"]
PAIRS = (("search", "control"), ("price", "t1"))


def _record(
    unit: str, at_us: int, pairs: tuple[tuple[str, str], ...] = PAIRS, project: str = "prj_1"
) -> ExposureRecord:
    return ("org_1", project, unit, at_us, '{"country":"US"}', pairs)


def _rows(store: EventStore, project: str = "prj_1") -> list[tuple[object, ...]]:
    return store.query(
        "SELECT event_id, experiment, variant, unit_id, ts_us, attributes, ingest_seq "
        f"FROM ev_exposure WHERE project_id = '{project}' ORDER BY unit_id, experiment"
    )


def test_rows__ids_as_every_path_gives_them(
    store: EventStore, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="avsb.server.events"):
        store.append_exposures([_record(unit, 1_000 + i) for i, unit in enumerate(ODD_UNITS)])
    left_out = [r.getMessage() for r in caplog.records if "not stored" in r.getMessage()]
    # the NUL unit's record holds both pairs: the warning counts exposures, not records
    assert left_out == (["2 exposures not stored: NUL in the unit id"]
                        if store.dialect == "postgres" else [])  # fmt: skip
    rows = _rows(store)
    # PostgreSQL text cannot hold NUL: its store leaves that unit out instead of failing.
    units = [u for u in ODD_UNITS if store.dialect != "postgres" or "\x00" not in u]
    assert len(rows) == len(units) * len(PAIRS)
    for event_id, experiment, variant, unit, ts_us, attributes, _seq in rows:
        assert event_id == exposure_event_id(str(experiment), str(unit))
        assert (experiment, variant) in PAIRS
        assert ts_us == 1_000 + ODD_UNITS.index(str(unit))
        assert attributes == '{"country":"US"}'
    assert {row[3] for row in rows} == set(units)
    seqs = [row[6] for row in rows]
    assert len(set(seqs)) == len(seqs)  # every row its own ingest_seq


def test_repeats__first_kept_within_a_call_and_across_calls(store: EventStore) -> None:
    store.append_exposures([_record("u1", 10), _record("u1", 20), _record("u2", 30, PAIRS[:1])])
    store.append_exposures([_record("u1", 40), _record("u3", 50, (("price", "t2"),))])
    rows = _rows(store)
    assert [(r[1], r[3], r[4]) for r in rows] == [
        ("price", "u1", 10), ("search", "u1", 10), ("search", "u2", 30), ("price", "u3", 50),
    ]  # fmt: skip


def test_same_id_as_an_ingested_exposure__stored_once(store: EventStore) -> None:
    """An SDK that logged the exposure through ingestion first: the server's is a repeat."""
    at = datetime(2026, 1, 5, tzinfo=UTC)
    sent = ExposureEvent(experiment="search", variant="control", unit_id="u1", timestamp=at,
                         event_id=exposure_event_id("search", "u1"))  # fmt: skip
    store.append(EventBatch("org_1", "prj_1", [sent]))
    store.append_exposures([_record("u1", 99, PAIRS[:1])])
    ((ts_us,),) = store.query("SELECT ts_us FROM ev_exposure WHERE unit_id = 'u1'")
    assert ts_us == int(at.timestamp() * 1_000_000)


def test_nothing_to_write__no_rows(store: EventStore) -> None:
    store.append_exposures([])
    store.append_exposures([_record("u1", 1, ())])
    assert _rows(store) == []


def test_projects_kept_apart(store: EventStore) -> None:
    store.append_exposures(
        [_record("u1", 1, PAIRS[:1]), _record("u1", 2, PAIRS[:1], project="prj_2")]
    )
    assert [r[4] for r in _rows(store)] == [1]
    assert [r[4] for r in _rows(store, "prj_2")] == [2]


def test_exposure_batches__the_generic_expansion() -> None:
    batches = exposure_batches([_record("u1", 7), _record("u2", 8, PAIRS[:1], project="prj_2")])
    assert [(b.org_id, b.project_id, len(b.events)) for b in batches] == [
        ("org_1", "prj_1", 2), ("org_1", "prj_2", 1),
    ]  # fmt: skip
    columns = batches[0].events.by_kind[EventKind.EXPOSURE]
    assert list(columns[0]) == [exposure_event_id("search", "u1"), exposure_event_id("price", "u1")]
