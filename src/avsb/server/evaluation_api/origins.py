"""The browser origins every live SDK key admits (CORS of the evaluation routes), held in
memory: by the SHA-256 of each secret (current and previous, as the database keeps them) and
by key id (the ABC `X-Ak`). One background thread reloads them whenever a token changes; the
request path only reads the table (src/avsb/server/hotpath/cors.py answers with it)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import select

from avsb.server.auth.authenticator import TOKEN_SCOPE
from avsb.server.db import Database
from avsb.server.evaluation_api.worker import BackgroundLoop
from avsb.server.kit.origins import WILDCARD
from avsb.server.models import ApiToken

log = logging.getLogger("avsb.server.cors")

# The ASGI scope entry where a route that authenticates without a key header (the OFREP event
# stream: its key is named by a signed query token) puts the key id it verified, so the CORS
# answer follows that key's origins.
SCOPE_KEY_ID = "avsb.sdk_key_id"


@dataclass(frozen=True, slots=True)
class _Table:
    """The allowed origins of every live SDK key, by secret hash and by key id."""

    by_hash: dict[str, frozenset[str]]
    by_id: dict[str, frozenset[str]]
    any_key: frozenset[str]  # the union, with the default: what a preflight may be told


def allows(origins: frozenset[str], origin: str) -> bool:
    return WILDCARD in origins or origin in origins


class OriginTable(BackgroundLoop):
    """The allowed origins of every live SDK key and the instance default."""

    thread_name = "avsb-sdk-origins"

    def __init__(self, db: Database, default: frozenset[str]) -> None:
        super().__init__()
        self._db = db
        self.default = default
        self._table = _Table({}, {}, default)
        self._stale = False

    def load(self) -> None:
        """Read the origins of every live SDK key (in a worker thread or at startup)."""
        stmt = select(
            ApiToken.id, ApiToken.token_hash, ApiToken.previous_hash, ApiToken.allowed_origins
        ).where(ApiToken.kind == "sdk", ApiToken.revoked_at.is_(None))
        by_hash: dict[str, frozenset[str]] = {}
        by_id: dict[str, frozenset[str]] = {}
        union = set(self.default)
        with self._db.session(write=False) as session:
            for key_id, current, previous, allowed in session.execute(stmt):
                origins = self.default if allowed is None else frozenset(allowed)
                union |= origins
                by_id[key_id] = origins
                for digest in (current, previous):
                    if digest:
                        by_hash[digest] = origins
        self._table = _Table(by_hash, by_id, frozenset(union))

    def on_change(self, scope: str, _version: int) -> None:
        """Change-watcher listener: reload after any token change."""
        if scope == TOKEN_SCOPE:
            with self._cond:
                self._stale = True
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not (self._stale or self._stopping):
                    self._cond.wait()
                if self._stopping:
                    return
                self._stale = False
            try:
                self.load()
            except Exception:
                log.exception("SDK key origins not reloaded; will retry")
                with self._cond:
                    self._stale = True
                    self._cond.wait(1.0)

    def preflight_allows(self, origin: str) -> bool:
        """Whether some live SDK key (or the default) admits `origin`."""
        return allows(self._table.any_key, origin)

    def for_request(self, headers: dict[bytes, bytes], key_id: str | None = None) -> frozenset[str]:
        """The origins the request's own key admits (`key_id` verified by the route, else
        bearer, X-API-Key or ABC X-Ak); those of a preflight when the key is unknown or
        missing."""
        table = self._table
        if key_id is not None:
            by_id = table.by_id.get(key_id)
            return table.any_key if by_id is None else by_id
        token: bytes | None = None
        auth = headers.get(b"authorization")
        if auth is not None:
            scheme, _, value = auth.partition(b" ")
            if scheme.lower() == b"bearer":
                token = value.strip()
        if not token:
            token = (headers.get(b"x-api-key") or b"").strip() or None
        if token:
            found = table.by_hash.get(hashlib.sha256(token).hexdigest())
        else:
            ak = headers.get(b"x-ak")
            found = None if ak is None else table.by_id.get(ak.decode("latin-1"))
        return table.any_key if found is None else found
