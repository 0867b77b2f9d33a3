from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
from sqlalchemy import select, update

from avsb.server.db import Database
from avsb.server.ingestion.repository import CountDelta
from avsb.server.ingestion.service import CountBuffer
from avsb.server.models.results import IngestionCounter
from tests.integration.design.factories import create_experiment, create_project
from tests.support.servers import ApiClient

Json = dict[str, Any]
T0 = "2026-03-01T12:00:00Z"


def events_path(api: ApiClient, project_id: str) -> str:
    return api.org(f"/projects/{project_id}/events")


def send(api: ApiClient, project_id: str, events: list[Json]) -> Json:
    r = api.post(events_path(api, project_id), json={"events": events})
    assert r.status_code == 200, r.text
    data: Json = r.json()["data"]
    return data


def exposure(experiment: str, unit: str, variant: str = "control", **extra: Any) -> Json:
    return {"type": "exposure", "experiment": experiment, "variant": variant,
            "unit_id": unit, "timestamp": T0, **extra}  # fmt: skip


def metric(unit: str, name: str = "purchase", **extra: Any) -> Json:
    return {"type": "metric", "event_name": name, "unit_id": unit, "timestamp": T0, **extra}


@pytest.fixture
def setup(api: ApiClient) -> tuple[str, Json]:
    project = create_project(api)
    return project["id"], create_experiment(api, project["id"])


class TestBatch:
    def test_batch__every_kind__accepted_and_retry_counts_duplicates(
        self, api: ApiClient, setup: tuple[str, Json]
    ) -> None:
        project_id, experiment = setup
        key = experiment["key"]
        events = [
            exposure(key, "u1", attributes={"country": "US"}, event_id="x1"),
            metric("u1", value=12.5, properties={"sku": "a"}),
            {"type": "identify", "anonymous_id": "a1", "canonical_id": "u1", "timestamp": T0},
            {"type": "exclusion", "unit_id": "bot1", "reason": "bot", "timestamp": T0},
            {"type": "covariate", "experiment": key, "unit_id": "u1", "value": 3},
            {"type": "stratum", "experiment": key, "unit_id": "u1", "stratum": "mobile"},
            {"type": "holdout", "experiment": key, "unit_id": "h1", "timestamp": T0},
        ]

        first = send(api, project_id, events)
        again = send(api, project_id, events)

        assert first == {"accepted": 7, "duplicates": 0, "rejected": []}
        assert again == {"accepted": 0, "duplicates": 7, "rejected": []}
        summary = api.get(api.org(f"/experiments/{experiment['id']}/ingestion")).json()["data"]
        assert summary["count"] == 7
        assert summary["duplicates"] == 7
        by_kind = {k["kind"]: k for k in summary["kinds"]}
        assert by_kind["exposure"]["received"] == 2
        assert by_kind["metric"]["scope"] == "project"
        assert summary["last_event_at"] == "2026-03-01T12:00:00Z"

    def test_batch__invalid_events__rejected_one_by_one_rest_stored(
        self, api: ApiClient, setup: tuple[str, Json]
    ) -> None:
        project_id, experiment = setup
        key = experiment["key"]
        events: list[Any] = [
            exposure(key, "u1"),
            exposure("nope", "u2"),
            exposure(key, "u3", variant="nope"),
            metric("u4", value="12"),
            metric("u5", timestamp="2026-03-01 12:00"),
            {"type": "teleport"},
            "not an object",
            metric("u6", colour="red"),
            metric("", value=1),
            metric("u7", timestamp="2999-01-01T00:00:00Z"),
        ]

        result = send(api, project_id, events)

        assert result["accepted"] == 1
        codes = [(r["index"], r["code"]) for r in result["rejected"]]
        assert codes == [
            (1, "unknown_experiment"),
            (2, "unknown_variant"),
            (3, "invalid_field"),
            (4, "invalid_field"),
            (5, "invalid_type"),
            (6, "invalid_event"),
            (7, "unknown_field"),
            (8, "invalid_field"),
            (9, "timestamp_in_future"),
        ]
        summary = api.get(api.org(f"/experiments/{experiment['id']}/ingestion")).json()["data"]
        assert summary["rejected"] == 9

    def test_batch__too_many_events__422(self, api: ApiClient, setup: tuple[str, Json]) -> None:
        project_id, _ = setup
        body = orjson.dumps({"events": [metric(f"u{i}") for i in range(10_001)]})
        r = api.post(events_path(api, project_id), content=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["details"]["fields"][0]["path"] == "events"

    def test_batch__over_five_mib__413(self, api: ApiClient, setup: tuple[str, Json]) -> None:
        project_id, _ = setup
        padding = "x" * 1000
        events = [metric(f"u{i}", properties={"pad": padding}) for i in range(6_000)]
        r = api.post(events_path(api, project_id), content=orjson.dumps({"events": events}))
        assert r.status_code == 413, r.text

    @pytest.mark.parametrize(
        "body", [b"{", b"[]", b'{"events": {}}', b'{"events": [], "extra": 1}', b"null"]
    )
    def test_batch__malformed_body__422(
        self, api: ApiClient, setup: tuple[str, Json], body: bytes
    ) -> None:
        project_id, _ = setup
        r = api.post(events_path(api, project_id), content=body)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"

    def test_batch__unknown_project__404(self, api: ApiClient) -> None:
        r = api.post(events_path(api, "prj_nope"), json={"events": []})
        assert r.status_code == 404


class TestPerExperimentRoutes:
    def test_routes__kind_from_path__stored(self, api: ApiClient, setup: tuple[str, Json]) -> None:
        _, experiment = setup
        base = f"/experiments/{experiment['id']}"
        bodies = {
            "exposures": {"variant": "control", "unit_id": "u1", "timestamp": T0},
            "conversions": {"event_name": "purchase", "unit_id": "u1", "timestamp": T0},
            "identities": {"anonymous_id": "a1", "canonical_id": "u1", "timestamp": T0},
            "exclusions": {"unit_id": "b1", "timestamp": T0},
            "holdout": {"unit_id": "h1", "timestamp": T0},
            "pre-period": {"unit_id": "u1", "value": 2.5},
            "strata": {"unit_id": "u1", "stratum": "web"},
        }
        for route, event in bodies.items():
            r = api.post(api.org(f"{base}/{route}"), json={"events": [event]})
            assert r.status_code == 200, (route, r.text)
            assert r.json()["data"]["accepted"] == 1, (route, r.text)

        summary = api.get(api.org(f"{base}/ingestion")).json()["data"]

        assert {k["kind"]: k["count"] for k in summary["kinds"]} == {
            "exposure": 1, "metric": 1, "identify": 1, "exclusion": 1,
            "covariate": 1, "stratum": 1, "holdout": 1,
        }  # fmt: skip

    def test_routes__experiment_field_in_body__rejected(
        self, api: ApiClient, setup: tuple[str, Json]
    ) -> None:
        _, experiment = setup
        event = {"experiment": "x", "variant": "control", "unit_id": "u1", "timestamp": T0}
        r = api.post(
            api.org(f"/experiments/{experiment['id']}/exposures"), json={"events": [event]}
        )
        assert r.json()["data"]["rejected"][0]["code"] == "unknown_field"


def test_count_flush__waits_for_a_flush_in_flight(api: ApiClient, database: Database) -> None:
    """A flush that finds nothing to take (the summary route's) returns only once a flush
    already writing has committed: else the summary read right after it misses those counts
    (the background flush, every second, took them a moment before)."""
    project_id = create_project(api)["id"]
    buffer = CountBuffer(database)
    delta = CountDelta("exp", "exposure", received=1, accepted=1, duplicates=0, rejected=0)
    buffer.add(api.org_id, project_id, [delta], {})
    buffer.flush()  # the counter row exists
    row = (IngestionCounter.project_id == project_id) & (IngestionCounter.kind == "exposure")
    blocker = database.session(write=True)  # holds the row (PostgreSQL) or the file (SQLite)
    blocker.execute(update(IngestionCounter).where(row).values(rejected=0))
    try:
        again = CountDelta("exp", "exposure", received=1, accepted=0, duplicates=1, rejected=0)
        buffer.add(api.org_id, project_id, [again], {})
        in_flight = threading.Thread(target=buffer.flush)
        in_flight.start()
        time.sleep(0.5)  # it took the counts and waits for the blocker
        empty = threading.Thread(target=buffer.flush)
        empty.start()
        empty.join(timeout=1.0)
        assert empty.is_alive(), "an empty flush returned while another was still writing"
    finally:
        blocker.rollback()
        blocker.close()
    in_flight.join(timeout=30)
    empty.join(timeout=30)
    with database.transaction() as session:
        counted = session.scalar(select(IngestionCounter.duplicates).where(row))
    assert counted == 1
