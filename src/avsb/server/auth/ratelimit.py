"""Token buckets per (token, scope family): in the database, so every server process shares one.

A bucket holds at most ``burst`` tokens and refills at ``per_minute / 60`` per second. The
database's own clock is used so that processes on different hosts agree on time. A key is
``<token id>:<family>``; a token may carry its own limits (``Overrides``), which replace the
server's default ``per_minute`` and/or ``burst`` for its buckets.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text

from avsb.server.db import Database


@dataclass(frozen=True, slots=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # unix seconds when the bucket is full again
    retry_after: int  # seconds until one request is allowed (0 when allowed)

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """``headers()`` as ASGI header pairs."""
        return [(k.lower().encode(), v.encode()) for k, v in self.headers().items()]

    def headers(self) -> dict[str, str]:
        out = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_at),
        }
        if not self.allowed:
            out["Retry-After"] = str(self.retry_after)
        return out


@dataclass(frozen=True)
class BucketPolicy:
    per_minute: float
    burst: int

    @property
    def rate(self) -> float:
        return self.per_minute / 60.0

    def overridden(self, per_minute: int | None, burst: int | None) -> BucketPolicy:
        """This policy with a token's own limits (None: keep this policy's)."""
        return _overridden(self, per_minute, burst)

    def decide(self, allowed: bool, tokens: float, now: float) -> RateDecision:
        """Headers for a bucket holding ``tokens`` after this request at time ``now``."""
        tokens = max(tokens, 0.0)
        reset = now + (self.burst - tokens) / self.rate
        retry = 0 if allowed else max(1, math.ceil((1 - tokens) / self.rate))
        return RateDecision(allowed, int(self.per_minute), int(tokens), math.ceil(reset), retry)


@functools.lru_cache(maxsize=4096)
def _overridden(default: BucketPolicy, per_minute: int | None, burst: int | None) -> BucketPolicy:
    return BucketPolicy(
        default.per_minute if per_minute is None else float(per_minute),
        default.burst if burst is None else burst,
    )


Overrides = Callable[[str], tuple[int | None, int | None] | None]
"""A bucket key's own ``(per_minute, burst)`` (either None: the default), or None for none."""


class _Policies:
    """The default policy and the per-key overrides a limiter applies."""

    def __init__(self, policy: BucketPolicy, overrides: Overrides | None) -> None:
        self.policy = policy
        self._overrides = overrides

    def policy_for(self, key: str) -> BucketPolicy:
        limits = self._overrides(key) if self._overrides is not None else None
        return self.policy if limits is None else self.policy.overridden(*limits)


class RateLimiter(Protocol):
    def try_local(self, key: str) -> RateDecision | None:
        """A decision made without I/O, or None when the shared store must be asked."""

    def acquire(self, key: str) -> RateDecision:
        """Take one request from ``key``'s bucket (may do I/O)."""

    def refills_due(self) -> list[str]:
        """The keys whose lease runs low and should be refilled ahead (``refill``); each key
        is handed out once per lease. Empty for a limiter without leases."""

    def refill(self, key: str) -> None:
        """Add a new lease to ``key``'s running one, spending nothing (may do I/O)."""

    def lease_state(self, key: str) -> str:
        """Why ``try_local`` cannot spend from ``key``'s lease: ``none`` (no lease),
        ``expired`` or ``spent``; ``live`` when it can."""


class MemoryRateLimiter(_Policies):
    """One process's buckets; for a single server process or tests."""

    def __init__(self, policy: BucketPolicy, overrides: Overrides | None = None) -> None:
        super().__init__(policy, overrides)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def try_local(self, key: str) -> RateDecision | None:
        return self.acquire(key)

    def acquire(self, key: str) -> RateDecision:
        policy = self.policy_for(key)
        now = time.time()
        with self._lock:
            tokens, updated = self._buckets.get(key, (float(policy.burst), now))
            tokens = min(policy.burst, tokens + (now - updated) * policy.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
        return policy.decide(allowed, tokens, now)

    def refills_due(self) -> list[str]:
        return []

    def refill(self, key: str) -> None:
        """No leases: nothing to refill."""

    def lease_state(self, key: str) -> str:
        return "none"


_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "extract(epoch from clock_timestamp())::float8",
}
_LEAST = {"sqlite": "min", "postgresql": "least"}

LEASE_FRACTION = 1 / 16
MAX_LEASE = 1000
LEASE_MIN_AVAILABLE = 256
"""Below this many tokens in the bucket, every take is of one token: no process holds tokens
another process's request could have used, so small buckets admit exactly their tokens."""
LEASE_SECONDS = 1.0
REFILL_FRACTION = 1 / 2
"""With ``refill_ahead``, a lease of more than one token is refilled once this fraction of it
is left: requests then find tokens in the process rather than waiting for the next take (half
a lease leaves the take in the background as long to finish as the first half took)."""


@dataclass
class _Lease:
    tokens: int  # taken from the shared bucket, not yet used
    shared_left: float  # what the shared bucket held after the lease was taken
    expires: float  # monotonic seconds
    low: int = -1  # at this many tokens left, a refill is due (-1: never)


class DatabaseRateLimiter(_Policies):
    """Buckets in the ``rate_buckets`` table, shared by every server process.

    A process takes a *lease* of ``1/16`` of the tokens available (at most 1000) in one short
    transaction and spends it locally. Below 256 available tokens a take is of a single token,
    so every request is counted in the database exactly (the default bucket holds 20); with a
    high limit one write serves up to a thousand requests. Unused tokens of an expired lease
    are handed back on the next take.

    With ``refill_ahead`` (the evaluation routes' limiter), a lease of more than one token
    reports its key in ``refills_due`` when half of it is left, and the caller takes the next
    lease in the background (``refill``) while this one is still being spent: requests under
    a high limit do not wait for a take. The tokens a process holds stay bounded (the new
    lease plus half the last), and every token is in the bucket, in a lease or spent, as
    before.
    """

    def __init__(
        self,
        db: Database,
        policy: BucketPolicy,
        overrides: Overrides | None = None,
        *,
        refill_ahead: bool = False,
    ) -> None:
        super().__init__(policy, overrides)
        self._db = db
        self._refill_ahead = refill_ahead
        self._due: list[str] = []  # keys whose lease reached its `low` mark (refill_ahead)
        dialect = "sqlite" if db.is_sqlite else "postgresql"
        now, least = _NOW[dialect], _LEAST[dialect]
        lock = "" if db.is_sqlite else " FOR UPDATE"
        greatest = "max" if db.is_sqlite else "greatest"
        # Time never runs backwards for a bucket: a clock step back refills nothing and
        # takes nothing away.
        self._read = text(
            f"SELECT {least}(:burst, tokens + {greatest}(0, {now} - updated_at) * :rate + :back), "  # noqa: S608
            f"{greatest}({now}, updated_at) FROM rate_buckets WHERE key = :key{lock}"
        )
        self._write = text(
            "UPDATE rate_buckets SET tokens = :tokens, updated_at = :now WHERE key = :key"
        )
        self._create = text(
            f"INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (:key, :burst, {now}) "  # noqa: S608
            "ON CONFLICT (key) DO NOTHING"
        )
        self._leases: dict[str, _Lease] = {}
        self._lock = threading.Lock()
        # SQLite has one writer: queue this process's threads here rather than in busy-waits.
        self._db_lock = threading.Lock() if db.is_sqlite else None

    def try_local(self, key: str) -> RateDecision | None:
        with self._lock:
            lease = self._leases.get(key)
            if lease is None or lease.tokens < 1 or lease.expires < time.monotonic():
                return None
            lease.tokens -= 1
            if lease.tokens == lease.low:
                self._due.append(key)
            left = lease.shared_left + lease.tokens
        return self.policy_for(key).decide(True, left, time.time())

    def refills_due(self) -> list[str]:
        if not self._due:
            return []
        with self._lock:
            due, self._due = self._due, []
        return due

    def lease_state(self, key: str) -> str:
        with self._lock:
            lease = self._leases.get(key)
            if lease is None:
                return "none"
            if lease.tokens < 1:
                return "spent"
            return "expired" if lease.expires < time.monotonic() else "live"

    def acquire(self, key: str) -> RateDecision:
        decision = self.try_local(key)
        if decision is not None:
            return decision
        if self._db_lock is not None:
            with self._db_lock:
                # The threads queued here while one took a lease spend it, not one write each.
                return self.try_local(key) or self._take(key)
        return self._take(key)

    def refill(self, key: str) -> None:
        """Take a new lease and add it to the running one (its expiry moves to a second from
        now); nothing is spent or handed back. A bucket under ``LEASE_MIN_AVAILABLE`` tokens
        gives nothing: its takes stay one token per request."""
        if self._db_lock is not None:
            with self._db_lock:
                self._refill(key)
        else:
            self._refill(key)

    def _refill(self, key: str) -> None:
        take, available, _now = self._take_from_bucket(key, self.policy_for(key), 0.0, single=False)
        if take > 0:
            self._keep(key, take, available - take)

    def _take(self, key: str) -> RateDecision:
        with self._lock:
            old = self._leases.pop(key, None)
        back = float(old.tokens) if old is not None else 0.0
        policy = self.policy_for(key)
        try:
            take, available, now = self._take_from_bucket(key, policy, back, single=True)
        except BaseException:
            if old is not None:  # not handed back: keep spending it here
                self._keep(key, old.tokens, old.shared_left)
            raise
        if take == 0:
            return policy.decide(False, available, now)
        left = available - take
        if take > 1:  # what is left for the key: the bucket and this process's lease
            left += self._keep(key, take - 1, left) + take - 1
        return policy.decide(True, left, now)

    def _take_from_bucket(
        self, key: str, policy: BucketPolicy, back: float, *, single: bool
    ) -> tuple[int, float, float]:
        """One transaction: hand ``back`` tokens to the bucket and take a lease from it;
        (tokens taken, tokens the bucket held before the take, the database's time). With
        ``single``, a bucket under ``LEASE_MIN_AVAILABLE`` tokens gives one token (else none)."""
        params = {"key": key, "burst": float(policy.burst), "rate": policy.rate, "back": back}
        # On PostgreSQL the row stays locked (FOR UPDATE) from the read to the commit, on
        # SQLite the whole database (BEGIN IMMEDIATE): no other take reads the bucket in between.
        with self._db.write_engine.begin() as conn:
            row = conn.execute(self._read, params).first()
            if row is None:
                conn.execute(self._create, params)
                row = conn.execute(self._read, params).one()
            available, now = float(row[0]), float(row[1])
            take = 0
            if available >= LEASE_MIN_AVAILABLE:
                take = min(MAX_LEASE, int(available * LEASE_FRACTION))
            elif available >= 1.0 and single:
                take = 1
            conn.execute(self._write, {"key": key, "tokens": available - take, "now": now})
        return take, available, now

    def _keep(self, key: str, tokens: int, shared_left: float) -> int:
        """Add ``tokens`` to this process's lease on ``key``; the lease's other tokens.

        Concurrent takes of one key each come back with tokens: they add up, so none is lost
        (replacing the lease would drop the tokens another thread leased meanwhile).
        """
        with self._lock:
            lease = self._leases.get(key)
            if lease is None:
                lease = self._leases[key] = _Lease(0, shared_left, 0.0)
            others = lease.tokens
            lease.tokens += tokens
            lease.shared_left = shared_left
            lease.expires = time.monotonic() + LEASE_SECONDS
            if self._refill_ahead and tokens > 1:
                lease.low = int(lease.tokens * REFILL_FRACTION)
        return others


def make_limiter(
    db: Database,
    policy: BucketPolicy,
    storage: str,
    overrides: Overrides | None = None,
    *,
    refill_ahead: bool = False,
) -> RateLimiter:
    """Buckets shared through the database, or this process's own (``storage="memory"``);
    ``overrides`` gives a key's own limits; ``refill_ahead``: see ``DatabaseRateLimiter``."""
    if storage == "database":
        return DatabaseRateLimiter(db, policy, overrides, refill_ahead=refill_ahead)
    return MemoryRateLimiter(policy, overrides)
