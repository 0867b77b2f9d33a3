"""The config cache when things go wrong: bad stored data, an unreachable database."""

from __future__ import annotations

import threading
import time

import pytest

from avsb.server.db import Database
from avsb.server.evaluation_api import compiler
from avsb.server.evaluation_api.cache import ConfigCache
from avsb.server.kit.metrics import Metrics
from avsb_sdk.evaluation import ConfigError
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import (
    abc,
    bearer,
    create_sdk_key,
    keyed_project,
    runtime,
    settle,
)
from tests.support.servers import ApiClient, LiveServer, free_port


def test_config_refused_by_the_core__last_good_one_still_served(
    org: ApiClient, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid = f.create_project(org)["id"]
    flag = f.create_flag(org, pid, default_value="good")
    key = create_sdk_key(org, pid)
    settle(live_server)
    metrics = runtime(live_server).metrics
    failures = metrics.counter("avsb_config_build_failures_total")

    def refuse(*_args: object) -> None:
        raise ConfigError("experiments[0]", "made up for the test")

    # Refused until the test ends: the change watcher may rebuild the project again (its next
    # poll sees the new version), and a rebuild after the refusal ended would rightly compile
    # the changed flag.
    monkeypatch.setattr(compiler, "read_project_config", refuse)
    org.patch(org.org(f"/flags/{flag['id']}"), json={"default_value": "changed"})
    settle(live_server)
    r = org.post(f"/ofrep/v1/evaluate/flags/{flag['key']}", headers=bearer(key),
                 json={"context": {"targetingKey": "u1"}})  # fmt: skip
    assert r.json()["value"] == "good"
    assert metrics.counter("avsb_config_build_failures_total") > failures


def test_database_unreachable__start_survives_and_keeps_retrying() -> None:
    dead = Database(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    cache = ConfigCache(dead, Metrics())
    try:
        assert cache.load_all() is False
        cache.start()
        assert cache.wait_idle(0.3) is False  # a reload is still pending
        assert cache.get("prj_any") is None
    finally:
        cache.stop()
        dead.dispose()


def test_wait_idle__returns_when_the_cache_stops_with_work_pending(database: Database) -> None:
    # At shutdown the change watcher's last poll can mark a project dirty after the rebuild
    # thread stopped; the SSE hub then waits for an idle cache on a worker thread, and the
    # process cannot exit before that thread returns (it waited out its 5 s before).
    cache = ConfigCache(database, Metrics())
    cache.start()
    cache.stop()
    cache.mark_dirty("prj_changed_after_stop")
    waiter: list[bool] = []
    thread = threading.Thread(target=lambda: waiter.append(cache.wait_idle(30.0)))
    thread.start()
    thread.join(10.0)  # the old wait_idle sat out its 30 s: still running, nothing appended
    assert waiter == [False]  # returned, and not idle: the project was never rebuilt


def test_wait_idle__a_waiter_is_released_by_stop(database: Database) -> None:
    cache = ConfigCache(database, Metrics())
    cache.mark_dirty("prj_pending")  # no thread started: stays pending
    waiter: list[bool] = []
    thread = threading.Thread(target=lambda: waiter.append(cache.wait_idle(30.0)))
    thread.start()
    time.sleep(0.2)
    assert waiter == []  # still waiting
    cache.stop()
    thread.join(10.0)  # well inside the waiter's 30 s
    assert waiter == [False]


def test_lookup__compiled_pending_or_gone(org: ApiClient, live_server: LiveServer) -> None:
    key = keyed_project(org)
    cache = ConfigCache(runtime(live_server).db, Metrics())  # started with nothing compiled
    assert cache.lookup(key.project_id) == (None, True)  # exists, not compiled: retry
    assert cache.lookup("prj_no_such_project") == (None, False)
    assert cache.rebuild(key.project_id)
    compiled = cache.get(key.project_id)
    assert compiled is not None
    assert cache.lookup(key.project_id) == (compiled, False)


def test_config_compiled_while_a_request_looked__served_not_refused(
    org: ApiClient, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A request whose `get` ran just before the rebuild thread swapped the config in: the old
    # check ("pending?" = exists and not compiled) then said "not pending", and the routes
    # answered as for a deleted project (ABC 101, OFREP "no flags", SDK 404). CI hit it once.
    key = keyed_project(org)
    pid = key.project_id
    f.create_flag(org, pid, key="shown", default_value="on")
    settle(live_server)
    cache = runtime(live_server).evaluation.cache
    monkeypatch.setattr(cache, "get", lambda _project_id: None)  # every request "too early"
    answer = abc(org, "get_experiments", key, {"project_id": pid, "unit_id": "u1"})
    bulk = org.post("/ofrep/v1/evaluate/flags", headers=bearer(key), json={"context": {}})
    config = org.get("/api/sdk/config", headers=bearer(key))
    assert (answer.status_code, answer.json()["ret_code"]) == (200, 100)
    assert bulk.status_code == 200, bulk.text
    assert [flag["key"] for flag in bulk.json()["flags"]] == ["shown"]
    assert config.status_code == 200, config.text
