"""What the process builds for good is built before the startup freeze: FastAPI builds a
route's field validators at its first match, and built under load they stayed in every full
garbage collection (a stall of every request in flight); the lifespan now has the router
build them before `gc.freeze()`."""

from __future__ import annotations

import gc

import httpx
from pydantic import TypeAdapter

from avsb.server.app import UNMATCHED_PATH
from tests.support.servers import ServerFactory


def _unfrozen_type_adapters() -> int:
    """Type adapters the collector still tracks (made after the last `gc.freeze()`)."""
    return sum(1 for o in gc.get_objects() if isinstance(o, TypeAdapter))


def test_first_management_requests__build_no_route_state_after_the_freeze(
    servers: ServerFactory,
) -> None:
    live = servers.start()  # its lifespan ran: route state built, then frozen
    try:
        before = _unfrozen_type_adapters()
        with live.admin() as admin:
            assert admin.get("/api/orgs").status_code == 200
            assert admin.post("/api/orgs", json={"name": "freeze"}).status_code == 201
        with httpx.Client(base_url=live.url) as anonymous:  # another route, refused
            assert anonymous.get("/api/orgs").status_code == 401
            assert anonymous.get("/api/no-such-route").status_code == 404  # visits every route
        # Without the warm-up these requests built some 2,600 adapters here.
        assert _unfrozen_type_adapters() - before < 20
    finally:
        live.stop()


def test_warm_up_path__matched_by_no_route(servers: ServerFactory) -> None:
    """The warm-up visits every route only because nothing matches its path; served, that
    path is an ordinary not-found."""
    live = servers.start()
    try:
        with live.admin() as admin:
            r = admin.get(UNMATCHED_PATH)
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
    finally:
        live.stop()
