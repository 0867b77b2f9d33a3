"""The config cache when things go wrong: bad stored data, an unreachable database."""

from __future__ import annotations

import pytest

from avsb.server.db import Database
from avsb.server.evaluation_api import compiler
from avsb.server.evaluation_api.cache import ConfigCache
from avsb.server.kit.metrics import Metrics
from avsb_sdk.evaluation import ConfigError
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import bearer, create_sdk_key, runtime, settle
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
