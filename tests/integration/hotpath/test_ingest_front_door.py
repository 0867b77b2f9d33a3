"""Event ingestion answered by the front door (`hotpath.ingest`) answers as the management
app's routes do: each request is sent to the live server (front door) and to its management
app in-process (the FastAPI routes of `ingestion.endpoints`, same runtime), and the two
answers are compared; then what only the front door can show (405 with Allow, 413, 429,
idempotent replays, CORS) is checked on the live server."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send

from avsb.server.hotpath.ingest import match
from avsb.server.hotpath.server import AvsbServer
from tests.integration.design.factories import create_experiment, create_project
from tests.integration.people.conftest import FAST_HASH, join
from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

Json = dict[str, Any]
T0 = "2026-03-01T12:00:00Z"
# Headers that differ between two answers by nature (time, server software, the request's id).
_PER_ANSWER = {"date", "server", "x-request-id", "x-process-time-ms", "x-ratelimit-remaining",
               "x-ratelimit-reset", "content-length"}  # fmt: skip


@pytest.fixture(scope="module")
def server(servers: ServerFactory) -> LiveServer:
    return servers.start(**FAST_HASH, login_failures_per_minute=1_000_000,
                         login_failures_per_account_per_minute=1_000_000)  # fmt: skip


@pytest.fixture(scope="module")
def client(server: LiveServer) -> Iterator[ApiClient]:
    with new_org_client(server) as api:
        yield api


@pytest.fixture(scope="module")
def project(client: ApiClient) -> Json:
    project = create_project(client)
    project["experiment"] = create_experiment(client, project["id"])
    return project


def metric(unit: str) -> Json:
    return {"type": "metric", "event_name": "purchase", "unit_id": unit, "timestamp": T0,
            "event_id": f"e-{unit}"}  # fmt: skip


def _management(server: LiveServer, method: str, path: str, headers: dict[str, str],
                body: bytes | None, cookies: dict[str, str]) -> httpx.Response:  # fmt: skip
    """The same request answered by the management app in-process (its routes, middleware
    and the live server's runtime; the front door is not in the way)."""

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=server.app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", cookies=cookies
        ) as http:
            return await http.request(method, path, headers=headers, content=body)

    return asyncio.run(call())


def both(server: LiveServer, method: str, path: str, *, headers: dict[str, str] | None = None,
         body: bytes | None = None, cookies: dict[str, str] | None = None,
         ) -> tuple[httpx.Response, httpx.Response]:  # fmt: skip
    """(front door's answer, management app's answer) to one request."""
    headers = headers or {}
    with httpx.Client(base_url=server.url, cookies=cookies or {}, timeout=30) as http:
        hot = http.request(method, path, headers=headers, content=body)
    return hot, _management(server, method, path, headers, body, cookies or {})


def assert_same(hot: httpx.Response, managed: httpx.Response) -> None:
    assert hot.status_code == managed.status_code, (hot.text, managed.text)
    hot_body, managed_body = hot.json(), managed.json()
    for answer, response in ((hot_body, hot), (managed_body, managed)):
        if "error" in answer:  # each names its own request
            assert answer["error"].pop("request_id") == response.headers["x-request-id"]
    assert hot_body == managed_body
    kept = {k: v for k, v in hot.headers.items() if k not in _PER_ANSWER}
    assert kept == {k: v for k, v in managed.headers.items() if k not in _PER_ANSWER}
    assert set(hot.headers) - {"date", "server"} == set(managed.headers)


def test_batch__accepted__as_the_management_route(server: LiveServer, client: ApiClient,
                                                  project: Json) -> None:  # fmt: skip
    path = client.org(f"/projects/{project['id']}/events")
    auth = {"Authorization": f"Bearer {client.token}", "Content-Type": "application/json"}
    hot, managed = both(
        server,
        "POST",
        path,
        headers=auth,
        body=orjson.dumps({"events": [metric("hot"), {"type": "nope"}]}),
    )
    assert hot.status_code == 200, hot.text
    assert hot.json()["data"]["accepted"] == 1
    assert hot.json()["data"]["rejected"][0]["index"] == 1
    assert int(hot.headers["x-ratelimit-limit"]) > 0
    # The same batch through the management route: one store, so the event is a duplicate;
    # the rejection reads the same.
    assert managed.status_code == 200, managed.text
    assert managed.json()["data"] == {**hot.json()["data"], "accepted": 0, "duplicates": 1}
    assert managed.headers["x-ratelimit-limit"] == hot.headers["x-ratelimit-limit"]


def test_per_experiment_route__accepted(server: LiveServer, client: ApiClient,
                                        project: Json) -> None:  # fmt: skip
    experiment = project["experiment"]
    path = client.org(f"/experiments/{experiment['id']}/conversions")
    event = {"event_name": "purchase", "unit_id": "u-exp", "timestamp": T0, "event_id": "c1"}
    r = client.post(path, json={"events": [event]})
    assert r.status_code == 200, r.text
    assert r.json()["data"] == {"accepted": 1, "duplicates": 0, "rejected": []}


@pytest.mark.parametrize(
    "body",
    [b"{", b"[]", b'{"events": {}}', b'{"events": [], "extra": 1}', b"null", b""],
    ids=["truncated", "array", "events-object", "extra-field", "null", "empty"],
)
def test_malformed_body__same_422(server: LiveServer, client: ApiClient, project: Json,
                                  body: bytes) -> None:  # fmt: skip
    path = client.org(f"/projects/{project['id']}/events")
    hot, managed = both(server, "POST", path, body=body,
                        headers={"Authorization": f"Bearer {client.token}"})  # fmt: skip
    assert hot.status_code == 422
    assert_same(hot, managed)


def _other_org_token(server: LiveServer) -> str:
    with new_org_client(server) as other:
        return other.token


def _scoped_token(server: LiveServer, client: ApiClient, scopes: list[str]) -> str:
    with server.admin() as admin:
        r = admin.post(client.org("/tokens"), json={"name": "t", "scopes": scopes})
        assert r.status_code == 201, r.text
        token: str = r.json()["data"]["token"]
    return token


def _sdk_key(server: LiveServer, client: ApiClient, project: Json) -> str:
    with server.admin() as admin:
        body = {"name": "sdk", "kind": "sdk", "project_id": project["id"]}
        r = admin.post(client.org("/tokens"), json=body)
        assert r.status_code == 201, r.text
        token: str = r.json()["data"]["token"]
    return token


@pytest.mark.parametrize(
    "case", ["no-token", "bad-token", "sdk-key", "scope-missing", "other-org", "unknown-project",
             "unknown-experiment", "bad-api-version", "x-api-key"],
)  # fmt: skip
def test_refusals__same_answer(server: LiveServer, client: ApiClient, project: Json,
                               case: str) -> None:  # fmt: skip
    path = client.org(f"/projects/{project['id']}/events")
    token: str | None = client.token
    headers: dict[str, str] = {}
    if case == "no-token":
        token = None
    elif case == "bad-token":
        token = "avsb_svc_" + secrets.token_hex(16)
    elif case == "sdk-key":
        token = _sdk_key(server, client, project)
    elif case == "scope-missing":
        token = _scoped_token(server, client, ["experiments:read"])
    elif case == "other-org":
        token = _other_org_token(server)
    elif case == "unknown-project":
        path = client.org("/projects/prj_nope/events")
    elif case == "unknown-experiment":
        path = client.org("/experiments/exp_nope/exposures")
    elif case == "bad-api-version":
        headers["AvsB-API-Version"] = "1999-01-01"
    elif case == "x-api-key":
        headers["X-API-Key"] = token or ""
        token = None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    body = orjson.dumps({"events": [metric(f"refused-{case}")]})
    hot, managed = both(server, "POST", path, headers=headers, body=body)
    expected = {"no-token": 401, "bad-token": 401, "sdk-key": 403, "scope-missing": 403,
                "other-org": 404, "unknown-project": 404, "unknown-experiment": 404,
                "bad-api-version": 400, "x-api-key": 200}  # fmt: skip
    assert hot.status_code == expected[case], hot.text
    if case == "x-api-key":  # both stored it: the second one is a duplicate
        assert hot.json()["data"]["accepted"] + managed.json()["data"]["accepted"] == 1
        return
    assert_same(hot, managed)


def test_session_cookie__csrf_checked_as_on_the_management_app(
    server: LiveServer, client: ApiClient, project: Json
) -> None:
    editor = join(server, client.org_id, "editor")
    try:
        cookies = {"avsb_session": editor.session_cookie}
        path = client.org(f"/projects/{project['id']}/events")
        body = orjson.dumps({"events": [metric("by-cookie")]})
        json_type = {"Content-Type": "application/json"}
        hot, managed = both(server, "POST", path, headers=json_type, body=body, cookies=cookies)
        assert hot.status_code == 403
        assert hot.json()["error"]["code"] == "csrf_failed"
        assert_same(hot, managed)
        csrf = {**json_type, "X-CSRF-Token": editor.client.headers["X-CSRF-Token"]}
        hot, managed = both(server, "POST", path, headers=csrf, body=body, cookies=cookies)
        assert hot.status_code == managed.status_code == 200, (hot.text, managed.text)
        assert hot.json()["data"]["accepted"] + managed.json()["data"]["accepted"] == 1
    finally:
        editor.client.close()


def test_idempotency_key__replayed_then_conflict(client: ApiClient, project: Json) -> None:
    path = client.org(f"/projects/{project['id']}/events")
    key = {"Idempotency-Key": "ingest-" + secrets.token_hex(6)}
    body = orjson.dumps({"events": [metric("idem-1")]})
    first = client.post(path, content=body, headers=key)
    replay = client.post(path, content=body, headers=key)
    assert first.status_code == replay.status_code == 200, (first.text, replay.text)
    assert first.json()["data"] == {"accepted": 1, "duplicates": 0, "rejected": []}
    assert replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()  # the stored answer, not a second ingest
    other = client.post(path, content=orjson.dumps({"events": [metric("idem-2")]}), headers=key)
    assert other.status_code == 409, other.text
    assert other.json()["error"]["code"] == "idempotency_conflict"
    # A failed request releases its key: the corrected body under the same key is taken.
    retry_key = {"Idempotency-Key": "ingest-" + secrets.token_hex(6)}
    assert client.post(path, content=b"{", headers=retry_key).status_code == 422
    fixed = client.post(path, content=orjson.dumps({"events": [metric("idem-3")]}),
                        headers=retry_key)  # fmt: skip
    assert fixed.status_code == 200, fixed.text
    assert "idempotent-replayed" not in fixed.headers


def test_other_methods__405_with_allow(client: ApiClient, project: Json) -> None:
    for path in (client.org(f"/projects/{project['id']}/events"),
                 client.org(f"/experiments/{project['experiment']['id']}/exposures")):  # fmt: skip
        r = client.get(path)
        assert r.status_code == 405, r.text
        assert r.json()["error"]["code"] == "method_not_allowed"
        assert "POST" in r.headers["allow"]
        options = client.options(path)
        assert "POST" in options.headers["allow"]


def test_cors__none_on_ingestion(server: LiveServer, client: ApiClient, project: Json) -> None:
    """Ingestion is a management route: same-origin, no CORS headers from either door."""
    path = client.org(f"/projects/{project['id']}/events")
    origin = {"Origin": "https://app.example", "Authorization": f"Bearer {client.token}"}
    hot, managed = both(server, "POST", path, headers=origin,
                        body=orjson.dumps({"events": []}))  # fmt: skip
    assert hot.status_code == 200, hot.text
    assert "access-control-allow-origin" not in hot.headers
    assert_same(hot, managed)
    preflight = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}
    r = httpx.options(server.url + path, headers=preflight)
    assert "access-control-allow-origin" not in r.headers


def test_limits__413_and_429(servers: ServerFactory) -> None:
    tight = servers.start(max_body_bytes=4096, rate_limit_per_minute=1.0, rate_limit_burst=3)
    try:
        with new_org_client(tight) as api:
            project = create_project(api)
            path = api.org(f"/projects/{project['id']}/events")
            big = orjson.dumps({"events": [metric(f"u{i}") for i in range(200)]})
            declared = api.post(path, content=big)
            assert declared.status_code == 413, declared.text
            assert declared.json()["error"]["code"] == "payload_too_large"

            def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds while read
                yield big[:2000]
                yield big[2000:]

            streamed = api.post(path, content=chunks())
            assert streamed.status_code == 413, streamed.text
            assert streamed.json()["error"]["code"] == "payload_too_large"
            answers = [api.post(path, json={"events": []}) for _ in range(4)]
            limited = answers[-1]
            assert limited.status_code == 429, [a.status_code for a in answers]
            assert limited.json()["error"]["code"] == "rate_limited"
            assert int(limited.headers["retry-after"]) >= 1
            assert limited.headers["x-ratelimit-remaining"] == "0"
    finally:
        tight.stop()


def test_front_door__answers_ingestion_itself(server: LiveServer, client: ApiClient,
                                              project: Json) -> None:  # fmt: skip
    """POSTs to the ingestion routes never reach the management app; other methods do."""
    forwarded: list[str] = []

    async def management(scope: Scope, receive: Receive, send: Send) -> None:
        forwarded.append(f"{scope['method']} {scope['path']}")
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    door = AvsbServer(management, server.app.state.runtime)  # the live server's runtime
    events = client.org(f"/projects/{project['id']}/events")
    conversions = client.org(f"/experiments/{project['experiment']['id']}/conversions")
    auth = {"Authorization": f"Bearer {client.token}"}

    async def call() -> list[int]:
        transport = httpx.ASGITransport(app=door)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            body = orjson.dumps({"events": []})
            return [
                (await http.post(events, content=body, headers=auth)).status_code,
                (await http.post(conversions, content=body, headers=auth)).status_code,
                (await http.get(events, headers=auth)).status_code,
                (await http.post(events + "/", content=body, headers=auth)).status_code,
            ]

    assert asyncio.run(call()) == [200, 200, 418, 418]
    assert forwarded == [f"GET {events}", f"POST {events}/"]


@pytest.mark.parametrize(
    ("path", "expected"),
    [("/api/orgs/o/projects/p/events", ("/api/orgs/{org_id}/projects/{project_id}/events",
                                        "o", "p", "")),
     ("/api/orgs/o/experiments/e/pre-period",
      ("/api/orgs/{org_id}/experiments/{experiment_id}/pre-period", "o", "e", "pre-period")),
     ("/api/orgs/o/projects/p/events/", None), ("/api/orgs//projects/p/events", None),
     ("/api/orgs/o/experiments/e/results", None), ("/api/orgs/o/projects/p/flags", None),
     ("/api/orgs/o/x/projects/p/events", None)],
)  # fmt: skip
def test_match__one_segment_per_parameter(path: str, expected: object) -> None:
    assert match(path) == expected
