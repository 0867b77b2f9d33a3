"""Typed errors for input the statistics cannot be computed from."""

from __future__ import annotations


class StatsInputError(ValueError):
    """Impossible or degenerate input; `field` is a dotted path relative to the call's inputs."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def within(self, prefix: str) -> StatsInputError:
        """The same error with `prefix` put in front of its field path."""
        return StatsInputError(f"{prefix}.{self.field}" if prefix else self.field, self.message)


def require(condition: bool, field: str, message: str) -> None:
    """Raise StatsInputError(field, message) unless `condition` holds."""
    if not condition:
        raise StatsInputError(field, message)
