"""`avsb relay` as its own process against a live server: the same answers as the upstream,
edits within 1 s, exposures forwarded, an upstream down at start, and the PyPI OFREP
provider evaluating through it."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openfeature import api as openfeature
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import (
    SdkKey,
    bearer,
    create_sdk_key,
    runtime,
    settle,
    signed,
)
from tests.support.servers import (
    ApiClient,
    LiveServer,
    ServerFactory,
    _wait_ready,
    free_port,
    new_org_client,
)

UNITS = [f"user-{i}" for i in range(25)]


@contextlib.contextmanager
def relay_process(upstream: str, key: SdkKey, data_dir: Path, ready: bool = True) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "AVSB_DATA_DIR": str(data_dir), "AVSB_LOG_LEVEL": "warning",
           "AVSB_SHUTDOWN_GRACE_SECONDS": "1", "AVSB_RELAY_FLUSH_SECONDS": "0.2"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "avsb", "relay", "--upstream", upstream, "--sdk-key", key.secret,
         "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)  # /health: the process answers
        if ready:
            _until(lambda: httpx.get(url + "/ready").status_code == 200, 10)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            err = proc.stderr.read().decode()
            proc.stderr.close()
            assert "Traceback" not in err, err[-3000:]


def _until(check: Any, seconds: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > seconds:
            pytest.fail(f"not within {seconds} s")
        time.sleep(0.01)
    return time.monotonic() - started


@pytest.fixture(scope="module")
def upstream(
    servers: ServerFactory, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """A server on its own event store (a PostgreSQL schema in the PostgreSQL pass)."""
    if os.environ.get("AVSB_TEST_EVENTS_PG_URL"):
        from tests.support.event_backends import _pg_schema

        with _pg_schema() as url:
            server = servers.start(events_url=url)
            yield server
            server.stop()  # before its schema goes
        return
    yield servers.start(events_url=str(tmp_path_factory.mktemp("relay") / "events.duckdb"))


@pytest.fixture(scope="module")
def org(upstream: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(upstream) as client:
        yield client


@pytest.fixture(scope="module")
def project(org: ApiClient, upstream: LiveServer) -> dict[str, Any]:
    pid = f.create_project(org)["id"]
    group = f.create_group(org, pid)
    variants = f.variants({"color": "red"}, {"color": "blue"})
    half = f.create_experiment(org, pid, exclusion_group_id=group["id"], traffic_percent=50,
                               variants=variants)  # fmt: skip
    f.act(org, half["id"], "start")
    bound = f.create_flag(org, pid, experiment_id=half["id"], experiment_param="color",
                          default_value="grey")  # fmt: skip
    plain = f.create_flag(org, pid, default_value="before")
    number = f.create_flag(org, pid, type="number", default_value=2.5)
    key = create_sdk_key(org, pid)
    settle(upstream)
    return {"pid": pid, "half": half, "bound": bound, "plain": plain, "number": number,
            "key": key}  # fmt: skip


@pytest.fixture(scope="module")
def relay(upstream: LiveServer, project: dict[str, Any],
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:  # fmt: skip
    with relay_process(upstream.url, project["key"], tmp_path_factory.mktemp("relay")) as url:
        yield url


def _bulk(url: str, key: SdkKey, unit: str) -> dict[str, Any]:
    r = httpx.post(url + "/ofrep/v1/evaluate/flags", headers=bearer(key),
                   json={"context": {"targetingKey": unit, "country": "US"}})  # fmt: skip
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_answers_equal_the_upstreams(upstream: LiveServer, relay: str,
                                     project: dict[str, Any]) -> None:  # fmt: skip
    key: SdkKey = project["key"]
    for unit in UNITS:
        ours, theirs = _bulk(relay, key, unit), _bulk(upstream.url, key, unit)
        assert ours["flags"] == theirs["flags"]
        assert ours["eventStreams"][0]["type"] == "sse"  # the relay's own stream
        flag = project["plain"]["key"]
        single = [httpx.post(u + f"/ofrep/v1/evaluate/flags/{flag}", headers=bearer(key),
                             json={"context": {"targetingKey": unit}}).json()
                  for u in (relay, upstream.url)]  # fmt: skip
        assert single[0] == single[1]
        sdk = [httpx.post(u + "/api/sdk/evaluate", headers=bearer(key), json={"unit_id": unit})
               for u in (relay, upstream.url)]  # fmt: skip
        assert sdk[0].json() == sdk[1].json()
        body = {"project_id": key.project_id, "unit_id": unit}
        abc = [httpx.post(u + "/abc/get_experiments", headers=signed(key), json=body).json()
               for u in (relay, upstream.url)]  # fmt: skip
        assert abc[0] == abc[1]
        assert abc[0]["ret_code"] == 100
    configs = [httpx.get(u + "/api/sdk/config", headers=bearer(key)) for u in (relay, upstream.url)]
    assert configs[0].json() == configs[1].json()
    assert configs[0].headers["etag"] == configs[1].headers["etag"]


def test_a_relay_refuses_other_keys(relay: str, org: ApiClient, project: dict[str, Any]) -> None:
    other = create_sdk_key(org, project["pid"], name="not-the-relays")
    r = httpx.post(relay + "/ofrep/v1/evaluate/flags", headers=bearer(other),
                   json={"context": {"targetingKey": "u"}})  # fmt: skip
    assert r.status_code == 401
    assert r.json()["errorDetails"]
    r = httpx.get(relay + "/api/orgs")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"


def test_an_upstream_edit_reaches_the_relay_within_1s(
    relay: str, org: ApiClient, project: dict[str, Any]
) -> None:
    key: SdkKey = project["key"]
    flag = project["plain"]
    timings = []
    for value in ("one", "two", "three"):
        r = org.patch(org.org(f"/flags/{flag['id']}"), json={"default_value": value})
        assert r.status_code == 200, r.text

        def served(value: str = value) -> bool:
            r = httpx.post(relay + f"/ofrep/v1/evaluate/flags/{flag['key']}", headers=bearer(key),
                           json={"context": {"targetingKey": "u1"}})  # fmt: skip
            return bool(r.json().get("value") == value)

        timings.append(_until(served, 5))
    assert max(timings) < 1.0, timings


def test_exposures_are_forwarded_upstream(
    upstream: LiveServer, relay: str, project: dict[str, Any]
) -> None:
    """The relay's own assignments, forwarded with its SDK key (`POST /api/sdk/exposures`):
    the upstream is never asked to evaluate these units, so only the relay can log them."""
    key: SdkKey = project["key"]
    assigned = set()
    for unit in UNITS:
        r = httpx.post(relay + "/api/sdk/evaluate", headers=bearer(key), json={"unit_id": unit})
        assert r.status_code == 200
        answers = r.json()["data"]["experiments"].values()
        if any(a["experiment_key"] == project["half"]["key"] and a["assigned"] for a in answers):
            assigned.add(unit)
    store = runtime(upstream).events.get()

    def units() -> set[str]:
        rows = store.query(
            "SELECT unit_id FROM ev_exposure "
            f"WHERE project_id = '{key.project_id}' AND experiment = '{project['half']['key']}'"
        )
        return {str(row[0]) for row in rows}

    _until(lambda: units() >= assigned, 10)
    assert assigned


def test_the_pypi_ofrep_provider_evaluates_through_the_relay(
    relay: str, project: dict[str, Any]
) -> None:
    key: SdkKey = project["key"]
    domain = f"relay-{uuid.uuid4().hex[:8]}"
    provider = OFREPProvider(relay, headers_factory=lambda: bearer(key))
    openfeature.set_provider(provider, domain)
    try:
        client = openfeature.get_client(domain)
        number = client.get_float_details(project["number"]["key"], 0.0,
                                          EvaluationContext("u1"))  # fmt: skip
        assert number.value == 2.5
        assert number.error_code is None
        missing = client.get_string_details("no-such-flag", "fallback", EvaluationContext("u1"))
        assert missing.value == "fallback"
    finally:
        provider.session.close()
        openfeature.clear_providers()


def test_upstream_down_at_start__503_then_recovers(
    servers: ServerFactory, org: ApiClient, tmp_path: Path
) -> None:
    pid = f.create_project(org)["id"]
    flag = f.create_flag(org, pid, default_value="live")
    key = create_sdk_key(org, pid)
    port = free_port()  # nothing listens here yet
    upstream_url = f"http://127.0.0.1:{port}"
    with relay_process(upstream_url, key, tmp_path / "relay", ready=False) as relay:
        r = httpx.post(relay + f"/ofrep/v1/evaluate/flags/{flag['key']}", headers=bearer(key),
                       json={"context": {"targetingKey": "u1"}})  # fmt: skip
        assert r.status_code == 503
        assert r.headers["retry-after"] == "1"
        r = httpx.get(relay + "/api/sdk/config", headers=bearer(key))
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "config_not_ready"
        assert httpx.get(relay + "/ready").status_code == 503
        env = {**os.environ, "AVSB_DATA_DIR": str(servers.data_dir),
               "AVSB_DATABASE_URL": servers.database_url, "AVSB_ADMIN_TOKEN": servers.admin_token,
               "AVSB_EVENTS_URL": str(tmp_path / "events.duckdb"), "AVSB_LOG_LEVEL": "warning",
               "AVSB_SHUTDOWN_GRACE_SECONDS": "1"}  # fmt: skip
        command = [sys.executable, "-m", "avsb", "serve", "--port", str(port)]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            _wait_ready(upstream_url, proc)

            def served() -> bool:
                r = httpx.post(relay + f"/ofrep/v1/evaluate/flags/{flag['key']}",
                               headers=bearer(key),
                               json={"context": {"targetingKey": "u1"}})  # fmt: skip
                return r.status_code == 200 and r.json()["value"] == "live"

            _until(served, 15)  # the stream's reconnection backoff is at most 10 s
        finally:
            proc.terminate()
            proc.wait(timeout=15)
            if proc.stderr is not None:
                proc.stderr.close()
        # Upstream down later: the relay keeps answering from its copy.
        assert served()
