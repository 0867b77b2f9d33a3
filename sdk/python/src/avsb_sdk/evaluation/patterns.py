"""The `regex` operator's patterns: RE2 syntax, matched in time linear in the input.

Python's `re` backtracks, so a pattern such as `^(a+)+$` takes time exponential in the
length of the value it is run on; patterns come from users and values from anyone holding
a (public) SDK key. RE2 runs an automaton instead: the cost of a search is bounded by the
pattern's compiled size times the value's length, and both are bounded here. RE2 is pure
computation (no I/O), which is why it is the one package the core imports besides the
standard library. Dialect: https://github.com/google/re2/wiki/Syntax (docs/evaluation.md).
"""

from __future__ import annotations

from collections.abc import Callable

import re2

__all__ = [
    "MAX_PATTERN_LENGTH",
    "MAX_PROGRAM_SIZE",
    "MAX_SEARCH_LENGTH",
    "compile_pattern",
    "pattern_problem",
]

MAX_PATTERN_LENGTH = 512
"""Longest pattern accepted, in characters."""
MAX_PROGRAM_SIZE = 5000
"""Largest compiled pattern accepted, in RE2 instructions: bounds the work per input byte."""
MAX_SEARCH_LENGTH = 4096
"""Longest value a pattern is searched in, in characters; longer values do not match."""
_MAX_MEMORY = 4 << 20
"""Bytes RE2 may use per pattern (program and automaton cache); beyond it, compiling fails."""


def _options() -> re2.Options:
    options = re2.Options()
    options.max_mem = _MAX_MEMORY
    options.log_errors = False  # a refused pattern is reported to the caller, not to stderr
    options.never_capture = True  # only whether it matches counts
    return options


_OPTIONS = _options()


def _compile(pattern: str) -> Callable[[bytes], object]:
    """The compiled pattern's search; raises ValueError with RE2's reason when refused."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"a regex may be at most {MAX_PATTERN_LENGTH} characters long")
    try:
        compiled = re2.compile(pattern, _OPTIONS)
    except UnicodeEncodeError:
        raise ValueError("a regex may not contain unpaired surrogate code points") from None
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise ValueError(f"not a valid RE2 pattern: {reason}") from None
    size = int(compiled.programsize)
    if size > MAX_PROGRAM_SIZE:
        raise ValueError(
            f"the pattern compiles to {size} RE2 instructions; at most {MAX_PROGRAM_SIZE}"
        )
    search: Callable[[bytes], object] = compiled.search
    return search


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` is refused (too long, not RE2 syntax, too large), or None when valid."""
    try:
        _compile(pattern)
    except ValueError as exc:
        return str(exc)
    return None


def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """Return a test: whether the pattern is found anywhere in a value of at most
    MAX_SEARCH_LENGTH characters (longer values never match); raises ValueError."""
    search = _compile(pattern)

    def found(text: str) -> bool:
        # Bytes, so a value with an unpaired surrogate is searched (as bytes that are not
        # UTF-8, which no character of the pattern matches) instead of raising.
        if len(text) > MAX_SEARCH_LENGTH:
            return False
        return search(text.encode("utf-8", "surrogatepass")) is not None

    return found
