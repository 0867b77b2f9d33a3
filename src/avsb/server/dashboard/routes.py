"""Every dashboard page module's router, and the static files (included by ``app.py``).

Add a page module: import its ``router`` here and append it to ``ROUTERS``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from avsb.server.dashboard import (
    people_pages,
    projects,
    records_pages,
    session_pages,
    slack_pages,
)
from avsb.server.dashboard.design import (
    audiences,
    experiments,
    flags,
    groups,
    metrics,
    review_section,
    segments,
    templates,
    webhooks,
)
from avsb.server.dashboard.pages import preview, results, tools

STATIC_DIR = Path(__file__).resolve().parent / "static"

ROUTERS: tuple[APIRouter, ...] = (
    session_pages.router,
    projects.router,
    people_pages.router,
    records_pages.router,
    results.router,
    tools.router,
    preview.router,
    experiments.router,
    groups.router,
    flags.router,
    audiences.router,
    metrics.router,
    segments.router,
    templates.router,
    webhooks.router,
    slack_pages.router,
    review_section.router,
)


def static_files() -> StaticFiles:
    """The dashboard's own CSS, script and icon (nothing from a CDN), served at ``/static``."""
    return StaticFiles(directory=STATIC_DIR)
