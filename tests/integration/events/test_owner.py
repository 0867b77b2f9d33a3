"""The event store owner: one process owns the embedded store, the workers of
`avsb serve --workers N` reach it through a Unix socket (avsb.server.events.owner)."""

from __future__ import annotations

import concurrent.futures as cf
import random
import re
import secrets
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from avsb.server.errors import StoreUnavailable
from avsb.server.events import EventBatch, EventKind, MetricEvent, open_event_store
from avsb.server.events.owner import EventStoreOwner, OwnedEventStore, OwnerError
from tests.integration.design.factories import act, create_metric, create_project, post
from tests.integration.results.simulation import imbalanced_experiment
from tests.support.servers import ServerFactory, new_org_client

Json = dict[str, Any]
RELAXED_ENV = {"AVSB_RATE_LIMIT_PER_MINUTE": "1000000", "AVSB_RATE_LIMIT_BURST": "1000000"}


@pytest.fixture
def owned(tmp_path: Path) -> Iterator[tuple[EventStoreOwner, OwnedEventStore]]:
    """A DuckDB store served by an owner on a socket, and a client of it."""
    store = open_event_store(str(tmp_path / "events.duckdb"))
    store.ensure_schema()
    key = secrets.token_bytes(32)
    socket_path = tmp_path / "events.sock"
    owner = EventStoreOwner(store, socket_path, key)
    thread = threading.Thread(target=owner.serve_forever, daemon=True)
    thread.start()
    client = OwnedEventStore(str(socket_path), key)
    try:
        yield owner, client
    finally:
        client.close()
        owner.close()
        thread.join(5)
        store.close()


def _batch(n: int, prefix: str = "m") -> EventBatch:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        MetricEvent(
            event_name="buy", unit_id=f"u{i}", timestamp=at, value=1.0, event_id=f"{prefix}{i}"
        )
        for i in range(n)
    ]
    return EventBatch("org", "prj", events)


class TestOwnedStore:
    def test_append__exactly_once_from_many_threads(
        self, owned: tuple[EventStoreOwner, OwnedEventStore]
    ) -> None:
        _, client = owned
        batches = [_batch(20, f"b{i}-") for i in range(30)]
        sends = [*batches, *batches]  # every batch twice, concurrently
        random.Random(3).shuffle(sends)
        with cf.ThreadPoolExecutor(8) as pool:
            results = list(pool.map(client.append, sends))
        assert sum(r.accepted for r in results) == 600
        assert sum(r.duplicates for r in results) == 600
        assert client.query("SELECT COUNT(*) FROM ev_metric") == [(600,)]
        summary = client.summary("org", "prj", "any")
        assert summary.kinds[EventKind.METRIC].count == 600
        assert client.dialect == "duckdb"
        client.ping()

    def test_append_exposures__written_by_the_owner(
        self, owned: tuple[EventStoreOwner, OwnedEventStore]
    ) -> None:
        owner, client = owned
        records = [("org", "prj", f"u{i}", 1_000 + i, "{}", (("exp", "a"),)) for i in range(5)]
        client.append_exposures(records)
        client.append_exposures(records[:2])  # a retried flush: stored once
        assert owner.store.query("SELECT COUNT(*) FROM ev_exposure") == [(5,)]

    def test_bad_sql__owner_error_not_an_outage(
        self, owned: tuple[EventStoreOwner, OwnedEventStore]
    ) -> None:
        _, client = owned
        with pytest.raises(OwnerError, match="no_such_table"):
            client.query("SELECT * FROM no_such_table")
        assert client.query("SELECT 1") == [(1,)]  # the connection is still good

    def test_wrong_key__refused_as_unavailable(
        self, owned: tuple[EventStoreOwner, OwnedEventStore]
    ) -> None:
        _, client = owned
        intruder = OwnedEventStore(client.socket_path, secrets.token_bytes(32))
        with pytest.raises(StoreUnavailable):
            intruder.ping()
        client.ping()  # the owner serves on

    def test_owner_gone__store_unavailable(
        self, owned: tuple[EventStoreOwner, OwnedEventStore]
    ) -> None:
        owner, client = owned
        client.ping()
        owner.close()
        client.close()  # drop the pooled connection: a new one finds no listener
        with pytest.raises(StoreUnavailable, match="unreachable"):
            client.append(_batch(1))


def _ingest_count(metrics_text: str) -> int:
    """This worker's answered ingestion requests, from its /metrics."""
    pattern = r'avsb_http_requests_total\{[^}]*route="/api/orgs/\{org_id\}/projects/\{project_id\}/events"[^}]*status="200"[^}]*\} ([0-9.e+]+)'  # noqa: E501
    return int(sum(float(v) for v in re.findall(pattern, metrics_text)))


def test_serve_two_workers_on_duckdb__ingest_exactly_once_and_results_from_each(
    servers: ServerFactory, tmp_path: Path
) -> None:
    sim, _ = imbalanced_experiment("split", units=3_000)
    batches = list(sim.batches(50))
    events_url = str(tmp_path / "events.duckdb")
    with (
        servers.process("--workers", "2", AVSB_EVENTS_URL=events_url, **RELAXED_ENV) as live,
        new_org_client(live) as api,
    ):
        pid = create_project(api)["id"]
        conversion = create_metric(api, pid, key="conversion", event_name="purchase")
        body = {
            "project_id": pid, "key": "split", "name": "split",
            "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
            "metrics": {"primary": [conversion["id"]]},
        }  # fmt: skip
        experiment = act(api, post(api, "/experiments", body)["id"], "start")
        sends = [*batches, *batches]
        random.Random(5).shuffle(sends)
        headers = {"Authorization": f"Bearer {api.token}"}

        def send(batch: list[Json]) -> httpx.Response:
            # A connection per request: the kernel spreads them over both workers.
            with httpx.Client(base_url=live.url, headers=headers, timeout=60) as c:
                return c.post(api.org(f"/projects/{pid}/events"), json={"events": batch})

        with cf.ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(send, sends))
        assert [r.status_code for r in answers] == [200] * len(sends), answers[0].text
        data = [r.json()["data"] for r in answers]
        assert sum(d["accepted"] for d in data) == len(sim.events)  # each stored once
        assert sum(d["duplicates"] for d in data) == len(sim.events)

        # Each worker answered some of them: two per-process counters summing to the total.
        seen: dict[int, int] = {}
        for _ in range(200):
            with httpx.Client(base_url=live.url, timeout=30) as c:
                count = _ingest_count(c.get("/metrics").text)
            seen[count] = seen.get(count, 0) + 1
            if len(seen) == 2:
                break
        assert len(seen) == 2, seen
        assert sum(seen) == len(sends), seen

        # Results and the ingestion summary read the owner's store from either worker.
        for _ in range(6):
            with httpx.Client(base_url=live.url, headers=headers, timeout=60) as c:
                summary = c.get(api.org(f"/experiments/{experiment['id']}/ingestion"))
                assert summary.status_code == 200, summary.text
                counts = {k["kind"]: k["count"] for k in summary.json()["data"]["kinds"]}
                assert counts["exposure"] == len(sim.events)
                results = c.get(api.org(f"/experiments/{experiment['id']}/results"))
                assert results.status_code == 200, results.text
                variants = results.json()["data"]["metrics"][0]["variants"]
                assert {v["key"]: v["n"] for v in variants} == sim.units
