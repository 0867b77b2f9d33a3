"""Event ingestion on the front door: `POST /api/orgs/{org_id}/projects/{project_id}/events`
and the per-experiment routes (`/api/orgs/{org_id}/experiments/{experiment_id}/exposures`,
`conversions`, ...) as plain ASGI handlers.

They answer exactly as the management app's routes of `ingestion.endpoints` (still mounted
there: they document the routes in OpenAPI, answer a request under a `root_path`, and give
the 405 with `Allow` of another method): the gate of `require("events:write")` through the
shared `auth.access` core (token or sign-in session with its CSRF check, the `events` rate
bucket, SDK keys refused, the path's organisation and scope, `Idempotency-Key`), the
ingestor in a worker thread, `{"data": {accepted, duplicates, rejected}}`, errors through
`responses.response_for_exception`, the rate-limit headers on every answer after the gate,
and the idempotency record committed with a success or released after a failure.
"""

from __future__ import annotations

from collections.abc import Callable

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from avsb.server.auth import access
from avsb.server.auth.ratelimit import RateDecision
from avsb.server.auth.scopes import family_of
from avsb.server.auth.sessions import SESSION_COOKIE
from avsb.server.evaluation_api.asgi import read_body
from avsb.server.ingestion.parse import Target
from avsb.server.ingestion.service import EXPERIMENT_ROUTES, Outcome
from avsb.server.kit import idempotency
from avsb.server.responses import response_for_exception
from avsb.server.runtime import Runtime

SCOPE = "events:write"
FAMILY = family_of(SCOPE)
ORGS = "/api/orgs/"
PROJECT_ROUTE = "/api/orgs/{org_id}/projects/{project_id}/events"
EXPERIMENT_ROUTE = "/api/orgs/{org_id}/experiments/{experiment_id}/"
# route label (the management route's path template) of each per-experiment route
EXPERIMENT_LABELS = {name: EXPERIMENT_ROUTE + name for name in EXPERIMENT_ROUTES}

Ingest = Callable[[str, str, bytes], Outcome]


def match(path: str) -> tuple[str, str, str, str] | None:
    """(route label, org id, project or experiment id, per-experiment route or "") of an
    ingestion path, or None. Each parameter is one non-empty segment, as the management
    router's `{param}` matches."""
    if not path.startswith(ORGS):
        return None
    parts = path[len(ORGS) :].split("/")
    if len(parts) != 4 or not all(parts):
        return None
    org_id, collection, owner, last = parts
    if collection == "projects" and last == "events":
        return PROJECT_ROUTE, org_id, owner, ""
    if collection == "experiments" and last in EXPERIMENT_LABELS:
        return EXPERIMENT_LABELS[last], org_id, owner, last
    return None


def _caller(request: Request) -> access.Caller:
    """What the request presents to the gate (headers read as the management app reads
    them: the first of a repeated header)."""
    headers = request.headers
    client = request.client
    return access.Caller(
        method=request.method,
        ip=client.host if client else "unknown",
        token=access.presented_token(headers.get("authorization"), headers.get("x-api-key")),
        session=request.cookies.get(SESSION_COOKIE) or None,
        csrf=headers.get("x-csrf-token"),
        content_type=headers.get("content-type", ""),
    )


def _body(outcome: Outcome) -> bytes:
    rejected = [{"index": r.index, "code": r.code, "message": r.message} for r in outcome.rejected]
    result = {"accepted": outcome.accepted, "duplicates": outcome.duplicates, "rejected": rejected}
    return orjson.dumps({"data": result})


class IngestEvents:
    """The ingestion routes as one plain ASGI app (the front door matched the path)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = match(scope["path"])
        assert found is not None  # the front door routes only matching paths here
        _label, org_id, owner, route = found
        rt = self.rt
        read: list[bytes] = []

        async def body() -> bytes:
            if not read:
                read.append(await read_body(receive))
            return read[0]

        rate: RateDecision | None = None
        reservation: idempotency.Reservation | None = None
        try:
            request = Request(scope)
            caller = _caller(request)
            key = request.headers.get("idempotency-key")
            principal, rate = await access.identify(rt, caller, FAMILY, body)
            access.admit(rt, rate, FAMILY)
            principal = access.authorize(principal, SCOPE, org_id)
            if key:
                query = request.url.query
                path = request.url.path + (f"?{query}" if query else "")
                reservation = await access.reserve_key(
                    rt, principal, key, caller.method, path, await body()
                )
            raw = await body()
            if route:
                ingest = rt.ingestor.ingest_for_experiment
                outcome = await run_in_threadpool(ingest, org_id, owner, route, raw)
            else:
                ingest_project = rt.ingestor.ingest
                outcome = await run_in_threadpool(ingest_project, org_id, owner, Target(), raw)
            response = Response(_body(outcome), media_type="application/json")
            if reservation is not None:
                response = await run_in_threadpool(self._complete, scope, reservation, response)
        except Exception as exc:
            response = response_for_exception(Request(scope), exc)
            if reservation is not None:
                await run_in_threadpool(idempotency.release, rt.db, reservation)
        if rate is not None and rate.allowed:
            response.raw_headers.extend(rate.raw_headers())
        elif rate is not None:  # the 429 carries them already: keep one of each
            response.headers.update(rate.headers())
        await response(scope, receive, send)

    def _complete(
        self, scope: Scope, reservation: idempotency.Reservation, response: Response
    ) -> Response:
        """Store the answer under its key (blocking); a failure releases the key."""
        db = self.rt.db
        try:
            with db.transaction() as session:
                idempotency.complete(session, reservation, response)
        except Exception as exc:
            idempotency.release(db, reservation)
            return response_for_exception(Request(scope), exc)
        return response
