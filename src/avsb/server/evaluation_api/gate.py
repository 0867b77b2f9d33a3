"""Authentication and rate limiting of the evaluation routes, without I/O in the common case.

SDK keys only. OFREP and `/api/sdk/*` take the key as `Authorization: Bearer` or `X-API-Key`;
the ABC routes take a signature: `X-Ak` (the key's id), `X-Et` (unix seconds) and
`X-Es` = md5 hex of (secret + ak + et). Both end in the shared authenticator's token cache
(revocation, expiry, rotation grace, failure throttling, last use); only a cache miss goes
to a worker thread.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from avsb.server.auth.authenticator import CACHE_SECONDS, TOKEN_SCOPE, Authenticator, reload_window
from avsb.server.auth.principal import Principal
from avsb.server.auth.ratelimit import RateDecision, RateLimiter
from avsb.server.db import Database
from avsb.server.errors import Forbidden, RateLimited, Unauthorized
from avsb.server.kit.metrics import Metrics
from avsb.server.kit.threads import ended_within
from avsb.server.models import ApiToken

log = logging.getLogger("avsb.server.evaluation")
T = TypeVar("T")

_MAX_CACHED = 50_000
_MAX_KEY_ID = 64
RATE_FAMILY = "evaluation"
LEASE_TAKES = "avsb_evaluation_lease_takes_total"
_TAKES_DOC = (
    "Rate-limit leases taken from the shared bucket for the evaluation routes: ahead (while "
    "the last one was still being spent), or on the request path, where requests wait for "
    "it, because the process had no lease, its lease had expired, or it was spent."
)
_AHEAD = (("when", "ahead"),)
_WAITED = {state: (("when", state),) for state in ("none", "expired", "spent", "live")}
CACHE_READS = "avsb_evaluation_cache_reads_total"
_READS_DOC = (
    "Database reads of a token or an SDK key's secrets for the evaluation routes: ahead of "
    "a cache entry's end, or on the request path (the request waited for it)."
)


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

    def __init__(self, db: Database, cache_seconds: float = CACHE_SECONDS) -> None:
        self._db = db
        self._cache_seconds = cache_seconds
        self._reload_window = reload_window(cache_seconds)
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

    def due(self, key_id: str) -> bool:
        """Whether a key id's cached secrets are near their end (to `load` them ahead)."""
        entry = self._cache.get(key_id)
        return entry is not None and entry[1] - time.monotonic() < self._reload_window

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
            self._cache[key_id] = (found, time.monotonic() + self._cache_seconds)
        return found


def _sdk_key(principal: Principal) -> Principal:
    """`principal`, if it is an SDK key bound to one project (else 403)."""
    if principal.kind != "sdk" or principal.project_id is None:
        raise Forbidden(
            "Evaluation routes take an SDK key (kind 'sdk'), bound to one project.",
            code="sdk_key_required",
        )
    return principal


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
        self._taking: dict[str, asyncio.Future[Any]] = {}  # takes under way, by key
        self._reloading: set[tuple[str, str]] = set()  # (cache, key) reloads under way
        self._threads: set[asyncio.Future[Any]] = set()  # worker-thread work under way

    def _in_background(
        self, work: Callable[[str], object], key: str, done: Callable[[], None], what: str
    ) -> asyncio.Future[Any]:
        """`work(key)` on a worker thread; `done()` when it ends, its failure logged."""

        def ended(task: asyncio.Future[Any]) -> None:
            done()
            if not task.cancelled() and task.exception() is not None:
                log.warning("%s failed: %s", what, task.exception())

        task = self._on_thread(work, key)
        task.add_done_callback(ended)
        return task

    def _on_thread(self, work: Callable[[str], T], key: str) -> asyncio.Future[T]:
        """`work(key)` on a worker thread, as a future `drain` waits for."""
        task = asyncio.ensure_future(run_in_threadpool(work, key))
        self._threads.add(task)
        task.add_done_callback(self._threads.discard)
        return task

    async def drain(self, seconds: float) -> None:
        """Wait up to `seconds` for the lease takes and cache reads under way (at shutdown,
        before the database pools close: a thread still in a transaction would leave its
        connection open and its take half done)."""
        await ended_within(set(self._threads), seconds, "rate-limit takes or key reads")

    def _failed(self, message: str, ip: str) -> Unauthorized:
        self._metrics.inc("avsb_auth_failures_total", doc="Requests with a bad token.")
        return self._auth.throttle.refuse(ip, message)  # 429 past the address's failure limit

    def bearer_now(self, raw: str | None, ip: str) -> Principal | None:
        """`bearer` from the caches, without I/O: None when the database must be asked."""
        if raw is None:
            self._auth.throttle.check(ip)
            raise Unauthorized("Send an SDK key as 'Authorization: Bearer <key>' or 'X-API-Key'.")
        try:
            principal, due = self._auth.cached_due(raw, ip)
        except Unauthorized:
            self._metrics.inc("avsb_auth_failures_total", doc="Requests with a bad token.")
            raise
        if principal is None:
            return None
        if due:
            self._reload_ahead("token", raw, self._auth.reload)
        return _sdk_key(principal)

    def _reload_ahead(self, cache: str, key: str, load: Callable[[str], object]) -> None:
        """Read a cache entry near its end again on a worker thread, one reload per entry at
        a time, while requests go on using it: a busy key's requests never wait for the
        database (when 30 s entries ended under load, every request in flight queued its own
        query, a stall of up to ~150 ms). If the read fails, the entry ends as it would have
        and the next request reads it itself."""
        entry = (cache, key)
        if entry in self._reloading:
            return
        self._reloading.add(entry)
        self._metrics.inc(CACHE_READS, (("cache", cache), ("when", "ahead")), doc=_READS_DOC)
        self._in_background(load, key, lambda: self._reloading.discard(entry), f"{cache} reload")

    async def bearer(self, raw: str | None, ip: str) -> Principal:
        """The SDK key presented as a bearer token; 401 / 403 / 429 (failure throttle)."""
        principal = self.bearer_now(raw, ip)
        if principal is not None:
            return principal
        self._metrics.inc(CACHE_READS, (("cache", "token"), ("when", "waited")), doc=_READS_DOC)
        try:
            principal = await run_in_threadpool(self._auth.authenticate, str(raw), ip)
        except Unauthorized:
            self._metrics.inc("avsb_auth_failures_total", doc="Requests with a bad token.")
            raise
        return _sdk_key(principal)

    def _signed(self, ak: str | None, et: str | None, es: str | None, ip: str) -> str:
        """The presented signature, once the headers are well formed (else 401)."""
        if not ak or not et or not es or len(ak) > _MAX_KEY_ID:
            raise self._failed("Send the X-Ak, X-Et and X-Es signature headers.", ip)
        if (
            not (len(et) <= 12 and et.isascii() and et.isdigit())
            or abs(time.time() - int(et)) > self._skew
        ):
            raise self._failed(f"X-Et must be unix seconds within {self._skew} s of now.", ip)
        return es.strip().lower()

    def signature_now(
        self, ak: str | None, et: str | None, es: str | None, ip: str
    ) -> Principal | None:
        """`signature` from the caches, without I/O: None when it must be awaited."""
        presented = self._signed(ak, et, es, ip)
        key_id = str(ak)
        known = self._secrets.verified(key_id, str(et), presented)
        if known is None:
            return None
        if self._secrets.due(key_id):
            self._reload_ahead("sdk_secrets", key_id, self._secrets.load)
        return self.bearer_now(known, ip)

    async def signature(self, ak: str | None, et: str | None, es: str | None, ip: str) -> Principal:
        """The SDK key whose secret signed the request (ABC `X-Ak`, `X-Et`, `X-Es`)."""
        presented = self._signed(ak, et, es, ip)
        key_id, sent_at = str(ak), str(et)
        known = self._secrets.verified(key_id, sent_at, presented)
        if known is not None:
            return await self.bearer(known, ip)
        secrets = self._secrets.cached(key_id)
        if secrets is None:
            waited = (("cache", "sdk_secrets"), ("when", "waited"))
            self._metrics.inc(CACHE_READS, waited, doc=_READS_DOC)
            secrets = await run_in_threadpool(self._secrets.load, key_id)
        for secret in secrets:
            expected = abc_signature(secret, key_id, sent_at)
            if hmac.compare_digest(expected.encode(), presented.encode()):
                self._secrets.remember(key_id, sent_at, presented, secret)
                return await self.bearer(secret, ip)
        raise self._failed("The signature does not match an SDK key.", ip)

    async def admitted(self, raw: str | None, ip: str) -> tuple[Principal, RateDecision]:
        """`bearer`, then `admit`. In the common case (key cached, tokens left in this
        process's lease) neither awaits: one coroutine per request rather than four."""
        principal = self.bearer_now(raw, ip) or await self.bearer(raw, ip)
        return principal, self.admit_now(principal) or await self.admit(principal)

    async def signed_admitted(
        self, ak: str | None, et: str | None, es: str | None, ip: str
    ) -> tuple[Principal, RateDecision]:
        """`signature`, then `admit`; as `admitted`."""
        principal = self.signature_now(ak, et, es, ip) or await self.signature(ak, et, es, ip)
        return principal, self.admit_now(principal) or await self.admit(principal)

    def admit_now(self, principal: Principal) -> RateDecision | None:
        """`admit` from this process's own state, without I/O or waiting; None when `admit`
        must be awaited. A lease running low is refilled in the background meanwhile."""
        decision = self._limiter.try_local(f"{principal.token_id}:{RATE_FAMILY}")
        if decision is None:
            return None
        due = self._limiter.refills_due()
        if due:
            self._refill(due)
        return self._allowed(decision)

    def _refill(self, keys: list[str]) -> None:
        """Take the next lease of each key on a worker thread, unless a take of it is under
        way; requests that find the lease empty meanwhile wait for it (`_take`)."""
        for key in keys:
            if key in self._taking:
                continue
            self._metrics.inc(LEASE_TAKES, _AHEAD, doc=_TAKES_DOC)
            # If the take fails, the next one, once the lease is spent, is on the request path.
            self._taking[key] = self._in_background(
                self._limiter.refill, key, functools.partial(self._taken, key), "lease refill"
            )

    def _taken(self, key: str) -> None:
        """A take of `key` ended: the next request may start one."""
        self._taking.pop(key, None)

    async def admit(self, principal: Principal) -> RateDecision:
        """Take one request from the key's evaluation bucket; 429 when it is empty."""
        return self._allowed(await self._take(f"{principal.token_id}:{RATE_FAMILY}"))

    def _allowed(self, decision: RateDecision) -> RateDecision:
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
        self._metrics.inc(LEASE_TAKES, _WAITED[self._limiter.lease_state(key)], doc=_TAKES_DOC)
        task = self._on_thread(self._limiter.acquire, key)
        self._taking[key] = task
        try:
            return await task
        finally:
            if self._taking.get(key) is task:
                del self._taking[key]
