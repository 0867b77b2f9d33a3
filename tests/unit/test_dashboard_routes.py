"""Every dashboard page answers one (method, path): two page modules registering the same one
would leave the second unreachable (the first router included wins)."""

from __future__ import annotations

from collections import Counter

from fastapi.routing import APIRoute

from avsb.server.dashboard.routes import ROUTERS


def test_each_method_and_path__served_by_one_page() -> None:
    served = Counter(
        (method, route.path)
        for router in ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    )
    assert len(served) > 50
    assert [key for key, count in served.items() if count > 1] == []
