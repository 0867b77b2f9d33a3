"""The results refresh job: running experiments get a fresh snapshot without anyone asking,
other experiments do not, and processes running the job at once never claim the same
experiment twice (the claim is a conditional UPDATE; checked on SQLite and PostgreSQL)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from avsb.server.db import Database, migrate
from avsb.server.models import ResultsRefresh
from avsb.server.results import schedule
from tests.conftest import _postgres_database
from tests.integration.design.factories import act, create_project, post
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

from .conftest import default_backend, server_on
from .test_results_api import Lab, conversion_of, make_lab, population, units

Json = dict[str, Any]
REFRESH_MINUTES = 0.02  # 1.2 s; the job polls every 0.5 s


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, ServerFactory]]:
    """A metadata database of this module's own: the job refreshes every running experiment
    it finds, and other tests' experiments (whose events live in other servers' stores) would
    keep it busy in the shared one."""
    pg = os.environ.get("AVSB_TEST_DATABASE_URL")
    meta = tmp_path_factory.mktemp("schedule-meta")
    url = _postgres_database(pg, "schedule") if pg else f"sqlite:///{meta / 'avsb.sqlite3'}"
    db = Database(url)
    migrate(db)
    factory = ServerFactory(url, Path(tmp_path_factory.mktemp("schedule-data")))
    yield db, factory
    factory.close()
    db.dispose()


@pytest.fixture
def refreshing_server(own: tuple[Database, ServerFactory], tmp_path: Path) -> Iterator[LiveServer]:
    """Per test: stopped before the claim test, whose rows its job would otherwise take."""
    with server_on(
        own[1], default_backend(), tmp_path, results_refresh_minutes=REFRESH_MINUTES
    ) as live:
        yield live


@pytest.fixture
def client(refreshing_server: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(refreshing_server) as api:
        yield api


def history(lab: Lab) -> list[Json]:
    r = lab.api.get(lab.path("/results/history"))
    assert r.status_code == 200, r.text
    items: list[Json] = r.json()["data"]
    return items


def wait_for(check: Any, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("the refresh job did not act in time")


def test_running_experiment__snapshot_refreshed_unasked(client: ApiClient) -> None:
    lab = make_lab(client)
    lab.send(population("exp", 200, (0.1, 0.2)))

    # Nobody calls GET /results: the snapshot with these units comes from the job.
    def refreshed() -> Json | None:
        for snap in history(lab):
            if units(conversion_of(snap["results"])) == {"control": 200, "treatment": 200}:
                return snap
        return None

    snapshot = wait_for(refreshed)

    assert (
        conversion_of(snapshot["results"])["comparisons"]
        == conversion_of(lab.results())["comparisons"]
    )


def test_draft_and_stopped__not_refreshed(client: ApiClient) -> None:
    project = create_project(client)
    draft = post(client, "/experiments", {"project_id": project["id"], "key": "draft",
                 "name": "Draft", "variants": [{"key": "a", "weight": 50},
                                               {"key": "b", "weight": 50}]})  # fmt: skip
    running = make_lab(client)
    running.send(population("exp", 40, (0.1, 0.2)))
    wait_for(lambda: history(running))
    act(client, running.experiment["id"], "stop")
    stopped_at = len(history(running))
    running.send(population("exp", 80, (0.1, 0.3)))
    time.sleep(REFRESH_MINUTES * 60 * 2.5)

    draft_history = client.get(client.org(f"/experiments/{draft['id']}/results/history"))
    assert draft_history.json()["data"] == []
    assert len(history(running)) == stopped_at


@pytest.fixture
def running_ids(own: tuple[Database, ServerFactory], tmp_path: Path) -> list[str]:
    """Three running experiments in this module's database (its job off)."""
    with server_on(own[1], default_backend(), tmp_path) as live, new_org_client(live) as api:
        return [make_lab(api).experiment["id"] for _ in range(3)]


def in_threads(n: int, job: Any) -> list[Any]:
    barrier = threading.Barrier(n)
    out: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait()
            out[i] = job()
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return out


def test_concurrent_processes__each_experiment_claimed_once(
    own: tuple[Database, ServerFactory], running_ids: list[str]
) -> None:
    database = own[0]
    now = datetime.now(UTC)
    in_threads(4, lambda: schedule.enrol(database, now))
    with database.transaction() as session:
        rows = session.scalars(
            select(ResultsRefresh).where(ResultsRefresh.experiment_id.in_(running_ids))
        ).all()
    assert sorted(r.experiment_id for r in rows) == sorted(running_ids)

    later = now + timedelta(seconds=1)
    claims = in_threads(
        4, lambda: schedule.claim_due(database, later, timedelta(minutes=5), limit=100_000)
    )

    claimed = [c.experiment_id for found in claims for c in found if c.experiment_id in running_ids]
    assert sorted(claimed) == sorted(running_ids)  # every one once, by exactly one thread
    # ... and not again until its interval has passed
    again = schedule.claim_due(
        database, later + timedelta(minutes=1), timedelta(minutes=5), 100_000
    )
    assert not {c.experiment_id for c in again} & set(running_ids)
    after = schedule.claim_due(
        database, later + timedelta(minutes=6), timedelta(minutes=5), 100_000
    )
    assert set(running_ids) <= {c.experiment_id for c in after}


def test_refresh_off__no_poll() -> None:
    from avsb.server.config import Settings

    assert schedule.poll_seconds(Settings(results_refresh_minutes=0)) is None
    assert schedule.poll_seconds(Settings(results_refresh_minutes=15)) == 30.0
