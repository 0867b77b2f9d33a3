"""The read path of single resources (point queries must give exactly what the ORM gives),
and routing on FastAPI's public API only: dependency overrides, HEAD, OPTIONS and 405."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from sqlalchemy import text
from starlette.responses import PlainTextResponse, Response

import avsb
from avsb.server.auth.principal import Principal
from avsb.server.db import ASYNC_READER_NAME, Database, migrate
from avsb.server.kit import resources
from avsb.server.kit.context import Actor, ChangeContext
from avsb.server.kit.methods import method_routes
from avsb.server.kit.routing import AvsbRoute, AvsbRouter
from avsb.server.models import Organization, Project
from avsb.server.projects import service as project_service
from tests.integration.design import factories as f
from tests.support.servers import ApiClient, ServerFactory, new_org_client

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


def test_a_locked_sqlite_file_never_stalls_the_event_loop(
    tmp_path: Path, is_postgres: bool
) -> None:
    """Point reads wait for a locked file in a worker thread: the loop keeps serving (here a
    ticker every 5 ms) the whole time, and the read is answered once the lock goes."""
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

    async def read_while_ticking() -> tuple[list[str], float, float]:
        gaps: list[float] = []
        done = asyncio.Event()

        async def ticker() -> None:
            last = time.monotonic()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.monotonic()
                gaps.append(now - last)
                last = now

        ticking = asyncio.create_task(ticker())
        started = time.monotonic()
        rows = await db.fetch(_BY_ID, id=project_id, org_id="org_locked")
        waited = time.monotonic() - started
        done.set()
        await ticking
        return [row.id for row in rows], waited, max(gaps)

    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        ids, waited, longest_gap = asyncio.run(read_while_ticking())
        assert ids == [project_id]
        assert waited >= 0.3  # it did wait for the lock
        assert longest_gap < 0.1  # and the loop ran meanwhile
    finally:
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


# --- dependency overrides and HEAD / OPTIONS / 405 on public API only ---------------------


def test_no_private_fastapi_or_starlette_names_in_the_source() -> None:
    """The server uses FastAPI's and Starlette's public API only: nothing to keep equal to
    their internals by hand at an upgrade."""
    private = re.compile(
        r"_effective_route_context_var|fastapi\.dependencies\.models|starlette\.routing\._"
    )
    source = Path(avsb.__file__).parent
    hits = [
        f"{path}:{number}"
        for path in sorted(source.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if private.search(line)
    ]
    assert hits == []


def test_dependency_overrides_are_honoured(servers: ServerFactory) -> None:
    """An override (tests do this) answers in place of the auth gate, for GET and for HEAD."""
    from avsb.server.projects.endpoints import router as projects_router

    live = servers.start()
    app: FastAPI = live.app
    route = next(r for r in projects_router.routes if getattr(r, "name", "") == "get_project")
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
            assert httpx.head(live.url + path).status_code == 200
        finally:
            app.dependency_overrides.clear()
        assert httpx.get(live.url + path).status_code == 401
        assert httpx.head(live.url + path).status_code == 401


def _methods_app() -> FastAPI:
    """Two routers whose routes share paths, as the API's do, plus the method routes."""
    app = FastAPI()
    first, second = AvsbRouter(), AvsbRouter()

    async def ok(request: Request) -> Response:
        return PlainTextResponse(request.scope["route"].name)

    first.add_api_route("/a/{x}", ok, methods=["GET"], name="param_first")
    first.add_api_route("/a/b", ok, methods=["POST"], name="literal_post")
    second.add_api_route("/a/{x}", ok, methods=["PATCH"], name="param_patch")
    second.add_api_route("/a/{x}/c", ok, methods=["DELETE"], name="deeper")
    app.include_router(first)
    app.include_router(second)
    app.router.routes.extend(method_routes([*first.routes, *second.routes]))
    return app


def _requests(app: FastAPI, *calls: tuple[str, str]) -> list[httpx.Response]:
    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return [await client.request(method, path) for method, path in calls]

    return asyncio.run(run())


def test_method_routes_keep_first_match_order_and_list_every_method() -> None:
    get, post, patch, delete, head, options, options_zz, put, head_only, nope, options_nope = (
        _requests(
            _methods_app(),
            ("GET", "/a/b"),
            ("POST", "/a/b"),
            ("PATCH", "/a/b"),
            ("DELETE", "/a/zz/c"),
            ("HEAD", "/a/b"),
            ("OPTIONS", "/a/b"),
            ("OPTIONS", "/a/zz"),
            ("PUT", "/a/b"),
            ("HEAD", "/a/zz/c"),
            ("GET", "/nope"),
            ("OPTIONS", "/nope"),
        )
    )
    assert get.text == "param_first"  # declared first, still wins
    assert post.text == "literal_post"
    assert patch.text == "param_patch"  # a later router, same path
    assert delete.text == "deeper"
    assert (head.status_code, head.content) == (200, b"")
    assert head.headers["content-length"] == str(len("param_first"))
    assert (options.status_code, options.headers["allow"]) == (
        204,
        "GET, HEAD, POST, PATCH, OPTIONS",
    )
    assert options_zz.headers["allow"] == "GET, HEAD, PATCH, OPTIONS"
    assert put.status_code == 405
    assert put.headers["allow"] == "GET, HEAD, POST, PATCH, OPTIONS"
    assert put.json()["error"]["code"] == "method_not_allowed"
    assert (head_only.status_code, head_only.headers["allow"]) == (405, "DELETE, OPTIONS")
    assert (nope.status_code, options_nope.status_code) == (404, 404)


def test_method_routes_stay_out_of_the_openapi_document() -> None:
    (spec,) = _requests(_methods_app(), ("GET", "/openapi.json"))
    paths = spec.json()["paths"]
    assert {m for ops in paths.values() for m in ops} == {"get", "post", "patch", "delete"}


def test_wrong_methods_on_the_live_server(api: ApiClient) -> None:
    assert api.get("/api/nothing-here").status_code == 404
    wrong = api.put(api.org("/projects/prj_x"))
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET, HEAD, PATCH, DELETE, OPTIONS"
    assert api.get("/abc/get_experiments").status_code == 405  # an evaluation route: POST only
    assert api.options(api.org("/projects")).status_code == 204
    metrics = api.get("/metrics").text  # labelled by the path template, not "unmatched"
    route = r'route="/api/orgs/\{org_id\}/projects'
    assert re.search(
        r'avsb_http_requests_total\{method="PUT",' + route + r'/\{project_id\}",status="405"\}',
        metrics,
    )
    assert re.search(
        r'avsb_http_requests_total\{method="OPTIONS",' + route + r'",status="204"\}', metrics
    )


# --- one fast read for every single resource -----------------------------------------------


def _make_all(api: ApiClient) -> dict[str, f.Json]:
    """One resource of every kind with a single-resource GET served by ``SingleRead``."""
    project = f.create_project(api)
    webhook = api.post(
        api.org("/webhooks"),
        json={"url": "https://93.184.215.14/hooks/avsb", "event_types": ["flag.updated"]},
    )
    assert webhook.status_code == 201, webhook.text
    pid = project["id"]
    return {
        "projects": project,
        "webhooks": webhook.json()["data"],
        "experiments": f.create_experiment(api, pid),
        "flags": f.create_flag(api, pid),
        "audiences": f.create_audience(api, pid),
        "segments": f.create_segment(api, pid),
        "exclusion-groups": f.create_group(api, pid),
        "metrics": f.create_metric(api, pid),
        "templates": f.create_template(api, pid),
    }


def test_every_single_resource_get_is_the_rendered_orm_object(api: ApiClient) -> None:
    """The point query and the kept body give what the write's own (ORM) rendering gave,
    follow every change (the body is kept per id and version), honour If-None-Match, and
    never show another organisation's resource."""
    made = _make_all(api)
    with new_org_client(api.server) as other:
        for kind, created in made.items():
            path = api.org(f"/{kind}/{created['id']}")
            got = api.get(path)
            assert got.status_code == 200, (kind, got.text)
            shown = {k: v for k, v in created.items() if k != "secret"}
            assert got.json()["data"] == shown, kind
            again = api.get(path, headers={"If-None-Match": got.headers["etag"]})
            assert again.status_code == 304, kind
            renamed = api.patch(path, json={"description": "changed"})
            assert renamed.status_code == 200, (kind, renamed.text)
            after = api.get(path)
            assert after.json()["data"] == renamed.json()["data"], kind
            assert after.headers["etag"] != got.headers["etag"], kind
            foreign = other.get(f"/api/orgs/{other.org_id}/{kind}/{created['id']}")
            assert foreign.status_code == 404, kind
