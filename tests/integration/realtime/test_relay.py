"""`avsb relay` as its own process against a live server: the same answers as the upstream,
edits within 1 s, its own exposures forwarded, an SDK's exposures relayed (once, with the
relay's key only, 503 while the upstream is down), an upstream down at start, and the PyPI
OFREP provider evaluating through it."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from openfeature import api as openfeature
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext

from avsb_sdk import Client, Exposure, ExposureOptions
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
    stop_process,
)

UNITS = [f"user-{i}" for i in range(25)]
EXPOSURES = "/api/sdk/exposures"
AT = "2026-11-22T10:00:00Z"


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
        err = stop_process(proc)
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


def _batch(experiment: dict[str, Any], units: list[str]) -> dict[str, Any]:
    variants = [v["key"] for v in experiment["variants"]]
    return {"exposures": [{"experiment": experiment["key"], "variant": variants[i % 2],
                           "unit_id": unit, "timestamp": AT}
                          for i, unit in enumerate(units)]}  # fmt: skip


def _stored(upstream: LiveServer, project_id: str, units: list[str]) -> dict[str, int]:
    """Exposure rows per unit in the upstream's event store (of `units`)."""
    store = runtime(upstream).events.get()
    listed = ", ".join(f"'{u}'" for u in units)  # test-made ids: letters, digits, dashes
    rows = store.query(
        "SELECT unit_id, count(*) FROM ev_exposure "
        f"WHERE project_id = '{project_id}' AND unit_id IN ({listed}) GROUP BY unit_id"
    )
    return {str(unit): int(str(count)) for unit, count in rows}


def _units(prefix: str, n: int) -> list[str]:
    return [f"{prefix}-{uuid.uuid4().hex[:8]}-{i}" for i in range(n)]


def test_an_sdk_pointed_at_the_relay_delivers_its_exposures(
    upstream: LiveServer, relay: str, project: dict[str, Any]
) -> None:
    """The SDK assigns in process; its exposures reach the upstream only through the
    relay's `POST /api/sdk/exposures` (the relay never evaluates these units)."""
    key: SdkKey = project["key"]
    experiment = project["half"]["key"]
    units = _units("sdk", 40)
    client = Client(relay, key.secret, stream=False, exposures=ExposureOptions(flush_interval=0.1))
    try:
        assert client.wait_until_ready(10)
        assigned = {u for u in units if client.assign(experiment, u).assigned}
    finally:
        client.close()  # sends what is queued
    assert assigned
    assert client.exposures.sent == len(assigned)
    assert client.exposures.dropped == {"queue_full": 0, "rejected": 0, "failed": 0}
    assert _stored(upstream, key.project_id, units) == dict.fromkeys(assigned, 1)


def test_a_relayed_batch_sent_twice_counts_once(
    upstream: LiveServer, relay: str, project: dict[str, Any]
) -> None:
    key: SdkKey = project["key"]
    units = _units("twice", 12)
    body = _batch(project["half"], units)
    first = httpx.post(relay + EXPOSURES, headers=bearer(key), json=body)
    assert first.status_code == 200, first.text
    assert first.json() == {"data": {"accepted": 12, "duplicates": 0, "rejected": []}}
    assert first.headers["x-ratelimit-limit"]  # the relay's evaluation rate limit
    again = httpx.post(relay + EXPOSURES, headers=bearer(key), json=body)
    assert again.json() == {"data": {"accepted": 0, "duplicates": 12, "rejected": []}}
    assert _stored(upstream, key.project_id, units) == dict.fromkeys(units, 1)


def test_relayed_exposures_answer_as_the_upstream(
    upstream: LiveServer, relay: str, project: dict[str, Any]
) -> None:
    """Items and bodies the upstream refuses get its very answer (status, code, details),
    under the relay's own request id."""
    key: SdkKey = project["key"]
    good = _batch(project["half"], _units("same", 2))["exposures"]
    unknown = {**good[0], "experiment": "no_such_experiment"}
    metric = {"type": "metric", "event_name": "buy", "unit_id": "m", "value": 1, "timestamp": AT}
    bodies: list[bytes] = [
        b'{"exposures": [',
        b"[]",
        b'{"exposures": "all of them"}',
        httpx.Request("POST", "/", json={"exposures": [unknown, metric, good[1]]}).read(),
        httpx.Request("POST", "/", json={"exposures": good * 501}).read(),  # 1,002 items
    ]
    for body in bodies:
        headers = {**bearer(key), "Content-Type": "application/json"}
        ours, theirs = (httpx.post(u + EXPOSURES, headers=headers, content=body)
                        for u in (relay, upstream.url))  # fmt: skip
        assert ours.status_code == theirs.status_code, (body[:60], ours.text)
        if ours.status_code == 200:  # the relay's post went first: the upstream's are repeats
            mine, its = ours.json()["data"], theirs.json()["data"]
            assert (mine["accepted"], its["duplicates"]) == (1, 1)
            assert mine["rejected"] == its["rejected"]
            assert [r["code"] for r in mine["rejected"]] == ["unknown_experiment",
                                                              "exposures_only"]  # fmt: skip
            continue
        mine, its = ours.json()["error"], theirs.json()["error"]
        assert mine["request_id"] == ours.headers["x-request-id"]
        assert mine.pop("request_id") != its.pop("request_id")
        assert mine == its
        assert ours.headers["x-error-code"] == mine["code"]


def test_relayed_exposures_need_the_relays_key(
    upstream: LiveServer, relay: str, org: ApiClient, project: dict[str, Any]
) -> None:
    """Only the relay's own SDK key may write through it; a caller's other key, valid
    upstream for the same project, is refused before anything is forwarded."""
    other = create_sdk_key(org, project["pid"], name="not-the-relays-either")
    units = _units("nokey", 3)
    body = _batch(project["half"], units)
    for headers in ({}, bearer(other), {"Authorization": "Bearer avsb_sdk_guess"},
                    {"X-API-Key": other.secret}):  # fmt: skip
        r = httpx.post(relay + EXPOSURES, headers=headers, json=body)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthorized"
    assert _stored(upstream, project["pid"], units) == {}


def test_ofrep_and_abc_evaluations_log_their_exposures_upstream(
    upstream: LiveServer, relay: str, project: dict[str, Any]
) -> None:
    """OFREP (a flag bound to the experiment) and ABC answers log the relay's exposures as
    `/api/sdk/evaluate` does: its buffer forwards them, one row per assigned unit."""
    key: SdkKey = project["key"]
    ofrep_units, abc_units = _units("ofrep", 15), _units("abc", 15)
    flag = project["bound"]["key"]
    for unit in ofrep_units:
        r = httpx.post(relay + f"/ofrep/v1/evaluate/flags/{flag}", headers=bearer(key),
                       json={"context": {"targetingKey": unit}})  # fmt: skip
        assert r.status_code == 200, r.text
    for unit in abc_units:
        body = {"project_id": key.project_id, "unit_id": unit}
        r = httpx.post(relay + "/abc/get_experiments", headers=signed(key), json=body)
        assert r.json()["ret_code"] == 100, r.text
    # Which units the experiment takes: the SDK's own evaluation, sending nothing.
    with Client(relay, key.secret, stream=False, exposures=ExposureOptions(send=False)) as sdk:
        assert sdk.wait_until_ready(10)
        assigned = {u for u in ofrep_units + abc_units
                    if sdk.assign(project["half"]["key"], u).assigned}  # fmt: skip
    assert assigned & set(ofrep_units)
    assert assigned & set(abc_units)
    expected = dict.fromkeys(assigned, 1)
    _until(lambda: _stored(upstream, key.project_id, ofrep_units + abc_units) == expected, 10)


def test_the_pypi_ofrep_provider_evaluates_through_the_relay(
    relay: str, project: dict[str, Any]
) -> None:
    key: SdkKey = project["key"]
    domain = f"relay-{uuid.uuid4().hex[:8]}"
    provider = OFREPProvider(relay, headers_factory=lambda: bearer(key))
    openfeature.set_provider_and_wait(provider, domain)
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


def test_upstream_down__relayed_exposures_503__the_sdk_retries_and_delivers(
    servers: ServerFactory, org: ApiClient, tmp_path: Path
) -> None:
    """The relay keeps nothing: while its upstream is down it answers an SDK's batch 503
    `upstream_unavailable` (the SDK keeps the batch and retries), and once the upstream is
    back the retried batch is stored, once."""
    pid = f.create_project(org)["id"]
    experiment = f.create_experiment(org, pid)
    f.act(org, experiment["id"], "start")
    key = create_sdk_key(org, pid)
    port = free_port()
    env = {"AVSB_EVENTS_URL": str(tmp_path / "events.duckdb"), "AVSB_SHUTDOWN_GRACE_SECONDS": "1"}
    with contextlib.ExitStack() as stack:
        with servers.process_on(port, **env) as up:
            relay = stack.enter_context(relay_process(up.url, key, tmp_path / "relay"))
        # The upstream has stopped; the relay serves on from its last config.
        units = _units("down", 3)
        r = httpx.post(relay + EXPOSURES, headers=bearer(key), json=_batch(experiment, units))
        assert r.status_code == 503, r.text
        error = r.json()["error"]
        assert (error["code"], r.headers["retry-after"]) == ("upstream_unavailable", "1")
        assert "send them again" in error["message"]
        assert error["request_id"] == r.headers["x-request-id"]

        logged: list[Exposure] = []
        options = ExposureOptions(flush_interval=0.1, retry_base=0.2, max_attempts=12,
                                  on_exposure=logged.append)  # fmt: skip
        client = Client(relay, key.secret, stream=False, exposures=options)
        try:
            assert client.wait_until_ready(10)
            assigned = [
                u for u in _units("retry", 20) if client.assign(experiment["key"], u).assigned
            ]
            _until(lambda: len(client.exposures) == 0, 10)  # taken: in flight, failing
            time.sleep(0.5)
            assert client.exposures.sent == 0
            with servers.process_on(port, **env):
                _until(lambda: client.exposures.sent == len(assigned), 60)
                assert client.exposures.dropped == {"queue_full": 0, "rejected": 0, "failed": 0}
                sent = {"exposures": [e.as_event() for e in logged]}  # the SDK's batch
                again = httpx.post(relay + EXPOSURES, headers=bearer(key), json=sent)
                assert again.json()["data"] == {"accepted": 0, "duplicates": len(assigned),
                                                "rejected": []}  # fmt: skip
        finally:
            client.close()


HTML_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


class Front:
    """A reverse proxy on loopback in front of a real upstream, as a load balancer would
    stand: everything passes through (the config stream too, streamed), except that
    `POST /api/sdk/exposures` is answered with `answer` (status, content type, body) when
    one is set. It records the `X-Request-Id` of each exposures request it receives and of
    the upstream's answer to it."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.answer: tuple[int, bytes, bytes] | None = None
        self.request_ids: list[tuple[str | None, str | None]] = []  # (sent, answered)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = [(k, v) for k, v in scope["headers"] if k not in (b"host", b"content-length")]
        exposures = scope["method"] == "POST" and scope["path"] == EXPOSURES
        if exposures and self.answer is not None:
            sent = dict(headers).get(b"x-request-id")
            self.request_ids.append((sent.decode() if sent else None, None))
            status, kind, page = self.answer
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", kind)]})  # fmt: skip
            await send({"type": "http.response.body", "body": page})
            return
        url = self.upstream + scope["path"]
        if scope["query_string"]:
            url += "?" + scope["query_string"].decode()
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client:
            request = client.build_request(scope["method"], url, headers=headers, content=body)
            response = await client.send(request, stream=True)
            try:
                if exposures:
                    sent = request.headers.get("x-request-id")
                    self.request_ids.append((sent, response.headers.get("x-request-id")))
                passed = [(k, v) for k, v in response.headers.raw
                          if k.lower() not in (b"content-length", b"transfer-encoding",
                                               b"connection")]  # fmt: skip
                await send({"type": "http.response.start", "status": response.status_code,
                            "headers": passed})  # fmt: skip
                async for chunk in response.aiter_raw():
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            finally:
                await response.aclose()


@contextlib.contextmanager
def front_of(upstream: str) -> Iterator[tuple[str, Front]]:
    """A `Front` of `upstream` under uvicorn in a thread; its URL and the proxy."""
    front = Front(upstream)
    port = free_port()
    config = uvicorn.Config(front, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", timeout_graceful_shutdown=1)  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _until(lambda: server.started, 30)
    try:
        yield f"http://127.0.0.1:{port}", front
    finally:
        server.should_exit = True
        thread.join(timeout=15)


def test_the_relays_request_id_reaches_the_upstream__an_unreadable_answer_is_503(
    upstream: LiveServer, org: ApiClient, tmp_path: Path
) -> None:
    """Behind a proxy: a forwarded batch carries the relay's request id upstream (the
    upstream's answer echoes it); a proxy's HTML 502 page, or any answer the relay cannot
    read, is 503 `upstream_unavailable` with Retry-After in the error envelope, never a 500."""
    pid = f.create_project(org)["id"]
    experiment = f.create_experiment(org, pid)
    f.act(org, experiment["id"], "start")
    key = create_sdk_key(org, pid)
    settle(upstream)
    with front_of(upstream.url) as (url, front), relay_process(url, key, tmp_path) as relay:
        units = _units("front", 4)
        r = httpx.post(relay + EXPOSURES, headers=bearer(key), json=_batch(experiment, units))
        assert r.status_code == 200, r.text
        assert r.json()["data"]["accepted"] == 4
        rid = r.headers["x-request-id"]
        assert front.request_ids == [(rid, rid)]  # sent upstream, echoed by its answer
        assert _stored(upstream, key.project_id, units) == dict.fromkeys(units, 1)
        asked = "relay-test-" + uuid.uuid4().hex  # a caller's own id travels end to end
        headers = {**bearer(key), "X-Request-Id": asked}
        r = httpx.post(relay + EXPOSURES, headers=headers, json=_batch(experiment, units))
        assert r.json()["data"]["duplicates"] == 4
        assert front.request_ids[-1] == (asked, asked)
        assert r.headers["x-request-id"] == asked
        # The relay's own exposures (an ABC answer's) go up under a request id of its own.
        before = len(front.request_ids)
        body = {"project_id": key.project_id, "unit_id": "front-abc"}
        abc = httpx.post(relay + "/abc/get_experiments", headers=signed(key), json=body)
        assert abc.json()["ret_code"] == 100, abc.text
        _until(lambda: len(front.request_ids) > before, 10)
        own, echoed = front.request_ids[before]
        assert own is not None
        assert re.fullmatch(r"relay_[0-9a-f]{24}", own), own
        assert echoed == own
        assert _stored(upstream, key.project_id, ["front-abc"]) == {"front-abc": 1}

        unreadable = [
            (502, b"text/html", HTML_502),
            (200, b"text/html", b"<html>maintenance</html>"),
            (503, b"application/json", b'{"error": "down"}'),
            (429, b"application/json", b'{"error": {"message": "no code"}}'),
            (200, b"application/json", b'{"data": {"accepted": "many"}}'),
        ]
        for answer in unreadable:
            front.answer = answer
            sent = _units("unreadable", 2)
            r = httpx.post(relay + EXPOSURES, headers=bearer(key), json=_batch(experiment, sent))
            assert r.status_code == 503, (answer, r.text)
            error = r.json()["error"]
            assert error["code"] == "upstream_unavailable"
            assert f"answered {answer[0]} unreadably" in error["message"]
            assert error["request_id"] == r.headers["x-request-id"]
            assert r.headers["retry-after"] == "1"
            assert r.headers["x-error-code"] == "upstream_unavailable"
            got, answered = front.request_ids[-1]
            assert (got, answered is None) == (r.headers["x-request-id"], True)  # a page: no id
        front.answer = None  # the proxy recovers: the SDK's retry goes through
        r = httpx.post(relay + EXPOSURES, headers=bearer(key), json=_batch(experiment, sent))
        assert r.status_code == 200, r.text
        assert _stored(upstream, key.project_id, sent) == dict.fromkeys(sent, 1)


def test_an_upstream_429_reaches_the_sdk_as_it_came(
    servers: ServerFactory, org: ApiClient, tmp_path: Path
) -> None:
    """An upstream whose evaluation rate limit is nearly nil: once the key's bucket is
    spent, the relay answers the upstream's 429 with its code, message and Retry-After
    (the relay's own limit is far from spent)."""
    limited = servers.start(events_url=str(tmp_path / "events.duckdb"),
                            evaluation_rate_limit_per_minute=0.5,
                            evaluation_rate_limit_burst=4)  # fmt: skip
    try:
        pid = f.create_project(org)["id"]
        experiment = f.create_experiment(org, pid)
        f.act(org, experiment["id"], "start")
        key = create_sdk_key(org, pid)
        settle(limited)
        with relay_process(limited.url, key, tmp_path / "relay") as relay:  # the stream: 1
            answers = []
            for _ in range(6):
                answers.append(httpx.post(relay + EXPOSURES, headers=bearer(key),
                                          json=_batch(experiment, _units("limit", 2))))  # fmt: skip
                if answers[-1].status_code != 200:
                    break
            r = answers[-1]
            assert [a.status_code for a in answers[:-1]] == [200] * (len(answers) - 1)
            assert r.status_code == 429, r.text
            theirs = httpx.post(limited.url + EXPOSURES, headers=bearer(key),
                                json=_batch(experiment, _units("limit", 2)))  # fmt: skip
            assert theirs.status_code == 429
            mine, its = r.json()["error"], theirs.json()["error"]
            assert mine["code"] == its["code"] == "rate_limited"
            assert r.headers["x-error-code"] == "rate_limited"
            assert mine["message"] == its["message"]
            assert mine["request_id"] == r.headers["x-request-id"]
            # About two minutes until a token (0.5 a minute): the upstream's, not a relay's 1 s.
            assert 60 <= int(r.headers["retry-after"]) <= 121
            assert abs(int(r.headers["retry-after"]) - int(theirs.headers["retry-after"])) <= 1
            assert r.headers["x-ratelimit-limit"] == theirs.headers["x-ratelimit-limit"]
    finally:
        limited.stop()
