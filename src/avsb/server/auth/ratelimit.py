"""Token buckets per (token, scope family): in the database, so every server process shares one.

A bucket holds at most ``burst`` tokens and refills at ``per_minute / 60`` per second. The
database's own clock is used so that processes on different hosts agree on time.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import text

from avsb.server.db import Database


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_at: int  # unix seconds when the bucket is full again
    retry_after: int  # seconds until one request is allowed (0 when allowed)

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

    def decide(self, allowed: bool, tokens: float, now: float) -> RateDecision:
        """Headers for a bucket holding ``tokens`` after this request at time ``now``."""
        tokens = max(tokens, 0.0)
        reset = now + (self.burst - tokens) / self.rate
        retry = 0 if allowed else max(1, math.ceil((1 - tokens) / self.rate))
        return RateDecision(allowed, int(self.per_minute), int(tokens), math.ceil(reset), retry)


class RateLimiter(Protocol):
    def acquire(self, key: str) -> RateDecision: ...


class MemoryRateLimiter:
    """One process's buckets; for a single server process or tests."""

    def __init__(self, policy: BucketPolicy) -> None:
        self.policy = policy
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> RateDecision:
        now = time.time()
        with self._lock:
            tokens, updated = self._buckets.get(key, (float(self.policy.burst), now))
            tokens = min(self.policy.burst, tokens + (now - updated) * self.policy.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[key] = (tokens, now)
        return self.policy.decide(allowed, tokens, now)


_NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "extract(epoch from clock_timestamp())::float8",
}
_LEAST = {"sqlite": "min", "postgresql": "least"}


class DatabaseRateLimiter:
    """Buckets in the ``rate_buckets`` table: one atomic conditional UPDATE per request."""

    def __init__(self, db: Database, policy: BucketPolicy) -> None:
        self.policy = policy
        self._db = db
        dialect = "sqlite" if db.is_sqlite else "postgresql"
        now, least = _NOW[dialect], _LEAST[dialect]
        refilled = f"{least}(:burst, tokens + ({now} - updated_at) * :rate)"
        self._take = text(
            f"UPDATE rate_buckets SET tokens = {refilled} - 1, updated_at = {now} "  # noqa: S608
            f"WHERE key = :key AND {refilled} >= 1 RETURNING tokens, updated_at"
        )
        self._create = text(
            f"INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (:key, :burst - 1, {now}) "  # noqa: S608
            "ON CONFLICT (key) DO NOTHING RETURNING tokens, updated_at"
        )
        self._peek = text(
            f"SELECT {refilled}, {now} FROM rate_buckets WHERE key = :key"  # noqa: S608
        )
        # SQLite has one writer: queue this process's threads here rather than in busy-waits.
        self._lock = threading.Lock() if db.is_sqlite else None

    def acquire(self, key: str) -> RateDecision:
        params = {"key": key, "burst": float(self.policy.burst), "rate": self.policy.rate}
        if self._lock is not None:
            with self._lock:
                return self._acquire(params)
        return self._acquire(params)

    def _acquire(self, params: dict[str, object]) -> RateDecision:
        with self._db.write_engine.begin() as conn:
            row = conn.execute(self._take, params).first()
            if row is None:
                row = conn.execute(self._create, params).first()
            if row is not None:
                return self.policy.decide(True, float(row[0]), float(row[1]))
            peek = conn.execute(self._peek, params).one()
        return self.policy.decide(False, float(peek[0]), float(peek[1]))
