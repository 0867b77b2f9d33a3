"""Attribute value coercions shared by targeting and flags; none of them raises.

Strings compare in a canonical form so that the ABC API (`user_attrs: ["18"]`) and
typed SDK attributes (`18`, `18.0`, `True`) target alike.
"""

from __future__ import annotations

import math
import re
from typing import TypeAlias

__all__ = ["JsonValue", "canonical_string", "is_json_value", "parse_number"]

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None

# No underscores, no hex, no `inf`/`nan` words: the grammar every SDK can reproduce.
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_MAX_NUMBER_LENGTH = 64
_MAX_FLOAT = 1e308
_number_match = _NUMBER.fullmatch
_isfinite = math.isfinite
_EXACT_INT_LIMIT = 2**53
_MAX_INT_BITS = 4096


def canonical_string(value: object) -> str | None:
    """Return the canonical string of a JSON scalar, or None for anything else.

    str as is; bool as `true`/`false`; int as decimal; an integral float as an int;
    other finite floats in shortest round-trip form; nan, inf and containers: None.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        # Past ~4300 digits str() raises; such an attribute is malformed, not an error.
        return str(value) if value.bit_length() <= _MAX_INT_BITS else None
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        if value.is_integer() and abs(value) < _EXACT_INT_LIMIT:
            return str(int(value))
        return repr(value)
    return None


def parse_number(value: object) -> float | None:
    """Return a finite float from a number or a decimal string, or None; bools are not numbers."""
    if isinstance(value, str):
        if len(value) > _MAX_NUMBER_LENGTH or _number_match(value) is None:
            return None
        number = float(value)
    elif isinstance(value, bool):
        return None
    elif isinstance(value, int):
        number = float(value) if -_MAX_FLOAT < value < _MAX_FLOAT else math.inf
    elif isinstance(value, float):
        number = value
    else:
        return None
    return number if _isfinite(number) else None


def is_json_value(value: object, depth: int = 0) -> bool:
    """Return whether a value is plain JSON (finite numbers, str keys, at most 64 deep)."""
    if value is None or isinstance(value, str | bool | int):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if depth >= 64:
        return False
    if isinstance(value, list):
        return all(is_json_value(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and is_json_value(v, depth + 1) for k, v in value.items())
    return False
