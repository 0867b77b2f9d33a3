"""Token use is audited as ``token.used`` at most once per token per audit window (an hour by
default), with the client address (behind a trusted proxy: the forwarded one), written by the
batched ``last_used_at`` flush; two live servers on one database write one event between them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.servers import ApiClient, LiveServer, ServerFactory, new_org_client

FLUSH = 0.2  # seconds between last-used flushes


@pytest.fixture(scope="module")
def pair(servers: ServerFactory) -> list[LiveServer]:
    """Two servers (each its own authenticator and flush) over the suite's one database,
    behind a trusted proxy on loopback; the audit window is an hour."""
    opts: dict[str, Any] = {
        "token_last_used_flush_seconds": FLUSH,
        "trusted_proxies": "127.0.0.0/8, ::1",
    }
    return [servers.start(**opts), servers.start(**opts)]


WINDOW = 3.0  # seconds: the short audit window


@pytest.fixture(scope="module")
def short_window(servers: ServerFactory) -> LiveServer:
    """A server whose audit window is 3 s, reached directly (X-Forwarded-For ignored)."""
    return servers.start(token_last_used_flush_seconds=FLUSH, token_used_audit_seconds=WINDOW)


@pytest.fixture
def org(pair: list[LiveServer]) -> Iterator[ApiClient]:
    with new_org_client(pair[0]) as client:
        yield client


def _mint(api: ApiClient) -> tuple[str, str]:
    body = {"name": "used", "scopes": ["projects:read"]}
    created = api.post(api.org("/tokens"), json=body)
    assert created.status_code == 201, created.text
    return created.json()["data"]["id"], created.json()["data"]["token"]


def _used_events(api: ApiClient, token_id: str) -> list[dict[str, Any]]:
    time.sleep(FLUSH * 4)  # every server flushed at least once since the last request
    listed = api.get(api.org("/audit"), params={"action": "token.used", "resource_id": token_id})
    assert listed.status_code == 200, listed.text
    events: list[dict[str, Any]] = listed.json()["data"]
    return events


def test_used__one_event_from_two_servers_with_forwarded_address(
    org: ApiClient, pair: list[LiveServer]
) -> None:
    token_id, secret = _mint(org)
    assert _used_events(org, token_id) == []
    # Requests through both servers, over several flushes of each.
    for round_ in range(6):
        for server in pair:
            with server.client(secret) as client:
                forwarded = {"X-Forwarded-For": f"203.0.113.{round_ + 1}"}
                assert client.get("/api/me", headers=forwarded).status_code == 200
        time.sleep(FLUSH / 2)
    events = _used_events(org, token_id)
    assert len(events) == 1, events
    (event,) = events
    assert event["resource_type"] == "token"
    assert (event["actor_type"], event["actor_id"]) == ("token", token_id)
    assert event["source"] == "api"
    assert event["ip"].startswith("203.0.113.")  # the client behind the proxy, not 127.0.0.1

    read = org.get(org.org(f"/tokens/{token_id}")).json()["data"]
    assert read["last_used_at"] is not None
    # More use within the hour: still the one event.
    with pair[1].client(secret) as client:
        assert client.get("/api/me").status_code == 200
    assert len(_used_events(org, token_id)) == 1


def test_used__one_event_from_two_server_processes(org: ApiClient, servers: ServerFactory) -> None:
    """The same with two `avsb serve` OS processes flushing every 0.2 s."""
    token_id, secret = _mint(org)
    env = {"AVSB_TOKEN_LAST_USED_FLUSH_SECONDS": str(FLUSH)}
    with servers.process(**env) as first, servers.process(**env) as second:
        for _ in range(5):
            for server in (first, second):
                with server.client(secret) as client:
                    assert client.get("/api/me").status_code == 200
            time.sleep(FLUSH / 2)
        events = _used_events(org, token_id)
    assert len(events) == 1, events
    assert events[0]["ip"] == "127.0.0.1"


def test_used__again_after_the_window_never_within(short_window: LiveServer) -> None:
    """Uses answered within the window of the first one add no event; a use sent a window
    after the last of them does. The times are the test's own clock: the server stamps a use
    no earlier than it was sent and no later than it was answered."""
    with new_org_client(short_window) as api:
        token_id, secret = _mint(api)
        with short_window.client(secret) as client:
            first_sent = time.monotonic()
            answered = first_sent
            for _ in range(3):  # over several flushes, within a third of the window
                if answered - first_sent > WINDOW / 3:
                    break
                forwarded = {"X-Forwarded-For": "198.51.100.7"}  # not a trusted proxy: ignored
                assert client.get("/api/me", headers=forwarded).status_code == 200
                answered = time.monotonic()
                time.sleep(FLUSH)
            assert answered - first_sent < WINDOW, "the uses meant to fall within took too long"
            assert len(_used_events(api, token_id)) == 1
            time.sleep(max(0.0, answered + WINDOW + 0.2 - time.monotonic()))
            assert client.get("/api/me").status_code == 200
        events = _used_events(api, token_id)
    assert len(events) == 2, events
    assert {e["ip"] for e in events} == {"127.0.0.1"}


def test_unused_token__no_event(org: ApiClient) -> None:
    token_id, _ = _mint(org)
    assert _used_events(org, token_id) == []
