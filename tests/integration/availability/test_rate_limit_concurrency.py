"""Concurrent requests on one bucket admit exactly ``burst``: no token is lost or spent twice,
within one process and across two processes' limiters sharing the database (SQLite and
PostgreSQL: the suite's metadata database)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.support.servers import LiveServer, ServerFactory, new_org_client

THREADS = 100
BURSTS = (50, 300)  # the bursts of the cases below


@pytest.fixture(scope="module")
def limited(servers: ServerFactory) -> Callable[[int], list[LiveServer]]:
    """Two servers per burst (two limiters, each with its own leases) over one database,
    with one token a minute: the few seconds a test takes refill no whole token."""
    started: dict[int, list[LiveServer]] = {}
    for burst in BURSTS:  # here, not in a test: a server a test starts stops when it ends
        limits = {"rate_limit_per_minute": 1.0, "rate_limit_burst": burst}
        started[burst] = [servers.start(**limits), servers.start(**limits)]
    return started.__getitem__


def _storm(urls: list[str], token: str, requests: int) -> Counter[int]:
    """``requests`` requests from ``THREADS`` threads released at once, spread over ``urls``;
    their statuses."""
    barrier = threading.Barrier(THREADS)

    def one(index: int) -> list[int]:
        url = urls[index % len(urls)]
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=60) as client:
            # No connection made before the barrier: an idle one may be closed by the server
            # (keep-alive timeout) while slow threads are still being started.
            barrier.wait(timeout=60)
            mine = range(index, requests, THREADS)
            return [client.get("/api/me").status_code for _ in mine]

    with ThreadPoolExecutor(THREADS) as pool:
        return Counter(status for statuses in pool.map(one, range(THREADS)) for status in statuses)


@pytest.mark.parametrize(
    ("burst", "requests", "processes"),
    [
        (50, 100, 1),  # one token per take
        (50, 100, 2),
        (300, 400, 1),  # leases of up to 18 tokens taken by concurrent threads
    ],
)
def test_concurrent_requests__exactly_burst_admitted(
    limited: Callable[[int], list[LiveServer]], burst: int, requests: int, processes: int
) -> None:
    servers = limited(burst)
    with new_org_client(servers[0]) as api:
        statuses = _storm([s.url for s in servers[:processes]], api.token, requests)
        assert statuses == {200: burst, 429: requests - burst}
        # The bucket is empty now: the next request is refused with a Retry-After.
        after = api.get("/api/me")
        assert after.status_code == 429
        assert int(after.headers["Retry-After"]) >= 1
