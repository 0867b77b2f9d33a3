"""Health, readiness, diagnostics, metrics, self-hosted docs; migrations match the models."""

from __future__ import annotations

import re

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr

from avsb.server.app import create_app
from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.models import Base
from tests.support.servers import ApiClient, LiveServer, free_port


def test_health__ok(live_server: LiveServer) -> None:
    with live_server.client() as c:
        r = c.get("/health")
    assert r.json() == {"status": "ok"}


def test_readyz__200_when_database_answers(live_server: LiveServer) -> None:
    with live_server.client() as c:
        assert c.get("/readyz").json() == {"status": "ready"}


def test_readyz__503_when_database_unreachable(tmp_path: object) -> None:
    import threading
    import time

    import httpx
    import uvicorn

    dead = Database(f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/none")
    settings = Settings(secret_key=SecretStr("k" * 32), admin_token=None)
    app = create_app(settings, database=dead)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            r = c.get("/readyz")
            assert r.status_code == 503
            assert r.json() == {"status": "database_unreachable"}
            assert c.get("/health").status_code == 200
            # A request that needs the database gets a structured 503, not a 500.
            me = c.get("/api/me", headers={"Authorization": "Bearer avsb_svc_x"})
            assert me.status_code == 503
            assert me.json()["error"]["code"] == "service_unavailable"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_diagnostics__needs_token_and_reports_guardrails(api: ApiClient) -> None:
    with api.server.client() as anon:
        assert anon.get("/api/v1/diagnostics").status_code == 401
    data = api.get("/api/v1/diagnostics").json()["data"]
    assert data["guardrails"]["max_body_bytes"] > 0
    assert data["guardrails"]["security_headers"] is True
    assert data["counters"]["avsb_http_requests_total"] >= 1


def test_metrics__prometheus_text(api: ApiClient) -> None:
    api.get(api.org("/projects"))
    text = api.get("/metrics").text
    assert "# TYPE avsb_http_requests_total counter" in text
    route = r'route="/api/orgs/\{org_id\}/projects"'
    assert re.search(
        r'avsb_http_requests_total\{method="GET",' + route + r',status="200"\} \d', text
    )
    assert re.search(
        r"avsb_http_request_duration_seconds_bucket\{" + route + r',le="\+Inf"\} \d', text
    )


def test_docs__served_without_any_cdn(live_server: LiveServer) -> None:
    with live_server.client() as c:
        page = c.get("/docs")
        assert page.status_code == 200
        assert "cdn" not in page.text.lower()
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert assets
        for asset in assets:
            assert asset.startswith("/"), asset
            assert c.get(asset).status_code == 200
        assert c.get("/openapi.json").json()["info"]["title"] == "AvsB"


def test_migrations__match_models(database: Database) -> None:
    with database.write_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
