"""Every dashboard page is gated: signed out -> sign-in page; each role gets the page or a 403
exactly as its scopes say (GET for every page, a forged POST for every write the role lacks)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute

from avsb.server.auth.roles import ROLE_SCOPES, ROLES
from avsb.server.auth.scopes import grants
from avsb.server.dashboard.core import PageRoute
from tests.integration.dashboard.conftest import Team, browser_client
from tests.support.servers import LiveServer

PUBLIC = {"/login", "/join/{token}"}


@dataclass(frozen=True)
class PageGate:
    method: str
    path: str
    scope: str | None


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, PageRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _routes(route.original_router.routes)


def _page_scope(route: APIRoute) -> tuple[bool, str | None]:
    """(whether the route has a page gate, its scope)."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is not None and hasattr(dep.call, "page_scope"):
            return True, dep.call.page_scope
        stack.extend(dep.dependencies)
    return False, None


def page_gates(app: Any) -> list[PageGate]:
    gates = []
    for route in _routes(app.routes):
        gated, scope = _page_scope(route)
        if route.path in PUBLIC:
            assert not gated
            continue
        assert gated, f"{route.path} has no page gate"
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            gates.append(PageGate(method, route.path, scope))
    return gates


def _url(gate: PageGate, org_id: str) -> str:
    return re.sub(r"\{[^}]+\}", "missing0", gate.path.replace("{org_id}", org_id))


def test_every_page__gated_by_role(dash_server: LiveServer, team: Team) -> None:
    gates = page_gates(dash_server.app)
    assert len(gates) >= 10
    wrong: list[str] = []
    with browser_client(dash_server) as anonymous:
        for gate in gates:
            url = _url(gate, team.org_id)
            r = anonymous.request(gate.method, url)
            if gate.method == "GET" and not (
                r.status_code == 303 and r.headers["location"].startswith("/login?next=")
            ):
                wrong.append(f"signed out {gate.method} {gate.path}: {r.status_code}")
            if gate.method == "POST" and r.status_code not in (303, 403):
                wrong.append(f"signed out {gate.method} {gate.path}: {r.status_code}")
            for role in ROLES:
                allowed = gate.scope is None or grants(ROLE_SCOPES[role], gate.scope)
                person = team[role]
                if gate.method == "GET":
                    r = person.get(url)
                elif allowed:
                    continue  # a permitted POST would act; the pages' own tests cover those
                else:
                    r = person.post_form(url, {"etag": "x", "name": "forged"})
                denied = r.status_code == 403
                if denied == allowed or r.status_code >= 500:
                    wrong.append(f"{role} {gate.method} {gate.path}: {r.status_code}")
    assert not wrong, "\n".join(wrong)
