"""The access matrix, generated: every management route x every role x {session, PAT}.

Expected answers come from the one role -> scopes mapping (``avsb.server.auth.roles``), which
docs/access.md shows as a table (checked here too)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from avsb.server.auth.roles import ROLE_SCOPES, ROLES
from avsb.server.auth.scopes import FAMILIES, grants
from avsb.server.dashboard.core import PageRoute
from tests.integration.people.conftest import Team, bearer, make_pat
from tests.support.servers import LiveServer

DOCS = Path(__file__).resolve().parents[3] / "docs" / "access.md"
DENIED = {"scope_missing", "admin_required", "owner_required"}


@dataclass(frozen=True)
class Gate:
    method: str
    path: str
    scope: str | None
    admin_only: bool
    owner_only: bool = False


def _gate_of(route: APIRoute) -> tuple[str | None, bool, bool] | None:
    """The scope (and admin-only, owner-only flags) of the route's ``require`` dependency, if
    it has one."""
    stack = list(route.dependant.dependencies)
    while stack:
        dep = stack.pop()
        if dep.call is not None and hasattr(dep.call, "required_scope"):
            flags = (bool(getattr(dep.call, f, False)) for f in ("admin_only", "owner_only"))
            return dep.call.required_scope, *flags
        stack.extend(dep.dependencies)
    return None


def _api_routes(routes: list[Any]) -> Iterator[APIRoute]:
    """The API routes, also inside included routers (``original_router``); not the dashboard's
    pages (tests/integration/dashboard/test_page_gates.py checks their gates)."""
    for route in routes:
        if isinstance(route, PageRoute):
            continue
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from _api_routes(route.original_router.routes)


def management_gates(app: Any) -> list[Gate]:
    """Every authenticated route of the app but sign-in (``/auth``): health, docs and the
    OpenAPI document have no gate; the one that ends all of one's sessions goes last."""
    gates = []
    for route in _api_routes(app.routes):
        if route.path.startswith("/auth"):
            continue
        gate = _gate_of(route)
        if gate is None:
            continue
        for method in sorted((route.methods or set()) - {"HEAD", "OPTIONS"}):
            gates.append(Gate(method, route.path, *gate))
    return sorted(gates, key=lambda g: (g.path == "/api/me/sessions" and g.method == "DELETE",))


def _url(gate: Gate, org_id: str) -> str:
    return re.sub(r"\{[^}]+\}", "missing0", gate.path.replace("{org_id}", org_id))


def _error_code(r: httpx.Response) -> str | None:
    """The error code of an error answer (success bodies may be CSV, JSON Lines, files)."""
    if r.status_code < 400 or not r.headers.get("content-type", "").startswith("application/"):
        return None
    code: str | None = r.json()["error"]["code"]
    return code


def expected_denied(gate: Gate, role: str) -> bool:
    if gate.admin_only:
        return True
    if gate.owner_only:  # only an owner (whose PAT holds every owner scope) and the admin token
        return role != "owner"
    return gate.scope is not None and not grants(ROLE_SCOPES[role], gate.scope)


@pytest.fixture
def callers(people_server: LiveServer, team: Team) -> Iterator[dict[tuple[str, str], httpx.Client]]:
    """Per role: the member's browser session, and a PAT holding all of the role's scopes."""
    out: dict[tuple[str, str], httpx.Client] = {}
    for role, person in team.members.items():
        out[role, "session"] = person.client
        out[role, "pat"] = bearer(
            people_server, make_pat(person, sorted(ROLE_SCOPES[role]))["token"]
        )
    yield out
    for (_, via), client in out.items():
        if via == "pat":
            client.close()


def test_route_x_role_x_credential(
    people_server: LiveServer, team: Team, callers: dict[tuple[str, str], httpx.Client]
) -> None:
    gates = management_gates(people_server.app)
    assert len(gates) > 50  # the whole API, not a handful
    wrong: list[str] = []
    seen = {True: 0, False: 0}  # denied / allowed cells
    for gate in gates:
        url = _url(gate, team.org_id)
        body: dict[str, Any] | None = {} if gate.method in ("POST", "PUT", "PATCH") else None
        for role in ROLES:
            for via in ("pat", "session"):
                r = callers[role, via].request(gate.method, url, json=body)
                code = _error_code(r)
                denied = r.status_code == 403 and code in DENIED
                seen[denied] += 1
                cell = f"{gate.method} {gate.path} {role}/{via}: {r.status_code} {code}"
                if r.status_code in (401, 500) or code == "csrf_failed":
                    wrong.append(cell)
                elif denied != expected_denied(gate, role):
                    wrong.append(f"{cell} (expected {'403' if not denied else 'allowed'})")
    assert not wrong, "\n".join(wrong)
    assert seen[True] > 100  # both answers occur many times
    assert seen[False] > 100


def test_every_family_is_gated_somewhere(people_server: LiveServer) -> None:
    """Each scope family's read and write guard at least one route (no dead mapping rows)."""
    scopes = {g.scope for g in management_gates(people_server.app)}
    families = {s.split(":")[0] for s in scopes if s}
    assert families == set(FAMILIES)


def _doc_table() -> dict[str, dict[str, str]]:
    """docs/access.md's role table: family -> role -> 'read' | 'write' | '-'."""
    lines = DOCS.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Scope family"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    table: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip().strip("`") for c in line.strip("|").split("|")]
        table[cells[0]] = dict(zip(header[1:], cells[1:], strict=True))
    return table


def test_docs_table_is_the_mapping() -> None:
    table = _doc_table()
    assert set(table) == set(FAMILIES)
    for family, row in table.items():
        for role in ROLES:
            held = ROLE_SCOPES[role]
            level = (
                "write"
                if f"{family}:write" in held
                else "read"
                if f"{family}:read" in held
                else "-"
            )
            assert row[role] == level, (family, role)


def test_only_sign_in_and_ops_routes_are_ungated(people_server: LiveServer) -> None:
    """The matrix covers every route but these: a new route without ``require`` fails here."""
    ungated = {r.path for r in _api_routes(people_server.app.routes) if _gate_of(r) is None}
    public = {p for p in ungated if not p.startswith("/auth/")}
    assert public == {"/docs", "/health", "/metrics", "/readyz", "/redoc"}
