"""The JSON answers of the evaluation API, built from evaluation results; stdlib only.

The server's routes and the SDK's in-process evaluator both shape their answers here, so a
unit gets the same JSON from `POST /abc/get_experiments` as from `Client.get_experiments`.

- ABC (seed 002): assignments keyed by layer, params and flag values as strings.
- SDK (`POST /api/sdk/evaluate`): typed flag values, reasons and the assignment of every layer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from avsb_sdk.evaluation.results import Assignment, ErrorCode, Evaluation, FlagValue
from avsb_sdk.evaluation.values import JsonValue, canonical_string

__all__ = [
    "abc_assignment",
    "abc_experiments",
    "abc_flag",
    "abc_flags",
    "flag_text",
    "sdk_assignment",
    "sdk_evaluation",
    "sdk_flag",
]

Json = dict[str, Any]


def flag_text(value: JsonValue) -> str | None:
    """Return a flag value as the ABC API sends it: a string (JSON text for objects), or None."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return canonical_string(value)


def abc_assignment(assignment: Assignment) -> Json:
    """Return one layer's ABC answer: experiment_key, group_id, group_key, params (strings)."""
    return {
        "experiment_key": assignment.experiment_key,
        "group_id": assignment.group_id,
        "group_key": assignment.variant_key,
        "params": dict(assignment.params),
    }


def abc_experiments(assignments: Mapping[str, Assignment]) -> Json:
    """Return the ABC `exp_data`: each layer's answer keyed by layer name."""
    return {layer: abc_assignment(a) for layer, a in assignments.items()}


def abc_flag(flag: FlagValue) -> Json:
    """Return one flag's ABC answer; `relative_experiment` names the experiment that chose it,
    with `params` `{flag name: value}` as seed 002 shows (not the variant's own params)."""
    experiment = flag.experiment
    value = flag_text(flag.value)
    relative = None
    if experiment is not None:
        relative = {
            "group_id": experiment.group_id,
            "group_key": experiment.variant_key,
            "exp_key": experiment.experiment_key,
            "params": {flag.key: value},
        }
    return {"name": flag.key, "value": value, "relative_experiment": relative}


def abc_flags(flags: Mapping[str, FlagValue]) -> Json:
    """Return the ABC `data` of get_feature_flags; flags that do not exist are left out."""
    return {
        name: abc_flag(flag)
        for name, flag in flags.items()
        if flag.error_code != ErrorCode.FLAG_NOT_FOUND
    }


def sdk_assignment(assignment: Assignment) -> Json:
    """Return one layer's typed answer, with whether and why the unit was assigned."""
    return {
        "experiment_key": assignment.experiment_key,
        "variant": assignment.variant_key,
        "group_id": assignment.group_id,
        "params": dict(assignment.params),
        "assigned": assignment.assigned,
        "reason": assignment.reason,
    }


def sdk_flag(flag: FlagValue) -> Json:
    """Return one flag's typed answer with its OpenFeature reason, variant and error code."""
    experiment = flag.experiment
    return {
        "value": flag.value,
        "reason": flag.reason,
        "variant": flag.variant,
        "error_code": flag.error_code,
        "experiment_key": experiment.experiment_key if experiment is not None else None,
        "group_id": experiment.group_id if experiment is not None else None,
    }


def sdk_evaluation(evaluation: Evaluation, revision: int) -> Json:
    """Return the answer of `POST /api/sdk/evaluate` for one unit at config `revision`."""
    return {
        "unit_id": evaluation.unit_id,
        "revision": revision,
        "held_out": evaluation.held_out,
        "experiments": {k: sdk_assignment(a) for k, a in evaluation.assignments.items()},
        "flags": {k: sdk_flag(f) for k, f in evaluation.flags.items()},
    }
