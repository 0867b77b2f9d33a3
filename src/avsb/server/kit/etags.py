"""Weak ETags from (resource id, version): they change on every write."""

from __future__ import annotations

import hashlib

from starlette.requests import Request

from avsb.server.errors import PreconditionFailed


class NotModified(Exception):  # noqa: N818 - a control-flow signal, not an error
    """Raised by a GET whose ``If-None-Match`` matches; answered as 304."""

    def __init__(self, etag: str) -> None:
        super().__init__(etag)
        self.etag = etag


def make_etag(resource_id: str, version: int) -> str:
    """``W/"<16 hex>"`` for one version of one resource."""
    digest = hashlib.sha256(f"{resource_id}:{version}".encode()).hexdigest()[:16]
    return f'W/"{digest}"'


def _matches(header: str, etag: str) -> bool:
    candidates = [part.strip() for part in header.split(",")]
    bare = etag.removeprefix("W/")
    return "*" in candidates or any(c.removeprefix("W/") == bare for c in candidates)


def check_if_none_match(request: Request, etag: str) -> None:
    """Raise ``NotModified`` when the client already holds this version."""
    header = request.headers.get("if-none-match")
    if header and _matches(header, etag):
        raise NotModified(etag)


def check_if_match(request: Request, etag: str) -> None:
    """Raise 412 when ``If-Match`` is present and names another version."""
    header = request.headers.get("if-match")
    if header and not _matches(header, etag):
        raise PreconditionFailed(
            "The resource changed since you read it; fetch it again and retry.",
            details={"current_etag": etag},
        )


def if_none_match_hits(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` value names ``etag`` (for routes that have no Request)."""
    return bool(header) and _matches(header or "", etag)
