"""Semantic versions (semver 2.0.0 precedence) parsed into tuples that compare with < and ==.

Accepted: an optional `v`, one to three numeric parts (missing parts are 0), an optional
`-prerelease` and an ignored `+build`: `2`, `v1.4`, `1.4.2-rc.1+sha.5114f85`.
"""

from __future__ import annotations

import re

__all__ = ["SemverKey", "parse_semver"]

# (major, minor, patch, is_release, prerelease identifiers)
SemverKey = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]

_SEMVER = re.compile(
    r"v?(0|[1-9]\d{0,17})(?:\.(0|[1-9]\d{0,17}))?(?:\.(0|[1-9]\d{0,17}))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)
_MAX_LENGTH = 256


def _identifier(part: str) -> tuple[int, int, str]:
    # Numeric identifiers sort before alphanumeric ones, numerically among themselves.
    if part.isdigit():
        return (0, int(part), "")
    return (1, 0, part)


def parse_semver(text: str) -> SemverKey | None:
    """Return the precedence key of a version string, or None when it is not a version."""
    if len(text) > _MAX_LENGTH:
        return None
    match = _SEMVER.fullmatch(text)
    if match is None:
        return None
    major, minor, patch, prerelease = match.groups()
    if prerelease is None:
        # A release outranks every prerelease of the same version.
        return (int(major), int(minor or 0), int(patch or 0), 1, ())
    identifiers = tuple(_identifier(part) for part in prerelease.split("."))
    return (int(major), int(minor or 0), int(patch or 0), 0, identifiers)
