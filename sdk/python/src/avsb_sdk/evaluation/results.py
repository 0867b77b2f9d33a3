"""What evaluation returns: assignments per layer, flag values, and both for one unit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from avsb_sdk.evaluation.values import JsonValue

__all__ = [
    "DEFAULT_GROUP_ID",
    "DEFAULT_KEY",
    "Assignment",
    "AssignmentReason",
    "ErrorCode",
    "Evaluation",
    "FlagValue",
    "Reason",
]

DEFAULT_GROUP_ID = -1
"""The `group_id` of "no experiment" in the ABC API."""
DEFAULT_KEY = "default"
"""The experiment and variant key of "no experiment" in the ABC API."""
EMPTY_PARAMS: Mapping[str, str] = MappingProxyType({})


class AssignmentReason:
    """Why a layer gave a unit what it gave: an assignment, or the default and why."""

    ASSIGNED = "assigned"
    HOLDOUT = "holdout"
    NOT_IN_TRAFFIC = "not_in_traffic"
    NOT_IN_AUDIENCE = "not_in_audience"
    FILTERED = "filtered"


class Reason:
    """OpenFeature resolution reasons."""

    STATIC = "STATIC"
    DEFAULT = "DEFAULT"
    TARGETING_MATCH = "TARGETING_MATCH"
    SPLIT = "SPLIT"
    DISABLED = "DISABLED"
    ERROR = "ERROR"


class ErrorCode:
    """OpenFeature error codes a FlagValue may carry (with reason ERROR)."""

    FLAG_NOT_FOUND = "FLAG_NOT_FOUND"
    TYPE_MISMATCH = "TYPE_MISMATCH"
    PARSE_ERROR = "PARSE_ERROR"
    TARGETING_KEY_MISSING = "TARGETING_KEY_MISSING"


@dataclass(frozen=True, slots=True)
class Assignment:
    """A unit's place in one layer; `assigned` False is the ABC default (group_id -1)."""

    layer_key: str
    experiment_id: str
    experiment_key: str
    variant_key: str
    group_id: int
    params: Mapping[str, str]
    assigned: bool
    reason: str

    @classmethod
    def default(cls, layer_key: str, reason: str) -> Assignment:
        """Return the "no experiment" answer of a layer (group_id -1, key "default")."""
        return cls(
            layer_key, "", DEFAULT_KEY, DEFAULT_KEY, DEFAULT_GROUP_ID, EMPTY_PARAMS, False, reason
        )


@dataclass(frozen=True, slots=True)
class FlagValue:
    """A resolved flag: value, OpenFeature reason, and the experiment that chose it, if any."""

    key: str
    value: JsonValue
    reason: str
    variant: str | None = None
    error_code: str | None = None
    experiment: Assignment | None = None


@dataclass(frozen=True, slots=True)
class Evaluation:
    """Everything for one unit: assignments by layer key and flag values by flag key."""

    unit_id: str
    held_out: bool
    assignments: Mapping[str, Assignment]
    flags: Mapping[str, FlagValue]

    def exposures(self) -> list[Assignment]:
        """Return the real assignments, one per layer, to log as exposures."""
        return [a for a in self.assignments.values() if a.assigned]
