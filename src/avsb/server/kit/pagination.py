"""Cursor pagination: keyset over the time-ordered ``id``, with an HMAC-signed opaque cursor."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session
from starlette.datastructures import URL

from avsb.server.errors import InvalidCursor

T = TypeVar("T")

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    next_cursor: str | None

    @property
    def has_more(self) -> bool:
        return self.next_cursor is not None


class CursorSigner:
    """Signs and checks cursors so a client cannot forge or edit one."""

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> str:
        digest = hmac.new(self._secret, payload, hashlib.sha256).digest()[:16]
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def encode(self, scope: str, after: str) -> str:
        """An opaque cursor meaning "items after ``after`` in the list ``scope``"."""
        payload = orjson.dumps({"s": scope, "a": after})
        body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        return f"{body}.{self._mac(payload)}"

    def decode(self, scope: str, cursor: str) -> str:
        """The ``after`` key of a cursor, or ``InvalidCursor`` when tampered or foreign.

        Anything a client sends is checked before it is trusted: the text must be the ASCII
        the encoder produces (comparing a non-ASCII MAC would raise), the MAC must match, and
        only then is the payload parsed.
        """
        if not cursor.isascii():
            raise InvalidCursor("The cursor is malformed.")
        try:
            body, mac = cursor.split(".", 1)
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, TypeError) as exc:  # binascii.Error is a ValueError
            raise InvalidCursor("The cursor is malformed.") from exc
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise InvalidCursor("The cursor was not issued by this server or was altered.")
        try:
            data = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise InvalidCursor("The cursor is malformed.") from exc
        if (
            not isinstance(data, dict)
            or data.get("s") != scope
            or not isinstance(data.get("a"), str)
        ):
            raise InvalidCursor("The cursor belongs to a different list.")
        return str(data["a"])


@dataclass(frozen=True)
class PageRequest:
    """What a list endpoint was asked for; ``scope`` binds a cursor to its list and filters."""

    signer: CursorSigner
    scope: str
    limit: int
    cursor: str | None

    def paginate(
        self, session: Session, stmt: Select[T], id_column: InstrumentedAttribute[str]
    ) -> Page[T]:
        """Run ``stmt`` ordered by ``id_column`` from the cursor, ``limit`` rows at a time."""
        if self.cursor:
            stmt = stmt.where(id_column > self.signer.decode(self.scope, self.cursor))
        rows = list(session.scalars(stmt.order_by(id_column).limit(self.limit + 1)))
        if len(rows) <= self.limit:
            return Page(rows, None)
        rows = rows[: self.limit]
        last: Any = getattr(rows[-1], id_column.key)
        return Page(rows, self.signer.encode(self.scope, str(last)))


def next_link(url: URL, cursor: str) -> str:
    """The ``Link`` header value for the next page of the list at ``url``."""
    return f'<{url.include_query_params(cursor=cursor)}>; rel="next"'
