"""Prefixed, time-ordered ids: ``prj_`` + 26 Crockford base32 chars (48-bit ms, 80 random bits).

Sorting ids sorts by creation time, so keyset pagination over ``id`` lists oldest first.
"""

from __future__ import annotations

import secrets
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"

PREFIXES = frozenset(
    {
        "org",
        "prj",
        "exp",
        "flg",
        "aud",
        "seg",
        "met",
        "exg",
        "tok",
        "whk",
        "tpl",
        "evt",
        "req",
        "whd",
        "rev",
        "pln",
        "res",
        "rpt",
        "usr",
        "ses",
        "uid",  # a single sign-on identity linked to a user
        "inv",
        "slm",  # a Slack message in the outbox
        "slk",  # a Slack user linked to a user
    }
)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """Return ``<prefix>_<26 chars>``, sortable by creation time."""
    if prefix not in PREFIXES:
        raise ValueError(f"unknown id prefix {prefix!r}")
    millis = time.time_ns() // 1_000_000
    value = (millis << 80) | secrets.randbits(80)
    return f"{prefix}_{_encode(value, 26)}"


def has_prefix(value: str, prefix: str) -> bool:
    """True when ``value`` looks like an id of the given prefix."""
    return value.startswith(prefix + "_") and len(value) == len(prefix) + 27
