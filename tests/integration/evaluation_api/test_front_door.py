"""The hot-path front door (`avsb.server.hotpath`): the evaluation routes and /health answer
with the same envelope as the management app, and everything else reaches the management
app unchanged (other methods: 405 with Allow; the lifespan runs once)."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from fastapi import FastAPI

from avsb.server.app import create_app
from avsb.server.config import LATEST_API_VERSION
from avsb.server.db import Database
from avsb.server.hotpath.server import AvsbServer
from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import (
    SdkKey,
    abc,
    bearer,
    keyed_project,
    settle,
    signed,
)
from tests.support.servers import LiveServer, ServerFactory, new_org_client

SECURITY = ("x-content-type-options", "x-frame-options", "referrer-policy",
            "cross-origin-opener-policy", "content-security-policy", "cache-control")  # fmt: skip


def _hot_requests(basic: f.Json, key: SdkKey) -> list[tuple[str, str, dict[str, str], object]]:
    pid = basic["project"]["id"]
    context = {"context": {"targetingKey": "u1", "country": "US"}}
    flag = basic["flags"]["plain"]["key"]
    return [
        ("GET", "/health", {}, None),
        ("POST", "/abc/get_experiments", signed(key), {"project_id": pid, "unit_id": "u1"}),
        ("POST", "/abc/get_feature_flags", signed(key),
         {"project_id": pid, "unit_id": "u1", "feature_names": [flag]}),
        ("POST", f"/ofrep/v1/evaluate/flags/{flag}", bearer(key), context),
        ("POST", "/ofrep/v1/evaluate/flags", bearer(key), context),
        ("GET", "/api/sdk/config", bearer(key), None),
        ("POST", "/api/sdk/evaluate", bearer(key), {"unit_id": "u1"}),
    ]  # fmt: skip


def test_hot_paths__the_management_envelope(
    live_server: LiveServer, basic: f.Json, key: SdkKey
) -> None:
    with live_server.client() as client:
        reference = client.get("/readyz")  # answered by the management app
        for method, path, headers, body in _hot_requests(basic, key):
            r = client.request(method, path, headers={**headers, "X-Request-ID": "trace.1"},
                               json=body)  # fmt: skip
            assert r.status_code == 200, (path, r.text)
            assert r.headers["x-request-id"] == "trace.1"
            assert r.headers["avsb-api-version"] == LATEST_API_VERSION
            assert float(r.headers["x-process-time-ms"]) >= 0
            for name in SECURITY:
                assert r.headers[name] == reference.headers[name], (path, name)
            assert "access-control-allow-origin" not in r.headers
            generated = client.request(method, path, headers={**headers, "X-Request-ID": "no pe"},
                                       json=body)  # fmt: skip
            assert re.fullmatch(r"req_[0-9a-f]{24}", generated.headers["x-request-id"])


def test_unknown_api_version__400_envelope(live_server: LiveServer, key: SdkKey) -> None:
    for path in ("/health", "/api/sdk/config"):
        r = httpx.get(live_server.url + path, headers={**bearer(key), "AvsB-API-Version": "1999"})
        assert r.status_code == 400
        error = r.json()["error"]
        assert (error["code"], r.headers["x-error-code"]) == ("unsupported_api_version",) * 2
        assert error["request_id"] == r.headers["x-request-id"]
        assert r.headers["avsb-api-version"] == LATEST_API_VERSION


def test_declared_body_over_the_limit__413(servers: ServerFactory) -> None:
    live = servers.start(max_body_bytes=1024)
    big = b'{"context":{"targetingKey":"' + b"x" * 2000 + b'"}}'
    with live.client() as client:
        for path in ("/ofrep/v1/evaluate/flags", "/abc/get_experiments"):
            r = client.post(path, content=big)
            assert r.status_code == 413, path
            assert r.json()["error"]["code"] == "payload_too_large"
            assert r.headers["x-content-type-options"] == "nosniff"


def test_other_methods_and_paths__the_management_app(live_server: LiveServer) -> None:
    with live_server.client() as client:
        for method, path, allow in (("GET", "/abc/get_experiments", "POST"),
                                    ("POST", "/health", "GET"),
                                    ("GET", "/ofrep/v1/evaluate/flags/x", "POST")):  # fmt: skip
            r = client.request(method, path)
            assert r.status_code == 405, path
            assert r.json()["error"]["code"] == "method_not_allowed"
            assert allow in r.headers["allow"].split(", ")
        assert client.post("/ofrep/v1/evaluate/flags/a/b").status_code == 404
        assert client.get("/readyz").json() == {"status": "ready"}


def test_metrics__hot_routes_by_template(
    live_server: LiveServer, basic: f.Json, key: SdkKey
) -> None:
    with live_server.client() as client:
        flag = basic["flags"]["plain"]["key"]
        context = {"context": {"targetingKey": "u9"}}
        assert client.post(f"/ofrep/v1/evaluate/flags/{flag}", json=context,
                           headers=bearer(key)).status_code == 200  # fmt: skip
        text = client.get("/metrics").text
    pattern = r'avsb_http_requests_total\{method="POST",route="/ofrep/v1/evaluate/flags/\{key\}"'
    assert re.search(pattern, text)


def test_trusted_proxy__failures_counted_by_the_client_behind_it(servers: ServerFactory) -> None:
    """Failed keys are throttled per client behind a trusted proxy, not per proxy."""
    live = servers.start(trusted_proxies="127.0.0.1/32", auth_failures_per_minute=2)
    url = live.url + "/ofrep/v1/evaluate/flags"

    def attempt(client_ip: str) -> int:
        headers = {"Authorization": "Bearer avsb_sdk_nobody", "X-Forwarded-For": client_ip}
        return httpx.post(url, json={}, headers=headers).status_code

    assert [attempt("10.0.0.1") for _ in range(3)] == [401, 401, 429]
    assert attempt("10.0.0.2") == 401  # another client of the same proxy: not throttled


def test_create_app__front_door_over_the_management_app(servers: ServerFactory) -> None:
    """One Runtime, shared by the front door and the management app (no second copy)."""
    app = create_app(servers.settings(), database=Database(servers.database_url))
    try:
        assert isinstance(app, AvsbServer)
        assert isinstance(app.management, FastAPI)
        assert app.management.state.runtime is app.runtime
    finally:
        app.runtime.db.dispose()


@pytest.mark.parametrize(("burst", "calls"), [(5, 24), (100_000, 300)])
def test_concurrent_calls__the_bucket_admits_exactly_its_tokens(
    servers: ServerFactory, burst: int, calls: int
) -> None:
    """Calls that find the process's lease empty while another takes the next one wait for it
    (one take at a time): a small bucket still admits exactly its burst, a large one all."""
    server = servers.start(evaluation_rate_limit_per_minute=1, evaluation_rate_limit_burst=burst)
    try:
        with new_org_client(server) as org:
            sdk = keyed_project(org)
            settle(server)

        async def fire() -> list[int]:
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                context = {"context": {"targetingKey": "u1"}}
                calls_ = [client.post("/ofrep/v1/evaluate/flags", json=context,
                                      headers=bearer(sdk)) for _ in range(calls)]  # fmt: skip
                return [r.status_code for r in await asyncio.gather(*calls_)]

        statuses = asyncio.run(fire())
    finally:
        server.stop()
    admitted = min(burst, calls)
    assert sorted(statuses) == [200] * admitted + [429] * (calls - admitted)


def _lease_takes(client: httpx.Client) -> dict[str, float]:
    text = client.get("/metrics").text
    found = re.findall(r'avsb_evaluation_lease_takes_total\{when="(\w+)"\} ([\d.]+)', text)
    return {when: float(count) for when, count in found}


def test_lease_running_low__next_one_taken_ahead_requests_do_not_wait(
    servers: ServerFactory,
) -> None:
    """Under a high limit, the evaluation routes take the next rate-limit lease in the
    background once half of the current one is left, so no request waits because the lease
    was spent. A bucket of 4,000 tokens gives leases of 250 (1/16), so the 700 calls here
    need several; every token spent comes from a lease (all are admitted, and the bucket
    refills no whole token meanwhile)."""
    server = servers.start(evaluation_rate_limit_per_minute=1, evaluation_rate_limit_burst=4_000)
    try:
        with new_org_client(server) as org:
            sdk = keyed_project(org)
            settle(server)
        context = {"context": {"targetingKey": "u1"}}
        with server.client() as client:
            statuses = [
                client.post("/ofrep/v1/evaluate/flags", json=context, headers=bearer(sdk))
                for _ in range(700)
            ]
            takes = _lease_takes(client)
            remaining = [int(r.headers["x-ratelimit-remaining"]) for r in statuses]
    finally:
        server.stop()
    assert {r.status_code for r in statuses} == {200}
    # The first call waited for a take: there was no lease yet. Later ones may wait only where
    # a lease outlived its second (a very slow box), never because it was spent.
    assert takes.get("none") == 1.0
    assert "spent" not in takes
    assert takes.get("ahead", 0.0) >= 1.0  # at 125 tokens left of the first 250
    # What a call reports left: the bucket plus the lease, one fewer per call.
    assert remaining[0] == 3_999
    assert remaining[-1] == 4_000 - 700
    assert remaining == sorted(remaining, reverse=True)


@pytest.mark.parametrize("burst", [1_000, 3_000])
def test_leases_taken_ahead_under_concurrent_calls__exactly_the_bucket_admitted(
    servers: ServerFactory, burst: int
) -> None:
    """Leases taken ahead while concurrent calls spend the current one lose and double no
    token: a bucket of 1,000 (leases of 62 down to single tokens under 256 available) or
    3,000 admits exactly its tokens out of 400 more calls."""
    server = servers.start(evaluation_rate_limit_per_minute=1, evaluation_rate_limit_burst=burst)
    calls = burst + 400
    try:
        with new_org_client(server) as org:
            sdk = keyed_project(org)
            settle(server)

        async def fire() -> list[int]:
            statuses: list[int] = []
            context = {"context": {"targetingKey": "u1"}}

            async def client_loop(client: httpx.AsyncClient, share: int) -> None:
                for _ in range(share):  # one connection, one call after the other
                    r = await client.post("/ofrep/v1/evaluate/flags", json=context,
                                          headers=bearer(sdk))  # fmt: skip
                    statuses.append(r.status_code)

            clients = [httpx.AsyncClient(base_url=server.url, timeout=60) for _ in range(32)]
            try:  # 32 connections calling at once, as many calls as `calls` in all
                await asyncio.gather(*(client_loop(c, len(range(i, calls, 32)))
                                       for i, c in enumerate(clients)))  # fmt: skip
            finally:
                for c in clients:
                    await c.aclose()
            return statuses

        statuses = asyncio.run(fire())
        with server.client() as client:
            takes = _lease_takes(client)
    finally:
        server.stop()
    assert sorted(statuses) == [200] * burst + [429] * (calls - burst)
    assert takes.get("ahead", 0.0) >= 1.0


def _cache_reads(client: httpx.Client) -> dict[tuple[str, str], float]:
    text = client.get("/metrics").text
    pattern = r'avsb_evaluation_cache_reads_total\{cache="(\w+)",when="(\w+)"\} ([\d.]+)'
    return {(cache, when): float(n) for cache, when, n in re.findall(pattern, text)}


def test_busy_key__cache_entries_read_again_ahead_requests_do_not_wait(
    servers: ServerFactory,
) -> None:
    """A token and an SDK key's secrets are cached for `AVSB_AUTH_CACHE_SECONDS` (3 s here);
    a key in use has its entries read again in the last quarter of their life, off the
    request path. Over 8 s of calls (bearer and ABC-signed), the requests wait for the
    database once per cache, at the first call; without reads ahead they would wait again
    each time an entry ended (two or three times each here)."""
    server = servers.start(auth_cache_seconds=3)
    try:
        with new_org_client(server) as org:
            sdk = keyed_project(org)
            settle(server)
        context = {"context": {"targetingKey": "u1"}}
        statuses: list[int] = []
        with server.client() as client:
            deadline = time.monotonic() + 8.0
            while time.monotonic() < deadline:
                ofrep = client.post("/ofrep/v1/evaluate/flags", json=context, headers=bearer(sdk))
                signed_call = abc(client, "get_experiments", sdk,
                                  {"project_id": sdk.project_id, "unit_id": "u1"})  # fmt: skip
                statuses += [ofrep.status_code, signed_call.json()["ret_code"]]
                time.sleep(0.02)
            reads = _cache_reads(client)
    finally:
        server.stop()
    assert set(statuses) == {200, 100}
    assert reads.get(("token", "ahead"), 0.0) >= 1.0
    assert reads.get(("sdk_secrets", "ahead"), 0.0) >= 1.0
    # The first call of each kind read the database itself; a slow box may let one entry
    # run out between two calls (a gap of 0.75 s), never each entry in turn.
    assert reads.get(("token", "waited"), 0.0) <= 2.0
    assert reads.get(("sdk_secrets", "waited"), 0.0) <= 2.0
