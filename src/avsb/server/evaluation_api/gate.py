"""Authentication and rate limiting of the evaluation routes, without I/O in the common case.

SDK keys only. OFREP and `/api/sdk/*` take the key as `Authorization: Bearer` or `X-API-Key`;
the ABC routes take a signature: `X-Ak` (the key's id), `X-Et` (unix seconds) and
`X-Es` = md5 hex of (secret + ak + et). Both end in the shared authenticator's token cache
(revocation, expiry, rotation grace, failure throttling, last use); only a cache miss goes
to a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import threading
import time

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from avsb.server.auth.authenticator import TOKEN_SCOPE, Authenticator
from avsb.server.auth.principal import Principal
from avsb.server.auth.ratelimit import RateDecision, RateLimiter
from avsb.server.db import Database
from avsb.server.errors import Forbidden, RateLimited, Unauthorized
from avsb.server.kit.metrics import Metrics
from avsb.server.models import ApiToken

_CACHE_SECONDS = 30.0
_MAX_CACHED = 50_000
_MAX_KEY_ID = 64
RATE_FAMILY = "evaluation"


def abc_signature(secret: str, key_id: str, et: str) -> str:
    """The ABC request signature: md5 hex of secret + key id + time (as sent)."""
    # md5 is what the ABC protocol specifies; the 256-bit random secret carries the security.
    return hashlib.md5((secret + key_id + et).encode(), usedforsecurity=False).hexdigest()


class SdkSecrets:
    """SDK key id -> its secrets (current, and the previous one in a rotation's grace period).

    Cached for a few seconds and cleared whenever any token changes; unknown ids are cached
    as having no secret, so a flood of made-up ids costs one query each per 30 s.

    A signature that matched is remembered with the secret it matched, until the entry of
    its key id expires or any token changes (the same life as the secrets it was checked
    against): a client signs once per second (`X-Et`), so its other requests in that second
    skip the md5.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[str, tuple[tuple[str, ...], float]] = {}
        self._verified: dict[tuple[str, str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def invalidate(self, scope: str, _version: int) -> None:
        """Change-watcher listener."""
        if scope == TOKEN_SCOPE:
            with self._lock:
                self._cache.clear()
                self._verified.clear()

    def verified(self, key_id: str, et: str, signature: str) -> str | None:
        """The secret a signature matched before, while that match still holds."""
        entry = self._verified.get((key_id, et, signature))
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def remember(self, key_id: str, et: str, signature: str, secret: str) -> None:
        """Keep a signature that matched `secret` as long as the key id's secrets are cached."""
        entry = self._cache.get(key_id)
        if entry is None or secret not in entry[0]:
            return  # invalidated meanwhile: the next request checks afresh
        with self._lock:
            if len(self._verified) > _MAX_CACHED:
                self._verified.clear()
            self._verified[key_id, et, signature] = (secret, entry[1])

    def cached(self, key_id: str) -> tuple[str, ...] | None:
        """The secrets of a key id from the cache; None when the database must be asked."""
        entry = self._cache.get(key_id)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def load(self, key_id: str) -> tuple[str, ...]:
        """The secrets of a key id (empty for anything but a live SDK key), then cached."""
        stmt = select(ApiToken.sdk_secret, ApiToken.sdk_previous_secret).where(
            ApiToken.id == key_id, ApiToken.kind == "sdk", ApiToken.revoked_at.is_(None)
        )
        with self._db.session(write=False) as session:
            row = session.execute(stmt).first()
        found = () if row is None else tuple(s for s in row if s)
        with self._lock:
            if len(self._cache) > _MAX_CACHED:
                self._cache.clear()
            self._cache[key_id] = (found, time.monotonic() + _CACHE_SECONDS)
        return found


class Gate:
    """Who is calling (an SDK key of one project) and whether its rate limit admits the call."""

    def __init__(
        self,
        authenticator: Authenticator,
        limiter: RateLimiter,
        secrets: SdkSecrets,
        metrics: Metrics,
        max_skew_seconds: int,
    ) -> None:
        self._auth = authenticator
        self._limiter = limiter
        self._secrets = secrets
        self._metrics = metrics
        self._skew = max_skew_seconds
        self._taking: dict[str, asyncio.Task[RateDecision]] = {}

    def _failed(self, message: str, ip: str) -> Unauthorized:
        self._metrics.inc("avsb_auth_failures_total", doc="Requests with a bad token.")
        return self._auth.throttle.refuse(ip, message)  # 429 past the address's failure limit

    async def bearer(self, raw: str | None, ip: str) -> Principal:
        """The SDK key presented as a bearer token; 401 / 403 / 429 (failure throttle)."""
        if raw is None:
            self._auth.throttle.check(ip)
            raise Unauthorized("Send an SDK key as 'Authorization: Bearer <key>' or 'X-API-Key'.")
        try:
            principal = self._auth.cached(raw, ip)
            if principal is None:
                principal = await run_in_threadpool(self._auth.authenticate, raw, ip)
        except Unauthorized:
            self._metrics.inc("avsb_auth_failures_total", doc="Requests with a bad token.")
            raise
        if principal.kind != "sdk" or principal.project_id is None:
            raise Forbidden(
                "Evaluation routes take an SDK key (kind 'sdk'), bound to one project.",
                code="sdk_key_required",
            )
        return principal

    async def signature(self, ak: str | None, et: str | None, es: str | None, ip: str) -> Principal:
        """The SDK key whose secret signed the request (ABC `X-Ak`, `X-Et`, `X-Es`)."""
        if not ak or not et or not es or len(ak) > _MAX_KEY_ID:
            raise self._failed("Send the X-Ak, X-Et and X-Es signature headers.", ip)
        if (
            not (len(et) <= 12 and et.isascii() and et.isdigit())
            or abs(time.time() - int(et)) > self._skew
        ):
            raise self._failed(f"X-Et must be unix seconds within {self._skew} s of now.", ip)
        presented = es.strip().lower()
        known = self._secrets.verified(ak, et, presented)
        if known is not None:
            return await self.bearer(known, ip)
        secrets = self._secrets.cached(ak)
        if secrets is None:
            secrets = await run_in_threadpool(self._secrets.load, ak)
        for secret in secrets:
            if hmac.compare_digest(abc_signature(secret, ak, et).encode(), presented.encode()):
                self._secrets.remember(ak, et, presented, secret)
                return await self.bearer(secret, ip)
        raise self._failed("The signature does not match an SDK key.", ip)

    async def admit(self, principal: Principal) -> RateDecision:
        """Take one request from the key's evaluation bucket; 429 when it is empty."""
        decision = await self._take(f"{principal.token_id}:{RATE_FAMILY}")
        if not decision.allowed:
            self._metrics.inc("avsb_rate_limited_total", doc="Requests refused by the rate limit.")
            raise RateLimited(
                f"Rate limit of {decision.limit} evaluation requests per minute exceeded.",
                headers=decision.headers(),
            )
        return decision

    async def _take(self, key: str) -> RateDecision:
        """A token of `key`: from this process's lease, else from the shared bucket, with one
        worker-thread take per key at a time. Requests that find the lease empty while a take
        is under way wait for it and spend what it leased, rather than each queueing a thread
        hop (and, on SQLite, a turn at the database lock)."""
        while (decision := self._limiter.try_local(key)) is None:
            pending = self._taking.get(key)
            if pending is None:
                break
            await asyncio.wait((pending,))
        if decision is not None:
            return decision
        task = asyncio.ensure_future(run_in_threadpool(self._limiter.acquire, key))
        self._taking[key] = task
        try:
            return await task
        finally:
            if self._taking.get(key) is task:
                del self._taking[key]
