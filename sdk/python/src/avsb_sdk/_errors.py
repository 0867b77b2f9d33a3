"""Errors raised by the SDK clients."""

from __future__ import annotations

from typing import Any

import httpx


class SdkError(Exception):
    """Base class of every error the SDK raises."""


class ApiError(SdkError):
    """An AvsB API error answer: HTTP status, error code, message, details and request id."""

    def __init__(
        self,
        status_code: int,
        code: str,
        message: str,
        *,
        details: dict[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{status_code} {code}: {message}")
        self.status_code = status_code
        self.code = code
        self.message = message
        self.details = details or {}
        self.request_id = request_id

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Read the error envelope of a response (or describe a response without one)."""
        try:
            error = response.json()["error"]
            return cls(
                response.status_code,
                str(error["code"]),
                str(error["message"]),
                details=error.get("details") or {},
                request_id=error.get("request_id"),
            )
        except (ValueError, KeyError, TypeError):
            return cls(response.status_code, "http_error", response.text[:500])
