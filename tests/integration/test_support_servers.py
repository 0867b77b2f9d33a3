"""The test servers' lifetimes: a test's or a module's own servers stop when it ends; a shared
one (of a session or package fixture) keeps running whenever it was first asked for."""

from __future__ import annotations

import httpx
import pytest

from tests.support.servers import ServerFactory, started_count, stop_started_since


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=10.0).status_code == 200
    except httpx.TransportError:
        return False


def test_stop_since_a_mark__spares_a_shared_server(servers: ServerFactory) -> None:
    mark = started_count()
    own = servers.start()
    shared = servers.start_shared()  # first asked for after the mark, as a late fixture
    try:
        assert _up(own.url)
        assert _up(shared.url)
        stop_started_since(mark)
        assert not _up(own.url)
        assert _up(shared.url)
    finally:
        shared.stop()
        own.stop()


@pytest.mark.parametrize("shared", [False, True])
def test_stop_is_idempotent(servers: ServerFactory, shared: bool) -> None:
    live = servers.start_shared() if shared else servers.start()
    live.stop()
    live.stop()
    assert not _up(live.url)
