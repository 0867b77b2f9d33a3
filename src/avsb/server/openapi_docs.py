"""``/redoc``: the API reference rendered by ReDoc, its script served from the installed
``fastapi-standalone-docs`` package under ``/docs/static`` (ops.endpoints mounts it; no
CDN)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.openapi.docs import get_redoc_html
from starlette.requests import Request
from starlette.responses import HTMLResponse

REDOC_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; font-src 'self' data:; "
    "frame-ancestors 'none'"
)


router = APIRouter(include_in_schema=False)


@router.get("/redoc")
async def redoc(_request: Request) -> HTMLResponse:
    page = get_redoc_html(
        openapi_url="/openapi.json",
        title="AvsB API reference",
        redoc_js_url="/docs/static/redoc/redoc.standalone.js",
        redoc_favicon_url="/docs/static/fastapi/favicon.png",
        with_google_fonts=False,
    )
    page.headers["content-security-policy"] = REDOC_CSP
    return page
