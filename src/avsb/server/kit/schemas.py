"""Response envelopes shared by every route: ``{"data": ...}``, lists, and errors."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

T = TypeVar("T")


class Envelope(BaseModel, Generic[T]):
    data: T


class ListEnvelope(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None
    has_more: bool


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any]
    request_id: str | None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class StrictModel(BaseModel):
    """Base for request bodies: unknown fields are an error and types are not coerced
    (``false`` is not a number, ``"5"`` is not an integer). Use ``Rfc3339`` for times."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL text cannot hold NUL; refuse it everywhere so both databases agree.
        if _has_nul(value):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return value


def _has_nul(value: Any) -> bool:
    # Iterative: a request body may nest deeper than Python's recursion limit.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def _rfc3339(value: object) -> datetime:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value) >= 19 and value[10] in "Tt ":
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise ValueError("expected an RFC 3339 date-time") from exc
    else:
        raise ValueError("expected an RFC 3339 date-time such as 2026-11-22T10:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# An RFC 3339 date-time string (never a number); a missing offset means UTC.
Rfc3339 = Annotated[datetime, Field(strict=False), BeforeValidator(_rfc3339)]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorEnvelope, "description": "Error"} for code in codes}


# Every authenticated route may answer these; documented so clients and schemathesis know them.
ERROR_RESPONSES = _errors(400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 500, 503)
