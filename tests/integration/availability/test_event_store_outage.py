"""PostgreSQL (event store and metadata database) terminated and restarted under ingestion load.

The test starts its own PostgreSQL server, so it runs in the SQLite pass as well as in the
PostgreSQL one. Clients resend a batch with the same event ids until it is acknowledged.
While the server is down every answer is a 503 with Retry-After (readiness included, never
a 500); once it is back, ingestion resumes within 5 s without a restart of AvsB; afterwards
every acknowledged event is stored exactly once and nothing else is.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

from avsb.server.db import Database, migrate
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import abc, create_sdk_key, settle
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

from .postgres import OwnPostgres, own_postgres

CLIENTS = 4
BATCH = 50
RESUME_SECONDS = 5.0


@dataclass
class Load:
    """``CLIENTS`` threads ingesting batches of fresh ids, each resent until acknowledged."""

    server: LiveServer
    api: ApiClient
    project_id: str
    acked: set[str] = field(default_factory=set)
    answered_at: list[float] = field(default_factory=list)  # monotonic times of 200 answers
    failures: Counter[int | str] = field(default_factory=Counter)
    missing_retry_after: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for n in range(CLIENTS):
            thread = threading.Thread(target=self._client, args=(n,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
            assert not thread.is_alive()

    def ok_since(self, moment: float) -> bool:
        with self._lock:
            return any(at >= moment for at in self.answered_at)

    def _client(self, n: int) -> None:
        path = self.api.org(f"/projects/{self.project_id}/events")
        headers = {"Authorization": f"Bearer {self.api.token}"}
        now = datetime.now(UTC).isoformat()
        with httpx.Client(base_url=self.server.url, headers=headers, timeout=30) as client:
            batch = 0
            while not self.stop.is_set():
                ids = [f"c{n}-b{batch}-e{i}" for i in range(BATCH)]
                events = [{"type": "metric", "event_id": event_id, "event_name": "purchase",
                           "unit_id": f"u{i}", "timestamp": now, "value": 1.0}
                          for i, event_id in enumerate(ids)]  # fmt: skip
                while not self._send(client, path, ids, events):
                    time.sleep(0.05)
                batch += 1

    def _send(self, client: httpx.Client, path: str, ids: list[str], events: object) -> bool:
        try:
            answer = client.post(path, json={"events": events})
        except httpx.HTTPError as exc:
            with self._lock:
                self.failures[type(exc).__name__] += 1
            return False
        if answer.status_code != 200:
            with self._lock:
                self.failures[answer.status_code] += 1
                self.missing_retry_after += "retry-after" not in answer.headers
            return False
        data = answer.json()["data"]
        assert data["accepted"] + data["duplicates"] == len(ids), data
        assert data["rejected"] == [], data
        with self._lock:
            self.acked.update(ids)
            self.answered_at.append(time.monotonic())
        return True


def _wait(check: object, seconds: float) -> float:
    """Seconds until ``check()`` held (AssertionError after ``seconds``)."""
    started = time.monotonic()
    while not check():  # type: ignore[operator]
        if time.monotonic() - started > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


def _stored(events_dsn: str, org_id: str, project_id: str) -> Counter[str]:
    with psycopg.connect(events_dsn) as conn:
        rows = conn.execute(
            "SELECT event_id, count(*) FROM ev_metric WHERE org_id = %s AND project_id = %s "
            "GROUP BY event_id",
            (org_id, project_id),
        ).fetchall()
    return Counter({str(event_id): int(n) for event_id, n in rows})


def _while_down(server: LiveServer, api: ApiClient, experiment_id: str) -> None:
    """Every store-backed answer is a structured 503 with Retry-After, never a 500."""
    with server.client() as anon:
        ready = anon.get("/readyz")
    assert ready.status_code == 503
    assert int(ready.headers["Retry-After"]) >= 1
    assert ready.json()["status"] in ("database_unreachable", "event_store_unreachable")
    for path in ("/ingestion", "/results", "/results/timeseries"):
        answer = api.get(api.org(f"/experiments/{experiment_id}{path}"))
        assert answer.status_code == 503, (path, answer.text)
        assert int(answer.headers["Retry-After"]) >= 1
        assert answer.json()["error"]["code"] in ("service_unavailable", "event_store_unavailable")


def _outage(pg: OwnPostgres, load: Load, server: LiveServer, api: ApiClient, exp: str) -> None:
    _wait(lambda: len(load.acked) >= CLIENTS * BATCH * 2, 20)
    # Terminated sessions under load: the next operations run on new connections.
    for _ in range(3):
        assert pg.terminate_backends("avsb_events") + pg.terminate_backends("avsb_meta") >= 1
        time.sleep(0.3)
    before = len(load.acked)
    _wait(lambda: len(load.acked) > before, RESUME_SECONDS)

    pg.stop()
    _while_down(server, api, exp)
    time.sleep(1.0)  # the clients keep failing meanwhile
    pg.start()
    up = time.monotonic()
    resumed = _wait(lambda: load.ok_since(up), RESUME_SECONDS)
    with server.client() as anon:
        _wait(lambda: anon.get("/readyz").status_code == 200, RESUME_SECONDS)
    assert resumed <= RESUME_SECONDS
    since = len(load.acked)
    _wait(lambda: len(load.acked) >= since + CLIENTS * BATCH, 20)


@contextmanager
def _avsb_on(pg: OwnPostgres, data_dir: Path, **settings: Any) -> Iterator[LiveServer]:
    """An AvsB server whose metadata database and event store are both on ``pg``."""
    meta_url = pg.create_database("avsb_meta").replace("://", "+psycopg://", 1)
    db = Database(meta_url, pool_size=4)
    migrate(db)
    factory = ServerFactory(db.url, data_dir)
    try:
        yield factory.start(events_url=pg.create_database("avsb_events"), **settings)
    finally:
        factory.close()
        db.dispose()


def test_postgres_restart_and_terminated_backends__ingestion_resumes_exactly_once(
    tmp_path: Path,
) -> None:
    with (
        own_postgres() as pg,
        _avsb_on(pg, tmp_path / "data") as server,
        new_org_client(server) as api,
    ):
        project = f.create_project(api)
        experiment = f.create_experiment(api, project["id"])
        load = Load(server, api, project["id"])
        load.start()
        try:
            _outage(pg, load, server, api, experiment["id"])
        finally:
            load.finish()
        stored = _stored(pg.dsn("avsb_events"), api.org_id, project["id"])
    assert set(stored) == load.acked  # nothing acknowledged lost, nothing unacknowledged kept
    assert set(stored.values()) == {1}  # nothing twice
    # Failures were 503s with Retry-After, never a 500 or a dropped connection.
    assert set(load.failures) <= {503}, load.failures
    assert load.failures[503] > 0
    assert load.missing_retry_after == 0


def test_exposures_logged_while_store_down__written_once_it_is_back(tmp_path: Path) -> None:
    """The exposure buffer keeps what it cannot write and drains after the restart: nothing
    logged during the outage is dropped. (Rate limits in memory, so that evaluation answers
    need no database while it is down.)"""
    settings = {"rate_limit_storage": "memory", "exposure_flush_seconds": 0.2}
    with (
        own_postgres() as pg,
        _avsb_on(pg, tmp_path / "data", **settings) as server,
        new_org_client(server) as api,
    ):
        project_id = f.create_project(api)["id"]
        experiment = f.create_experiment(api, project_id, traffic_percent=100)
        f.act(api, experiment["id"], "start")
        key = create_sdk_key(api, project_id)
        settle(server)
        units = [f"unit-{i}" for i in range(30)]

        def written() -> set[str]:
            with psycopg.connect(pg.dsn("avsb_events")) as conn:
                try:
                    rows = conn.execute(
                        "SELECT unit_id FROM ev_exposure WHERE project_id = %s", (project_id,)
                    ).fetchall()
                except psycopg.errors.UndefinedTable:  # the store is opened on first use
                    return set()
            return {str(row[0]) for row in rows}

        def ask(unit: str) -> None:
            body = {"project_id": project_id, "unit_id": unit}
            answer = abc(api, "get_experiments", key, body).json()
            assert answer["ret_code"] == 100, answer

        ask(units[0])
        _wait(lambda: written() == {units[0]}, 15)
        # The change watcher clears the key caches when it sees the key's creation (within
        # its 0.5 s poll): after that, one more request caches the key's secrets and token
        # for 30 s, so evaluation needs no database during the outage.
        time.sleep(1.0)
        ask(units[0])
        pg.stop()
        for unit in units[1:]:
            ask(unit)
        time.sleep(1.0)  # flushes fail meanwhile
        pg.start()
        _wait(lambda: written() == set(units), 15)
