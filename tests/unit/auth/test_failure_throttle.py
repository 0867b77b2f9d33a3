"""The failure throttle: a bucket per key, refilled at its rate, never reset by the clock."""

from __future__ import annotations

import time

import pytest

from avsb.server.auth.authenticator import FailureThrottle
from avsb.server.errors import RateLimited


def _spend(throttle: FailureThrottle, key: str, failures: int) -> None:
    for _ in range(failures):
        throttle.check(key)
        throttle.fail(key)


def test_spent_bucket__429_with_the_wait_for_one_failure() -> None:
    throttle = FailureThrottle(60)  # one failure refilled a second
    _spend(throttle, "10.0.0.1", 60)
    with pytest.raises(RateLimited) as refused:
        throttle.check("10.0.0.1")
    # The wait for the next failure, not the rest of a clock minute.
    assert refused.value.headers == {"Retry-After": "1"}
    throttle.check("10.0.0.2")  # another address has its own bucket


def _spend_all(throttle: FailureThrottle, key: str) -> int:
    """Fail as ``key`` until refused (however slow the box); how many were admitted."""
    for spent in range(100_000):
        try:
            throttle.check(key)
        except RateLimited:
            return spent
        throttle.fail(key)
    raise AssertionError("never refused")


def test_bucket__refills_at_its_rate() -> None:
    throttle = FailureThrottle(600)  # ten failures a second
    assert _spend_all(throttle, "k") >= 600
    time.sleep(0.25)  # about two failures back
    throttle.check("k")
    throttle.fail("k")


def test_memory_bound__the_most_recent_failures_kept() -> None:
    throttle = FailureThrottle(2)
    bound = throttle.MAX_KEYS
    _spend(throttle, "early", 2)
    for i in range(bound):
        throttle.fail(f"one-{i}")  # one failure each: not full, so not dropped as full
    _spend(throttle, "late", 2)  # over the bound: only the most recent half is kept
    with pytest.raises(RateLimited):
        throttle.check("late")
    throttle.check("early")  # forgotten: the oldest go first when too many are spent
