"""Resolving a presented secret to a ``Principal``: cached, throttled, and cheap per request.

Tokens and sign-in sessions are cached by hash for a few seconds; any write to a token, a
session, a user or a membership bumps the ``tokens`` change scope, which clears the cache in
this process at once and in the others at their next poll. A person's credential (session or
personal access token) carries the scopes of their current role.
``last_used_at`` (and sessions' ``last_seen_at``) is collected in memory and written in one
batch every few seconds; the same batch writes a ``token.used`` audit event (with the client
address of the token's latest request) when the token's ``last_audited_at`` is an hour old or
more. That column is set by a conditional UPDATE, so among several server processes on one
database only one writes the event.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.orm import Session

from avsb.server.auth.principal import Principal, person_scopes
from avsb.server.auth.secrets import hash_token
from avsb.server.db import Database
from avsb.server.errors import RateLimited, Unauthorized
from avsb.server.kit import audit
from avsb.server.kit.context import ChangeContext
from avsb.server.models import ApiToken, Membership, User, UserSession

TOKEN_SCOPE = "tokens"  # noqa: S105 - a change-scope name, not a secret
CACHE_SECONDS = 30.0
"""How long a cached token is used before it is read again (`AVSB_AUTH_CACHE_SECONDS`)."""


def reload_window(cache_seconds: float) -> float:
    """How long before a cache entry's end a caller that refreshes ahead reads it again:
    a quarter of its life, at most 5 s."""
    return min(5.0, cache_seconds / 4)


@dataclass(frozen=True)
class _Cached:
    principal: Principal | None
    expires_at: float | None  # token expiry (unix seconds), None = never
    cached_until: float
    idle_seconds: float | None = None  # sessions: signed out after this long unused


class FailureThrottle:
    """Failed authentications per key (a client address, an account): a bucket of
    ``per_minute`` failures refilled at ``per_minute`` a minute.

    Only failures are throttled: once a key has spent its bucket, its further failures answer
    429 instead of 401, while a valid token from the same address (another user behind the
    same proxy or NAT) is admitted as always. A bucket, not a per-minute window: a window
    counted afresh at every minute boundary would let twice the limit through across one,
    and a burst spent just before it would be forgotten just after.
    """

    MAX_KEYS = 100_000

    def __init__(self, per_minute: int) -> None:
        self._capacity = float(per_minute)
        self._rate = per_minute / 60.0  # failures refilled per second
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at monotonic)
        self._lock = threading.Lock()

    def _tokens(self, key: str, now: float) -> float:
        seen = self._buckets.get(key)  # one dict read: atomic, no lock needed
        if seen is None:
            return self._capacity
        tokens, at = seen
        return min(self._capacity, tokens + (now - at) * self._rate)

    def check(self, key: str) -> None:
        """429 when ``key`` has no failure left in its bucket (call it on a failure only)."""
        tokens = self._tokens(key, time.monotonic())
        if tokens < 1.0:
            retry = max(1, math.ceil((1.0 - tokens) / self._rate))
            raise RateLimited(
                "Too many failed authentication attempts from this address.",
                headers={"Retry-After": str(retry)},
            )

    def fail(self, key: str) -> None:
        now = time.monotonic()
        with self._lock:
            tokens = max(0.0, self._tokens(key, now) - 1.0)
            self._buckets.pop(key, None)  # re-inserted last: the dict is in order of failure
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.MAX_KEYS:
                self._forget(now)

    def _forget(self, now: float) -> None:
        """Bound the memory: drop the full buckets, then, if still more than half the bound
        remain (failures from very many addresses), the least recently failed ones. A prune
        leaves at most half the bound, so one happens at most every ``MAX_KEYS / 2``
        failures."""
        kept = [(k, v) for k, v in self._buckets.items() if self._tokens(k, now) < self._capacity]
        self._buckets = dict(kept[-(self.MAX_KEYS // 2) :])

    def refuse(self, ip: str, message: str) -> Unauthorized:
        """A failed authentication from ``ip``: counted, then the 401 to raise (or 429 raised
        when the address is over its limit)."""
        self.check(ip)
        self.fail(ip)
        return Unauthorized(message)


@dataclass(frozen=True, slots=True)
class _Use:
    at: float  # unix time of the token's latest request
    ip: str  # its client address
    principal: Principal


class Authenticator:
    def __init__(
        self,
        db: Database,
        failures_per_minute: int,
        used_audit_seconds: float = 3600.0,
        session_idle_seconds: float = 8 * 3600.0,
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._reload_window = reload_window(cache_seconds)
        self._cache: dict[str, _Cached] = {}
        # Bumped by every clear: an entry read from the database before a clear is not stored
        # after it (it may hold what the change being announced has just revoked).
        self._generation = 0
        self._lock = threading.Lock()
        self._used: dict[str, _Use] = {}  # token id -> its latest request
        self._audited: dict[str, float] = {}  # token id -> when this process audited its use
        self._audit_every = used_audit_seconds
        self._limits: dict[str, tuple[int | None, int | None]] = {}  # token id -> own limits
        self._seen: dict[str, float] = {}  # session id -> unix time of its last request
        self._seen_pending: dict[str, float] = {}  # not yet written to the database
        self._idle = session_idle_seconds
        self.throttle = FailureThrottle(failures_per_minute)

    def invalidate(self, scope: str, _version: int) -> None:
        """Change-watcher listener: drop cached tokens when any token changed."""
        if scope == TOKEN_SCOPE:
            with self._lock:
                self._cache.clear()
                self._generation += 1

    def rate_limits(self, key: str) -> tuple[int | None, int | None] | None:
        """A rate-limit bucket key's (``<token id>:<family>``) own limits, if its token has any
        (``ratelimit.Overrides``); known once the token was authenticated."""
        return self._limits.get(key.partition(":")[0])

    def cached(self, raw: str, ip: str) -> Principal | None:
        """The principal from the cache without I/O; None when the database must be asked."""
        return self.cached_due(raw, ip)[0]

    def cached_due(self, raw: str, ip: str) -> tuple[Principal | None, bool]:
        """`cached`, and whether its entry is near its end: a caller may `reload` it ahead,
        off the request path, so that requests of a busy token never wait for the database."""
        now = time.time()
        entry = self._cache.get(hash_token(raw))
        if entry is None or entry.cached_until < now:
            return None, False
        return self._admit(entry, ip, now), entry.cached_until - now < self._reload_window

    def reload(self, raw: str) -> None:
        """Read a token from the database again and cache what it says now."""
        digest = hash_token(raw)
        generation = self._generation
        self._store(digest, self._load(digest, time.time()), generation)

    def _store(self, key: str, entry: _Cached, generation: int) -> None:
        with self._lock:
            if len(self._cache) > 50_000:
                self._cache.clear()
            if generation == self._generation:
                self._cache[key] = entry

    def authenticate(self, raw: str, ip: str, *, session: bool = False) -> Principal:
        """The principal for ``raw`` (a token, or with ``session`` a sign-in session id), else
        401 and a failure counted against ``ip`` (429 once ``ip`` is over its failure limit)."""
        digest = hash_token(raw)
        key = "s:" + digest if session else digest
        now = time.time()
        entry = self._cache.get(key)
        if entry is None or entry.cached_until < now:
            generation = self._generation
            entry = self._load_session(digest, now) if session else self._load(digest, now)
            self._store(key, entry, generation)
        return self._admit(entry, ip, now)

    def cached_session(self, raw: str, ip: str) -> Principal | None:
        """``cached`` for a sign-in session id."""
        now = time.time()
        entry = self._cache.get("s:" + hash_token(raw))
        if entry is None or entry.cached_until < now:
            return None
        return self._admit(entry, ip, now)

    def _admit(self, entry: _Cached, ip: str, now: float) -> Principal:
        principal = entry.principal
        if principal is None or (entry.expires_at is not None and entry.expires_at <= now):
            raise self.throttle.refuse(ip, "The token is missing, invalid, revoked or expired.")
        if entry.idle_seconds is not None:
            seen = self._seen.get(principal.token_id, now)
            if now - seen > entry.idle_seconds:
                raise self.throttle.refuse(ip, "The session expired; sign in again.")
            self._seen[principal.token_id] = self._seen_pending[principal.token_id] = now
        else:
            self._used[principal.token_id] = _Use(now, ip, principal)
        return principal

    def _load_session(self, digest: str, now: float) -> _Cached:
        until = now + self._cache_seconds
        with self._db.session(write=False) as session:
            row = session.scalar(select(UserSession).where(UserSession.session_hash == digest))
            if row is None or row.revoked_at is not None:
                return _Cached(None, None, until)
            principal = self._person(session, row.user_id, row.id, "user", None, None)
            if principal is None:
                return _Cached(None, None, until)
            seen = row.last_seen_at.timestamp()
        with self._lock:
            self._seen[row.id] = max(self._seen.get(row.id, seen), seen)
        return _Cached(principal, row.expires_at.timestamp(), until, self._idle)

    @staticmethod
    def _person(
        session: Session,
        user_id: str,
        credential_id: str,
        kind: str,
        org_id: str | None,
        pat_scopes: frozenset[str] | None,
    ) -> Principal | None:
        """A person's principal under their current roles; None when disabled (or, for a
        PAT, no longer a member of its organisation)."""
        user = session.get(User, user_id)
        if user is None or user.disabled:
            return None
        stmt = select(Membership.org_id, Membership.role).where(Membership.user_id == user_id)
        if org_id is not None:
            stmt = stmt.where(Membership.org_id == org_id)
        memberships = tuple(sorted((str(o), str(r)) for o, r in session.execute(stmt)))
        if org_id is not None and not memberships:
            return None
        home, role = memberships[0] if memberships else ("", "")
        return Principal(
            token_id=credential_id,
            org_id=home,
            kind=kind,
            name=user.email,
            scopes=person_scopes(role, pat_scopes) if role else frozenset(),
            is_admin=False,
            project_id=None,
            user_id=user.id,
            email=user.email,
            role=role or None,
            memberships=memberships,
            pat_scopes=pat_scopes,
            source="dashboard" if kind == "user" else "api",
        )

    def _load(self, digest: str, now: float) -> _Cached:
        with self._db.session(write=False) as session:
            token = session.scalar(
                select(ApiToken).where(
                    or_(ApiToken.token_hash == digest, ApiToken.previous_hash == digest)
                )
            )
        until = now + self._cache_seconds
        if token is None or token.revoked_at is not None:
            return _Cached(None, None, until)
        if token.rate_limit_per_minute is None and token.rate_limit_burst is None:
            self._limits.pop(token.id, None)
        else:
            self._limits[token.id] = (token.rate_limit_per_minute, token.rate_limit_burst)
        expiry = token.expires_at.timestamp() if token.expires_at else None
        if token.token_hash != digest:  # the previous secret of a rotation in its grace period
            grace = token.previous_expires_at.timestamp() if token.previous_expires_at else now
            expiry = grace if expiry is None else min(expiry, grace)
        if token.kind == "pat":
            if token.user_id is None:
                return _Cached(None, None, until)
            with self._db.session(write=False) as session:
                person = self._person(
                    session, token.user_id, token.id, "pat", token.org_id, frozenset(token.scopes)
                )
            return _Cached(person, expiry, until)
        principal = Principal(
            token_id=token.id,
            org_id=token.org_id,
            kind=token.kind,
            name=token.name,
            scopes=frozenset(token.scopes),
            is_admin=token.is_admin,
            project_id=token.project_id,
        )
        return _Cached(principal, expiry, until)

    def flush_last_used(self) -> int:
        """Write the collected ``last_used_at`` times (and sessions' ``last_seen_at``), and the
        ``token.used`` audit events due, in one transaction; return how many credentials."""
        pending, self._used = self._used, {}
        seen, self._seen_pending = self._seen_pending, {}
        if len(self._seen) > 10_000:  # forget sessions idle past their limit
            cutoff = time.time() - self._idle
            with self._lock:
                self._seen = {k: v for k, v in self._seen.items() if v >= cutoff}
                self._cache.clear()  # a cached session must not outlive its idle record
                self._generation += 1
        if not pending and not seen:
            return 0
        audited: dict[str, float] = {}
        with self._db.transaction() as session:
            for session_id, seen_at in seen.items():
                session.execute(
                    update(UserSession)
                    .where(UserSession.id == session_id)
                    .values(last_seen_at=datetime.fromtimestamp(seen_at, UTC))
                    .execution_options(synchronize_session=False)
                )
            for token_id, use in pending.items():
                used_at = datetime.fromtimestamp(use.at, UTC)
                # Bookkeeping columns: written without bumping the version (ETags stay put).
                session.execute(
                    update(ApiToken)
                    .where(ApiToken.id == token_id)
                    .values(last_used_at=used_at, updated_at=ApiToken.updated_at)
                    .execution_options(synchronize_session=False)
                )
                if use.at - self._audited.get(token_id, -self._audit_every) < self._audit_every:
                    continue  # this process wrote one within the hour: no need to ask
                # Only the process whose UPDATE matches writes the event: on PostgreSQL a
                # concurrent one waits for the row lock, then finds the condition false.
                since = used_at - timedelta(seconds=self._audit_every)
                claimed = session.execute(
                    update(ApiToken)
                    .where(
                        ApiToken.id == token_id,
                        or_(ApiToken.last_audited_at.is_(None), ApiToken.last_audited_at <= since),
                    )
                    .values(last_audited_at=used_at, updated_at=ApiToken.updated_at)
                    .execution_options(synchronize_session=False)
                )
                if cast(CursorResult[Any], claimed).rowcount == 1:
                    principal = use.principal
                    ctx = ChangeContext(principal.org_id, principal.actor, "api", use.ip)
                    audit.record(
                        session, ctx, "token.used", (ApiToken.__resource_type__, token_id), {}
                    )
                    audited[token_id] = use.at
        self._audited.update(audited)  # once committed
        return len(pending) + len(seen)
