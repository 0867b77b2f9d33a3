"""The pure evaluation core: hashing, layers, targeting, flags and evaluate(); no I/O.

The server's evaluation routes and the SDK's in-process evaluator both call these
functions, so local and remote answers cannot drift.

    compiled = compile_config(config_from_dict(json.loads(payload)))
    result = evaluate(compiled, "user_1", {"country": "US", "age": 31})
"""

from avsb_sdk.evaluation.conditions import Condition, condition_to_dict, parse_condition
from avsb_sdk.evaluation.config import (
    SCHEMA_VERSION,
    BucketRange,
    Experiment,
    Flag,
    FlagRule,
    Layer,
    ProjectConfig,
    Segment,
    Variant,
    validate_config,
)
from avsb_sdk.evaluation.config_json import config_from_dict, config_to_dict
from avsb_sdk.evaluation.engine import (
    CompiledConfig,
    assign_experiments,
    compile_config,
    evaluate,
    evaluate_flags,
    evaluate_flags_anonymous,
)
from avsb_sdk.evaluation.errors import (
    AllocationError,
    ConfigError,
    EvaluationCoreError,
    LayerFullError,
)
from avsb_sdk.evaluation.hashing import BUCKETS, bucket
from avsb_sdk.evaluation.layers import free_buckets, plan_allocation, release_allocation
from avsb_sdk.evaluation.results import (
    DEFAULT_GROUP_ID,
    DEFAULT_KEY,
    Assignment,
    AssignmentReason,
    ErrorCode,
    Evaluation,
    FlagValue,
    Reason,
)
from avsb_sdk.evaluation.targeting import Attributes, attributes_from_profiles, matches
from avsb_sdk.evaluation.values import JsonValue

__all__ = [
    "BUCKETS",
    "DEFAULT_GROUP_ID",
    "DEFAULT_KEY",
    "SCHEMA_VERSION",
    "AllocationError",
    "Assignment",
    "AssignmentReason",
    "Attributes",
    "BucketRange",
    "CompiledConfig",
    "Condition",
    "ConfigError",
    "ErrorCode",
    "Evaluation",
    "EvaluationCoreError",
    "Experiment",
    "Flag",
    "FlagRule",
    "FlagValue",
    "JsonValue",
    "Layer",
    "LayerFullError",
    "ProjectConfig",
    "Reason",
    "Segment",
    "Variant",
    "assign_experiments",
    "attributes_from_profiles",
    "bucket",
    "compile_config",
    "condition_to_dict",
    "config_from_dict",
    "config_to_dict",
    "evaluate",
    "evaluate_flags",
    "evaluate_flags_anonymous",
    "free_buckets",
    "matches",
    "parse_condition",
    "plan_allocation",
    "release_allocation",
    "validate_config",
]
