"""Liveness, readiness, diagnostics, Prometheus metrics and the self-hosted API docs."""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, PlainTextResponse, Response

import avsb
from avsb.server.auth.principal import Principal
from avsb.server.deps import require
from avsb.server.errors import ServiceUnavailable
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope
from avsb.server.responses import JSONBytes
from avsb.server.runtime import Runtime, runtime_of

log = logging.getLogger("avsb.server")

router = AvsbRouter(tags=["operations"])


class HealthOut(BaseModel):
    status: str


class DiagnosticsOut(BaseModel):
    version: str
    database: str
    counters: dict[str, float]
    guardrails: dict[str, Any]


@router.get("/health", response_model=HealthOut)
async def health() -> Response:
    return JSONBytes(b'{"status":"ok"}')


def _unready(rt: Runtime) -> bytes | None:
    """Why this process cannot serve (its metadata database or event store does not answer),
    or None when both do."""
    if not rt.db.ping():
        return b'{"status":"database_unreachable"}'
    try:
        rt.events.get().ping()
    except Exception as exc:
        log.warning("readiness: event store unreachable: %s", exc.__cause__ or exc)
        return b'{"status":"event_store_unreachable"}'
    return None


@router.get("/readyz", response_model=HealthOut, responses={503: {"model": HealthOut}})
async def readyz(request: Request) -> Response:
    """200 when every store answers; else 503 with Retry-After and which one failed."""
    unready = await run_in_threadpool(_unready, runtime_of(request))
    if unready is None:
        return JSONBytes(b'{"status":"ready"}')
    retry = str(ServiceUnavailable.retry_after_seconds)
    return JSONBytes(unready, status_code=503, headers={"Retry-After": retry})


# Any service or admin token; SDK keys are public (shipped in clients) and get no diagnostics.
_ServiceToken = Annotated[Principal, Depends(require(None, family="diagnostics"))]


@router.get("/api/v1/diagnostics", responses=ERROR_RESPONSES)
async def diagnostics(request: Request, _principal: _ServiceToken) -> Envelope[DiagnosticsOut]:
    rt = runtime_of(request)
    s = rt.settings
    return Envelope(
        data=DiagnosticsOut(
            version=avsb.__version__,
            database="sqlite" if rt.db.is_sqlite else "postgresql",
            counters=rt.metrics.snapshot(),
            guardrails={
                "rate_limit_per_minute": s.rate_limit_per_minute,
                "rate_limit_burst": s.rate_limit_burst,
                "rate_limit_storage": s.rate_limit_storage,
                "auth_failures_per_minute": s.auth_failures_per_minute,
                "max_body_bytes": s.max_body_bytes,
                "idempotency_ttl_hours": s.idempotency_ttl_hours,
                "security_headers": True,
            },
        )
    )


@router.get("/metrics", response_class=PlainTextResponse)
async def metrics(request: Request) -> Response:
    body = runtime_of(request).metrics.render()
    return PlainTextResponse(body, media_type="text/plain; version=0.0.4")


def _docs_dir() -> Path:
    """Swagger UI 5 (OpenAPI 3.1, which FastAPI writes), ReDoc and a favicon, from the
    installed fastapi-standalone-docs package: no CDN."""
    return Path(str(files("fastapi_standalone_docs") / "static"))


docs_static = StaticFiles(directory=_docs_dir())


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="AvsB API",
        swagger_js_url="/docs/static/swagger/swagger-ui-bundle.js",
        swagger_css_url="/docs/static/swagger/swagger-ui.css",
        swagger_favicon_url="/docs/static/fastapi/favicon.png",
    )
    page.headers["content-security-policy"] = (
        "default-src 'self'; script-src 'self' 'unsafe-inline'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'"
    )
    return page
