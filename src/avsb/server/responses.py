"""Turning results and exceptions into responses: one place for the envelope and error shape."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import (
    DataError,
    DisconnectionError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from avsb.server import errors
from avsb.server.kit.etags import NotModified
from avsb.server.kit.idempotency import IdempotentReplay

log = logging.getLogger("avsb.server")


class JSONBytes(Response):
    """A JSON response from an already-serialised body or any orjson-serialisable value."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def request_id_of(request: Request) -> str | None:
    rid: str | None = request.scope.get("state", {}).get("request_id")
    return rid


def error_body(request: Request, error: errors.AvsbError) -> Response:
    """The structured error envelope for ``error``, with ``X-Error-Code``."""
    payload = {
        "error": {
            "code": error.code,
            "message": error.message,
            "details": error.details,
            "request_id": request_id_of(request),
        }
    }
    headers = {"X-Error-Code": error.code, **error.headers}
    return JSONBytes(payload, status_code=error.status_code, headers=headers)


def _validation_fields(exc: RequestValidationError) -> list[dict[str, str]]:
    fields = []
    for err in exc.errors():
        loc = [str(part) for part in err.get("loc", ())]
        location = loc[0] if loc and loc[0] in ("body", "query", "path", "header") else "body"
        path = ".".join(loc[1:] if loc and loc[0] == location else loc)
        fields.append(
            {
                "path": path or location,
                "location": location,
                "message": str(err.get("msg", "invalid")),
                "type": str(err.get("type", "value_error")),
            }
        )
    return fields


def as_avsb_error(exc: BaseException) -> errors.AvsbError:
    """Map any exception to the domain error it means (500 for the unexpected)."""
    if isinstance(exc, errors.AvsbError):
        return exc
    if isinstance(exc, RequestValidationError):
        return errors.ValidationFailed("The request is not valid.", _validation_fields(exc))
    if isinstance(exc, StarletteHTTPException):
        if isinstance(exc.__cause__, errors.AvsbError):  # e.g. the body limit hit mid-read
            return exc.__cause__
        if exc.status_code == 404:
            return errors.NotFound("No such route.")
        if exc.status_code == 405:
            return errors.MethodNotAllowed(
                "This method is not allowed on this route.", headers=dict(exc.headers or {})
            )
        if exc.status_code == 400:
            return errors.BadRequest(str(exc.detail))
        error = errors.AvsbError(str(exc.detail), code=f"http_{exc.status_code}")
        error.status_code = exc.status_code
        return error
    if isinstance(exc, StaleDataError):
        return errors.PreconditionFailed("The resource changed while you were writing; retry.")
    if isinstance(exc, DataError):
        # Values a database refuses to store (NUL characters in PostgreSQL text, out-of-range
        # numbers) that reached it through a path or query parameter.
        return errors.BadRequest(
            "The request holds a value the database cannot store.", code="invalid_value"
        )
    if isinstance(exc, IntegrityError):
        return errors.Conflict("The change conflicts with existing data.")
    if isinstance(exc, OperationalError | InterfaceError | DisconnectionError | PoolTimeout):
        log.error("database unavailable: %s", exc)
        return errors.ServiceUnavailable("The database is unavailable; retry shortly.")
    log.error("unhandled error", exc_info=exc)
    return errors.InternalError("An internal error occurred; the request id identifies it.")


def response_for_exception(request: Request, exc: BaseException) -> Response:
    """The response an exception stands for: 304, a replay, or a structured error."""
    if isinstance(exc, NotModified):
        return Response(status_code=304, headers={"ETag": exc.etag})
    if isinstance(exc, IdempotentReplay):
        return exc.response()
    return error_body(request, as_avsb_error(exc))
