"""``create_app(settings)``: the whole server, built from one settings object."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import Message, Scope

import avsb
from avsb.server.auth.proxies import ClientAddressMiddleware, TrustedProxies, parse_networks
from avsb.server.config import Settings
from avsb.server.db import Database, migrate
from avsb.server.errors import AvsbError
from avsb.server.evaluation_api.routes import evaluation_routes
from avsb.server.hotpath.server import AvsbServer
from avsb.server.kit import idempotency
from avsb.server.kit.methods import method_routes
from avsb.server.kit.threads import ended_within, in_thread
from avsb.server.middleware import RequestEnvelopeMiddleware
from avsb.server.openapi import document_builder
from avsb.server.openapi_docs import router as redoc_router
from avsb.server.responses import response_for_exception
from avsb.server.results import schedule as results_schedule
from avsb.server.runtime import Runtime, build_runtime
from avsb.server.slack.delivery import SlackWorker, slack_jobs
from avsb.server.webhooks import delivery as webhook_delivery

log = logging.getLogger("avsb.server")
Periodic = tuple[float, Callable[[], object]]


def _include_routers(app: FastAPI) -> list[BaseRoute]:
    """Include every API router; their routes, in the order FastAPI tries them."""
    from avsb.server.audit.endpoints import router as audit_router
    from avsb.server.dashboard.routes import ROUTERS as DASHBOARD_ROUTERS
    from avsb.server.dashboard.routes import static_files as dashboard_static
    from avsb.server.design.routers import ROUTERS as DESIGN_ROUTERS
    from avsb.server.ingestion.endpoints import router as ingestion_router
    from avsb.server.ops.endpoints import docs_static
    from avsb.server.ops.endpoints import router as ops_router
    from avsb.server.orgs.endpoints import router as orgs_router
    from avsb.server.people.endpoints import auth_router as people_auth_router
    from avsb.server.people.endpoints import public_router as people_public_router
    from avsb.server.people.endpoints import router as people_router
    from avsb.server.projects.endpoints import router as projects_router
    from avsb.server.reports.endpoints import router as reports_router
    from avsb.server.results.endpoints import router as results_router
    from avsb.server.review.endpoints import router as review_router
    from avsb.server.slack.endpoints import ROUTERS as SLACK_ROUTERS
    from avsb.server.sso.endpoints import router as sso_router
    from avsb.server.tokens.endpoints import router as tokens_router
    from avsb.server.tools.endpoints import router as tools_router
    from avsb.server.webhooks.endpoints import router as webhooks_router
    from avsb.server.workspace.endpoints import router as workspace_router

    routers = (
        ops_router, orgs_router, tokens_router, projects_router, audit_router, tools_router,
        webhooks_router, *DESIGN_ROUTERS, ingestion_router, results_router, workspace_router,
        sso_router,
        reports_router,
        review_router,
        people_auth_router, people_public_router, people_router,
        redoc_router,
        *SLACK_ROUTERS,
        *DASHBOARD_ROUTERS,
    )  # fmt: skip
    for router in routers:
        app.include_router(router)
    app.mount("/docs/static", docs_static, name="docs-static")
    app.mount("/static", dashboard_static(), name="dashboard-static")
    return [route for router in routers for route in router.routes]


async def _every(seconds: float, job: Callable[[], object], name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await in_thread(job)
        except Exception:
            log.exception("background job %s failed", name)


UNMATCHED_PATH = "/.avsb-startup/no-route"
"""A path no route of the management app matches (`_build_route_state`)."""


async def _build_route_state(app: FastAPI) -> None:
    """Have the management router build now what FastAPI builds at a route's first match
    (each route's field validators and serializers, some 30,000 objects), so that the
    startup freeze keeps them out of full garbage collections too. Built later, under load,
    they made each full collection walk them (29-39 ms of CPU against 12-28 ms without,
    docs/benchmarks.md): a stall of every request in flight. A request for a path no route
    matches visits every route; it goes to the router alone (no middleware: no metrics, no
    access log, no audit)."""
    status = 0

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": UNMATCHED_PATH,
        "raw_path": UNMATCHED_PATH.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "client": None,
        "server": None,
        "state": {},
    }
    await app.router(scope, receive, send)
    if status != 404:
        log.warning("route warm-up: %s answered %s, not 404", UNMATCHED_PATH, status)


def _lifespan(rt: Runtime) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        from avsb.server.ingestion.endpoints import ingestor_of

        ingestion_counts = ingestor_of(_app).counts
        rt.watcher.start()
        await rt.evaluation.start()
        await _build_route_state(_app)
        # What startup built (routes, schemas, compiled configs) lives as long as the process:
        # keep it out of full garbage collections, which otherwise stall requests (~0.25 s).
        gc.freeze()
        jobs: list[tuple[float, Callable[[], object], str]] = [
            (
                rt.settings.token_last_used_flush_seconds,
                rt.authenticator.flush_last_used,
                "last-used",
            ),
            (3600.0, lambda: idempotency.purge_expired(rt.db), "idempotency-purge"),
            (1.0, ingestion_counts.flush, "ingestion-counts"),
            (3600.0, lambda: webhook_delivery.purge(rt.db, rt.settings), "webhook-purge"),
            *slack_jobs(rt),
        ]
        refresh_every = results_schedule.poll_seconds(rt.settings)
        if refresh_every is not None:
            refresher = results_schedule.Refresher(
                rt.db, rt.settings, rt.events.get, ingestion_counts.flush
            )
            jobs.append((refresh_every, refresher.run_once, "results-refresh"))
        tasks = [asyncio.create_task(_every(s, job, name)) for s, job, name in jobs]
        webhook_worker = webhook_delivery.DeliveryWorker(rt.db, rt.settings)
        webhook_worker.start()
        slack_worker = SlackWorker(rt.db, rt.settings)
        slack_worker.start()
        try:
            yield
        finally:
            # Work already on a worker thread gets until the grace period's end to finish
            # before the stores close (`kit.threads`). The exposures and counts are written
            # first, so a long job (a results refresh) cannot hold them past a kill.
            loop = asyncio.get_running_loop()
            until = loop.time() + rt.settings.shutdown_grace_seconds

            def left() -> float:
                return max(until - loop.time(), 0.1)

            for task in tasks:
                task.cancel()
            await rt.evaluation.stop(left())  # writes the buffered exposures: before events close
            await asyncio.to_thread(rt.authenticator.flush_last_used)
            await asyncio.to_thread(ingestion_counts.flush)
            await slack_worker.stop(left())
            await webhook_worker.stop(left())
            await rt.watcher.stop(left())
            await ended_within(tasks, left(), "background jobs")
            rt.events.close()
            rt.db.dispose()
            gc.unfreeze()

    return lifespan


def create_app(settings: Settings, *, database: Database | None = None) -> AvsbServer:
    """Build the app; migrates the database unless ``database`` is handed in already migrated.

    The process's app is the hot-path front door; the FastAPI app built here is its
    ``management`` app (every route but the hot paths, and the lifespan)."""
    if database is None:
        database = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
        migrate(database)
    rt = build_runtime(settings, database)
    app = FastAPI(
        title="AvsB",
        version=avsb.__version__,
        description="Self-hosted experimentation platform: A/B tests and feature flags.",
        lifespan=_lifespan(rt),
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = rt
    app.openapi = document_builder(app)  # type: ignore[method-assign]  # FastAPI's hook

    async def handle(request: Request, exc: Exception) -> Response:
        return response_for_exception(request, exc)

    handler: Callable[[Request, Exception], Awaitable[Response]] = handle
    for exc_type in (AvsbError, RequestValidationError, StarletteHTTPException, Exception):
        app.add_exception_handler(exc_type, handler)
    own = list(app.router.routes)  # /openapi.json
    api = _include_routers(app)
    # Plain Starlette routes (no pydantic, no dependency injection), matched first.
    evaluation = evaluation_routes(rt.evaluation)
    app.router.routes[:0] = evaluation
    # Last: HEAD, OPTIONS and 405 with the full Allow for every path (see kit.methods).
    app.router.routes.extend(method_routes([*evaluation, *own, *api]))
    proxies = parse_networks(settings.trusted_proxies)
    if proxies:  # inside the envelope: the client address is known before any route runs
        app.add_middleware(ClientAddressMiddleware, proxies=TrustedProxies(proxies))
    app.add_middleware(
        RequestEnvelopeMiddleware, max_body_bytes=settings.max_body_bytes, metrics=rt.metrics
    )
    return AvsbServer(app, rt)
