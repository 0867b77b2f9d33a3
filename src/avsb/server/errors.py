"""Errors carry their HTTP meaning; one handler turns them into the structured envelope.

Names follow the HTTP meaning (``NotFound``, ``Conflict``), as STYLE.md asks, hence no Error suffix.
"""
# ruff: noqa: N818

from __future__ import annotations

from typing import Any


class AvsbError(Exception):
    """A domain error with an HTTP status and a stable machine-readable code."""

    status_code = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}
        if code is not None:
            self.code = code
        self.headers = headers or {}


class BadRequest(AvsbError):
    status_code = 400
    code = "bad_request"


class InvalidCursor(AvsbError):
    status_code = 400
    code = "invalid_cursor"


class UnsupportedApiVersion(AvsbError):
    status_code = 400
    code = "unsupported_api_version"


class Unauthorized(AvsbError):
    status_code = 401
    code = "unauthorized"


class Forbidden(AvsbError):
    status_code = 403
    code = "forbidden"


class ScopeMissing(AvsbError):
    status_code = 403
    code = "scope_missing"


class NotFound(AvsbError):
    status_code = 404
    code = "not_found"


class MethodNotAllowed(AvsbError):
    status_code = 405
    code = "method_not_allowed"


class Conflict(AvsbError):
    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class IdempotencyConflict(Conflict):
    code = "idempotency_conflict"


class IdempotencyInProgress(Conflict):
    code = "idempotency_in_progress"


class IdempotencySecretWithheld(Conflict):
    code = "idempotency_secret_withheld"


class PreconditionFailed(AvsbError):
    status_code = 412
    code = "precondition_failed"


class PayloadTooLarge(AvsbError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(AvsbError):
    status_code = 415
    code = "unsupported_media_type"


class ValidationFailed(AvsbError):
    """422 with ``details.fields``: a list of ``{"path", "message", "type"}``."""

    status_code = 422
    code = "validation_error"

    def __init__(self, message: str, fields: list[dict[str, str]]) -> None:
        super().__init__(message, details={"fields": fields})


class RateLimited(AvsbError):
    status_code = 429
    code = "rate_limited"


class ServiceUnavailable(AvsbError):
    """503: a dependency is down for now; always with ``Retry-After`` (seconds)."""

    status_code = 503
    code = "service_unavailable"
    retry_after_seconds = 1

    def __init__(
        self,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message, details=details, code=code, headers=headers)
        self.headers = {"Retry-After": str(self.retry_after_seconds), **self.headers}


class StoreUnavailable(ServiceUnavailable):
    """The event store cannot answer now (its connection failed or was lost, its disk or
    memory ran out). Raised by the stores in place of their drivers' errors, so every route
    that reads or writes events answers 503, never 500."""

    code = "event_store_unavailable"


class InternalError(AvsbError):
    status_code = 500
    code = "internal_error"


def field_error(path: str, message: str, kind: str = "value_error") -> ValidationFailed:
    """A 422 for one field, for checks that a schema cannot express."""
    return ValidationFailed(message, [{"path": path, "message": message, "type": kind}])
