"""Server-sent events of config versions through real HTTP: `GET /api/sdk/config/stream` and
the OFREP `eventStreams` endpoint; latency of an edit, Last-Event-ID, heartbeats, bounds."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, bearer, create_sdk_key, settle
from tests.integration.realtime.sse import SseClient
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

STREAM = "/api/sdk/config/stream"


@pytest.fixture(scope="module")
def server(servers: ServerFactory) -> LiveServer:
    return servers.start(sse_heartbeat_seconds=0.3, sse_max_streams_per_key=2)


@pytest.fixture(scope="module")
def org(server: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(server) as client:
        yield client


def _project(org: ApiClient) -> tuple[SdkKey, f.Json]:
    pid = f.create_project(org)["id"]
    flag = f.create_flag(org, pid, default_value="before")
    key = create_sdk_key(org, pid)
    settle(org.server)
    return key, flag


def _config_etag(server: LiveServer, key: SdkKey) -> str:
    r = httpx.get(server.url + "/api/sdk/config", headers=bearer(key))
    assert r.status_code == 200, r.text
    return r.headers["etag"]


def _edit(org: ApiClient, flag: f.Json, value: str) -> float:
    r = org.patch(org.org(f"/flags/{flag['id']}"), json={"default_value": value})
    assert r.status_code == 200, r.text
    return time.monotonic()


def test_an_edit_reaches_a_connected_stream_within_1s(server: LiveServer, org: ApiClient) -> None:
    key, flag = _project(org)
    with SseClient(server.url, STREAM, bearer(key)) as stream:
        assert stream.status == 200
        assert stream.response.getheader("content-type", "").startswith("text/event-stream")
        first = stream.event()
        assert first.event == "config"
        assert json.loads(first.data)["etag"] == _config_etag(server, key)
        delays = []
        for value in ("one", "two", "three"):
            written = _edit(org, flag, value)
            event = stream.event(timeout=5)
            delays.append(event.at - written)
            data = json.loads(event.data)
            assert event.id == data["version"] != first.id
            assert data["etag"] == _config_etag(server, key)  # the version now served
        assert max(delays) < 0.8, delays


def test_include_config_carries_the_new_config(server: LiveServer, org: ApiClient) -> None:
    key, flag = _project(org)
    with SseClient(server.url, STREAM + "?include=config", bearer(key)) as stream:
        stream.event()
        _edit(org, flag, "carried")
        data = json.loads(stream.event().data)
        values = {fl["key"]: fl["default_value"] for fl in data["config"]["flags"]}
        assert values[flag["key"]] == "carried"
    r = httpx.get(server.url + STREAM + "?include=everything", headers=bearer(key))
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "invalid_parameter"


def test_last_event_id_resumes(server: LiveServer, org: ApiClient) -> None:
    key, flag = _project(org)
    with SseClient(server.url, STREAM, bearer(key)) as stream:
        old = stream.event().id
    assert old is not None
    with SseClient(server.url, STREAM, {**bearer(key), "Last-Event-ID": old}) as stream:
        assert stream.no_event(within=0.7)  # up to date: nothing to send
    _edit(org, flag, "missed")
    settle(server)
    started = time.monotonic()
    with SseClient(server.url, STREAM, {**bearer(key), "Last-Event-ID": old}) as stream:
        event = stream.event(timeout=2)
        assert event.at - started < 0.5  # at once, not at the next change
        assert event.id != old
        assert json.loads(event.data)["etag"] == _config_etag(server, key)


def test_heartbeats_are_comment_lines(server: LiveServer, org: ApiClient) -> None:
    key, _ = _project(org)
    with SseClient(server.url, STREAM, bearer(key)) as stream:
        stream.event()
        text, _ = stream.comments.get(timeout=2)  # every 0.3 s here
        assert text == "ping"
        stream.comments.get(timeout=2)


def test_streams_per_key_are_bounded(server: LiveServer, org: ApiClient) -> None:
    key, _ = _project(org)
    with (
        SseClient(server.url, STREAM, bearer(key)) as one,
        SseClient(server.url, STREAM, bearer(key)) as two,
    ):
        assert one.status == two.status == 200
        over = SseClient(server.url, STREAM, bearer(key))
        assert over.status == 429
        error = json.loads(over.body)["error"]
        assert error["code"] == "too_many_streams"
        assert error["request_id"]
        assert over.response.getheader("retry-after") == "5"
        other_key = create_sdk_key(org, key.project_id, name="other")
        with SseClient(server.url, STREAM, bearer(other_key)) as other:
            assert other.status == 200  # the bound is per key
    deadline = time.monotonic() + 5
    while True:  # the server sees the disconnects and frees the slots
        again = SseClient(server.url, STREAM, bearer(key))
        if again.status == 200:
            again.close()
            break
        assert time.monotonic() < deadline, "closed streams were not released"
        time.sleep(0.05)


def test_a_stream_needs_an_sdk_key(server: LiveServer, org: ApiClient) -> None:
    r = httpx.get(server.url + STREAM)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "unauthorized"
    r = httpx.get(server.url + STREAM, headers={"Authorization": f"Bearer {org.token}"})
    assert r.status_code == 403


def _bulk(server: LiveServer, key: SdkKey) -> httpx.Response:
    return httpx.post(server.url + "/ofrep/v1/evaluate/flags", headers=bearer(key),
                      json={"context": {"targetingKey": "u1"}})  # fmt: skip


def test_ofrep_event_streams(server: LiveServer, org: ApiClient) -> None:
    key, flag = _project(org)
    bulk = _bulk(server, key)
    assert bulk.status_code == 200
    streams = bulk.json()["eventStreams"]
    assert [s["type"] for s in streams] == ["sse"]
    uri = streams[0]["endpoint"]["requestUri"]
    assert uri.startswith("/ofrep/v1/events?token=")
    assert _bulk(server, key).json()["eventStreams"] == streams  # stable: the ETag holds
    with SseClient(server.url, uri) as stream:  # no headers: as a browser EventSource
        assert stream.status == 200
        assert stream.no_event(within=0.5)  # the provider just fetched: nothing to refetch
        written = _edit(org, flag, "pushed")
        event = stream.event(timeout=5)
        assert event.at - written < 0.8
        assert event.event == "message"
        assert event.id
        data = json.loads(event.data)
        assert data["type"] == "refetchEvaluation"
        assert data["etag"] == _config_etag(server, key)
        refetch = httpx.post(  # as ADR 0008's provider refetches: the query is accepted
            server.url + "/ofrep/v1/evaluate/flags",
            params={"flagConfigEtag": data["etag"]},
            headers=bearer(key),
            json={"context": {"targetingKey": "u1"}},
        )
        assert refetch.status_code == 200
        values = {fl["key"]: fl["value"] for fl in refetch.json()["flags"]}
        assert values[flag["key"]] == "pushed"
    forged = uri[:-3] + ("AAA" if not uri.endswith("AAA") else "BBB")
    with SseClient(server.url, forged) as stream:
        assert stream.status == 401
        assert json.loads(stream.body)["error"]["code"] == "unauthorized"


def test_ofrep_stream_of_a_revoked_key_is_refused(server: LiveServer, org: ApiClient) -> None:
    key, _ = _project(org)
    uri = _bulk(server, key).json()["eventStreams"][0]["endpoint"]["requestUri"]
    r = org.post(org.org(f"/tokens/{key.id}/revoke"))
    assert r.status_code in (200, 204), r.text
    deadline = time.monotonic() + 5
    while (status := SseClient(server.url, uri)).status == 200:
        status.close()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert status.status == 401
