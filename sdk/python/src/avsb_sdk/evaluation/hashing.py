"""Deterministic bucketing, specified byte for byte in docs/hashing.md.

bucket = uint64_be(sha256(utf8(salt + ":" + unit_id))[0:8]) mod 10000
"""

from __future__ import annotations

import hashlib
import math
import struct
from bisect import bisect_right
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = [
    "BUCKETS",
    "Hasher",
    "bucket",
    "bucket_from_prefix",
    "bucket_of",
    "choose_variant",
    "percent_to_buckets",
    "salt_hasher",
    "salt_prefix",
    "variant_ends",
]

BUCKETS = 10_000
"""Buckets per hash space: a percent has a resolution of 0.01."""


class Hasher(Protocol):
    """A SHA-256 state that has already absorbed `salt + ":"` (hashlib objects qualify)."""

    def copy(self) -> Hasher: ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


_sha256 = hashlib.sha256
_first_u64: Callable[[bytes], tuple[int]] = struct.Struct(">Q").unpack_from


def salt_prefix(salt: str) -> bytes:
    """Return the UTF-8 bytes `salt + ":"` that precede the unit id in every hash."""
    return f"{salt}:".encode()


def bucket_from_prefix(prefix: bytes, unit: bytes) -> int:
    """Return the bucket in [0, 10000) of a unit (UTF-8 bytes) under a salt prefix."""
    return _first_u64(_sha256(prefix + unit).digest())[0] % BUCKETS


def salt_hasher(salt: str) -> Hasher:
    """Return a SHA-256 state seeded with `salt + ":"`, for bucket_of (saves re-hashing it)."""
    return _sha256(salt_prefix(salt))


def bucket_of(hasher: Hasher, unit: bytes) -> int:
    """Return the bucket in [0, 10000) of a unit (UTF-8 bytes) under a seeded hasher."""
    state = hasher.copy()
    state.update(unit)
    return _first_u64(state.digest())[0] % BUCKETS


def bucket(salt: str, unit_id: str) -> int:
    """Return the bucket in [0, 10000) of `unit_id` under `salt`."""
    return bucket_from_prefix(salt_prefix(salt), unit_id.encode())


def percent_to_buckets(percent: float) -> int:
    """Return the number of buckets in [0, 10000] a percent in [0, 100] covers (half up)."""
    return min(BUCKETS, max(0, math.floor(percent * 100 + 0.5)))


def variant_ends(weights: Sequence[float]) -> tuple[int, ...]:
    """Return the cumulative exclusive end bucket of each variant; the last is 10000.

    Weights are non-negative with a positive sum; a zero weight gives an empty range.
    """
    if not weights or any(not w >= 0 for w in weights):
        raise ValueError("weights must be non-negative with a positive sum")
    sums: list[float] = []
    cumulative = 0.0
    for weight in weights:  # left to right, IEEE doubles, as the spec says
        cumulative += weight
        sums.append(cumulative)
    if not cumulative > 0 or math.isinf(cumulative):
        raise ValueError("weights must be non-negative with a positive sum")
    ends = [min(BUCKETS, math.floor(BUCKETS * s / cumulative + 0.5)) for s in sums]
    ends[-1] = BUCKETS
    return tuple(ends)


def choose_variant(ends: Sequence[int], variant_bucket: int) -> int:
    """Return the index of the variant whose range holds a bucket in [0, 10000)."""
    return bisect_right(ends, variant_bucket)
