"""The read path of single resources: point queries, argument passing without FastAPI's
dependency solver, and the route index. Each must give exactly what the slower general
machinery gives."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from sqlalchemy import text
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Match, Route

from avsb.server.auth.principal import Principal
from avsb.server.db import ASYNC_READER_NAME, Database, migrate
from avsb.server.deps import require
from avsb.server.kit import resources
from avsb.server.kit.context import Actor, ChangeContext
from avsb.server.kit.dispatch import RouteIndex
from avsb.server.kit.routing import AvsbRoute, AvsbRouter, _direct_handler
from avsb.server.models import Organization, Project
from avsb.server.projects import service as project_service
from tests.support.servers import ApiClient, ServerFactory

_BY_ID = resources.by_id_in_org(Project)
_COLUMNS = [column.key for column in Project.__table__.columns]


def _ctx(org_id: str) -> ChangeContext:
    return ChangeContext(org_id=org_id, actor=Actor("token", "tok_test", "test"))


def _project(database: Database, api: ApiClient, key: str, **spec: Any) -> str:
    with database.transaction() as session:
        project = project_service.create(
            session, _ctx(api.org_id), {"key": key, "name": key.upper(), **spec}
        )
        return project.id


# --- point queries -------------------------------------------------------------------------


def test_point_query_gives_the_orm_values(database: Database, api: ApiClient) -> None:
    project_id = _project(database, api, "pq", description="d", holdout_percent=12.5)
    with database.transaction() as session:
        project = project_service.get(session, api.org_id, project_id)
        project_service.archive(session, _ctx(api.org_id), project)
    rows = asyncio.run(database.fetch(_BY_ID, id=project_id, org_id=api.org_id))
    assert len(rows) == 1
    with database.session(write=False) as session:
        orm = session.get(Project, project_id)
        assert orm is not None
        for column in _COLUMNS:
            got, want = getattr(rows[0], column), getattr(orm, column)
            assert got == want, column
            assert type(got) is type(want), column
    assert rows[0].archived_at is not None
    assert rows[0].archived_at.utcoffset() is not None


def test_point_query_never_crosses_organisations(database: Database, api: ApiClient) -> None:
    project_id = _project(database, api, "own")
    assert asyncio.run(database.fetch(_BY_ID, id=project_id, org_id="org_someone_else")) == []
    assert asyncio.run(database.fetch(_BY_ID, id="prj_missing", org_id=api.org_id)) == []


def test_a_locked_sqlite_file_is_read_from_a_worker_thread(
    tmp_path: Path, is_postgres: bool
) -> None:
    """The loop's reader gives up after 50 ms; the read then waits in the thread pool."""
    if is_postgres:
        pytest.skip("SQLite locking")
    path = tmp_path / "locked.sqlite3"
    db = Database(f"sqlite:///{path}")
    migrate(db)
    with db.transaction() as session:
        org = Organization(id="org_locked", name="L")
        session.add(org)
        session.flush()
        project_id = project_service.create(session, _ctx(org.id), {"key": "l", "name": "L"}).id
    db.dispose()  # no open connection may hold the file while the holder takes it
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE projects SET name = name WHERE id = ?", (project_id,))
    holder.execute("COMMIT")  # exclusive locking mode keeps the lock after the commit

    def release() -> None:
        time.sleep(0.5)
        holder.execute("PRAGMA locking_mode=NORMAL")
        holder.execute("SELECT 1 FROM projects LIMIT 1")  # the next access drops the lock
        holder.close()

    releaser = threading.Thread(target=release)
    try:
        with pytest.raises(sqlite3.OperationalError):
            db._loop_connection().execute("SELECT 1 FROM projects").fetchall()
        releaser.start()
        started = time.monotonic()
        rows = asyncio.run(db.fetch(_BY_ID, id=project_id, org_id="org_locked"))
        assert [row.id for row in rows] == [project_id]
        assert time.monotonic() - started >= 0.3  # it did wait for the lock
    finally:
        if releaser.is_alive():
            releaser.join()
        db.dispose()


def test_a_dropped_postgresql_reader_falls_back_and_reconnects(
    database: Database, api: ApiClient, is_postgres: bool
) -> None:
    """The server side ends the loop's connections (a restart, an admin): the read is still
    answered, from the pooled engine, and the next one connects afresh."""
    if not is_postgres:
        pytest.skip("PostgreSQL connections")
    project_id = _project(database, api, "dropped")
    fresh = Database(database.url)
    readers = (
        "FROM pg_stat_activity WHERE application_name = :name "
        "AND datname = current_database() AND pid <> pg_backend_pid()"
    )
    terminate = text(f"SELECT count(pg_terminate_backend(pid)) {readers}")
    count = text(f"SELECT count(*) {readers}")

    async def read_three_times() -> list[list[str]]:
        ids = [[row.id for row in await fresh.fetch(_BY_ID, id=project_id, org_id=api.org_id)]]
        with fresh.write_engine.begin() as conn:
            assert (conn.execute(terminate, {"name": ASYNC_READER_NAME}).scalar() or 0) >= 1
        for _ in range(2):
            ids.append(
                [row.id for row in await fresh.fetch(_BY_ID, id=project_id, org_id=api.org_id)]
            )
        return ids

    try:
        assert asyncio.run(read_three_times()) == [[project_id]] * 3
        with fresh.write_engine.begin() as conn:  # the third read connected again
            assert (conn.execute(count, {"name": ASYNC_READER_NAME}).scalar() or 0) >= 1
    finally:
        fresh.dispose()


def test_a_value_the_database_refuses_is_a_400_not_a_500(api: ApiClient, is_postgres: bool) -> None:
    """PostgreSQL text cannot hold NUL: the point read raises SQLAlchemy's DataError, as any
    other query would, and it is answered like theirs. SQLite just finds nothing."""
    r = api.get(api.org("/projects/a%00b"))
    code = "invalid_value" if is_postgres else "not_found"
    assert (r.status_code, r.json()["error"]["code"]) == (400 if is_postgres else 404, code)


# --- arguments without FastAPI's solver ----------------------------------------------------


Gated = Annotated[Principal, Depends(require("projects:read"))]


def _dependant(router: APIRouter, path: str) -> Any:
    route = router.routes[-1]
    assert isinstance(route, AvsbRoute)
    assert route.path == path
    return route.dependant


def test_only_simple_endpoints_skip_the_dependency_solver() -> None:
    router = APIRouter(route_class=AvsbRoute)

    @router.get("/a/{x}")
    async def simple(x: str, _p: Gated, request: Request) -> Response:
        return PlainTextResponse(x)

    assert _direct_handler(_dependant(router, "/a/{x}")) is not None

    @router.get("/b/{x}")
    async def with_query(x: str, q: str = Query("")) -> Response:
        return PlainTextResponse(x + q)

    assert _direct_handler(_dependant(router, "/b/{x}")) is None

    @router.get("/c/{x}")
    async def returns_a_model(x: str) -> dict[str, str]:
        return {"x": x}

    assert _direct_handler(_dependant(router, "/c/{x}")) is None

    @router.get("/d/{x}")
    async def typed_path(x: int) -> Response:
        return PlainTextResponse(str(x))

    assert _direct_handler(_dependant(router, "/d/{x}")) is None


def test_dependency_overrides_take_fastapis_path(servers: ServerFactory) -> None:
    """An override (tests do this) is honoured: the route is then solved by FastAPI."""
    live = servers.start()
    app: FastAPI = live.app
    index = next(r for r in app.router.routes if isinstance(r, RouteIndex))
    route = next(r for r in index.routes if getattr(r, "name", "") == "get_project")
    assert isinstance(route, AvsbRoute)
    with live.admin() as admin:
        project = admin.post(
            f"/api/orgs/{live.default_org}/projects", json={"key": "ov", "name": "O"}
        )
        assert project.status_code == 201, project.text
        path = f"/api/orgs/{live.default_org}/projects/{project.json()['data']['id']}"
        assert httpx.get(live.url + path).status_code == 401  # no token

        gate = route.dependant.dependencies[0].call
        assert gate is not None
        admin_principal = admin.get("/api/me").json()["data"]

        async def as_admin(request: Request) -> Principal:
            return Principal(
                token_id=admin_principal["token_id"], org_id=live.default_org, kind="admin",
                name="override", scopes=frozenset({"*"}), is_admin=True, project_id=None,
            )  # fmt: skip

        app.dependency_overrides[gate] = as_admin
        try:
            assert httpx.get(live.url + path).status_code == 200  # the override answered
        finally:
            app.dependency_overrides.clear()
        assert httpx.get(live.url + path).status_code == 401


# --- the route index -----------------------------------------------------------------------


def _scope(method: str, path: str) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "headers": []}


def _linear(routes: list[Any], scope: dict[str, Any]) -> Any:
    for route in routes:
        if route.matches(scope)[0] is Match.FULL:
            return route
    return None


def _indexed(index: Any, scope: dict[str, Any]) -> Any:
    """The route the index runs as it is; None when it leaves the request to FastAPI or
    answers a method the path's routes lack itself (HEAD, OPTIONS, 405)."""
    match, child = index.matches(scope)
    return child["route"] if match is Match.FULL and child["avsb.dispatch"] is None else None


def test_the_index_keeps_first_match_order() -> None:
    """A parameter route declared before a literal sibling still wins, as in FastAPI."""
    router = AvsbRouter()

    async def ok() -> Response:
        return PlainTextResponse("")

    router.add_api_route("/a/{x}", ok, methods=["GET"], name="param_first")
    router.add_api_route("/a/b", ok, methods=["GET"], name="literal_second")
    router.add_api_route("/a/b", ok, methods=["POST"], name="literal_post")
    router.add_api_route("/a/{x}/c", ok, methods=["GET"], name="deeper")
    index = RouteIndex(router.routes, bypass=lambda: False)
    cases = [
        ("GET", "/a/b", "param_first"),
        ("POST", "/a/b", "literal_post"),
        ("GET", "/a/zz/c", "deeper"),
        ("GET", "/a/b/c", "deeper"),
        ("GET", "/a/", None),  # empty segment: no route (FastAPI redirects or 404s)
        ("GET", "/nope", None),
    ]
    for method, path, name in cases:
        found = _indexed(index, _scope(method, path))
        assert (found.name if found else None) == name, (method, path)
        assert found is _linear(list(router.routes), _scope(method, path))
    # A method the path's routes lack is answered by the index from all of them: HEAD as the
    # first GET route, anything else with the union of their methods.
    match, child = index.matches(_scope("HEAD", "/a/b"))
    assert (match, child["route"].name, child["avsb.dispatch"]) == (
        Match.FULL,
        "param_first",
        "head",
    )
    match, child = index.matches(_scope("DELETE", "/a/b"))
    assert child["avsb.dispatch"] == ("allow", "GET, HEAD, POST, OPTIONS")
    assert _linear(list(router.routes), _scope("DELETE", "/a/b")) is None
    assert RouteIndex(router.routes, bypass=lambda: True).matches(_scope("GET", "/a/b")) == (
        Match.NONE,
        {},
    )


def test_the_index_finds_what_a_linear_scan_finds_for_every_route(live_server: Any) -> None:
    app: FastAPI = live_server.app
    assert isinstance(app.router.routes[0], RouteIndex)
    index = app.router.routes[0]
    # Behind the index, the routes in the order FastAPI tries them: the evaluation routes and
    # /openapi.json, then those of the included routers.
    plain = [r for r in app.router.routes[1:] if isinstance(r, Route)]
    included = [r for r in app.router.routes if hasattr(r, "original_router")]
    routes = plain + [route for r in included for route in r.original_router.routes]
    assert list(index.routes) == routes
    checked = 0
    for route in routes:
        concrete = route.path.replace("{", "x_").replace("}", "")
        for method in sorted(route.methods or ()):
            scope = _scope(method, concrete)
            assert _indexed(index, scope) is _linear(routes, scope), (method, concrete)
            checked += 1
        for probe in (concrete + "/", concrete + "/extra"):
            assert _indexed(index, _scope("GET", probe)) is _linear(routes, _scope("GET", probe))
    assert checked > 100


def test_requests_the_index_leaves_get_fastapis_answers(api: ApiClient) -> None:
    assert api.get("/api/nothing-here").status_code == 404
    wrong = api.put(api.org("/projects/prj_x"))
    assert wrong.status_code == 405
    assert "GET" in wrong.headers["allow"]
    assert api.get("/abc/get_experiments").status_code == 405  # an evaluation route: POST only
