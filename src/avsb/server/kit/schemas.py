"""Response envelopes shared by every route: ``{"data": ...}``, lists, and errors."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

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
    """Base for request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorEnvelope, "description": "Error"} for code in codes}


# Every authenticated route may answer these; documented so clients and schemathesis know them.
ERROR_RESPONSES = _errors(400, 401, 403, 404, 409, 412, 413, 415, 422, 429, 500, 503)
