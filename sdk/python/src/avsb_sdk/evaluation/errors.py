"""Errors raised by the evaluation core; evaluation itself never raises on unit input."""

from __future__ import annotations


class EvaluationCoreError(Exception):
    """Base class of every error raised by `avsb_sdk.evaluation`."""


class ConfigError(EvaluationCoreError, ValueError):
    """A project config (or a condition tree) is malformed; `path` locates the fault."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.reason = message
        super().__init__(f"{path}: {message}" if path else message)


class AllocationError(EvaluationCoreError, ValueError):
    """A layer allocation request or the current allocation of a layer is invalid."""


class LayerFullError(AllocationError):
    """A layer has too few free buckets for the requested traffic share."""

    def __init__(self, requested: int, free: int) -> None:
        self.requested = requested
        self.free = free
        super().__init__(
            f"layer is full: {requested} more buckets requested, {free} free (of 10000)"
        )
