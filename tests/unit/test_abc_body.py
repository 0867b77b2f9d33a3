"""`abc_routes.experiments_body`: the ABC experiments answer joined from layer answers
encoded once per config must be, byte for byte, what encoding the whole answer gives."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import orjson
import pytest

from avsb.server.evaluation_api.abc_routes import SUCCESS, experiments_body
from avsb.server.evaluation_api.cache import CompiledProject, build_entry
from avsb_sdk.evaluation import Assignment, assign_experiments, config_from_dict
from avsb_sdk.evaluation.answers import abc_experiments

REPRESENTATIVE = Path(__file__).parent / "evaluation" / "representative_config.json"


def _project(holdout: float) -> CompiledProject:
    config = json.loads(REPRESENTATIVE.read_text("utf-8"))
    config["holdout_percent"] = holdout  # some units held out: the holdout answers too
    return build_entry("org_1", config_from_dict(config))


def _whole(assignments: Mapping[str, Assignment]) -> bytes:
    exp_data = abc_experiments(assignments)
    return orjson.dumps({"ret_code": SUCCESS, "msg": "", "exp_data": exp_data})


@pytest.mark.parametrize("holdout", [0, 30])
def test_same_bytes_as_the_whole_answer_encoded(holdout: float) -> None:
    project = _project(holdout)
    experiments = [e.key for e in project.compiled.config.experiments]
    layers = list(project.compiled.layer_keys)
    for i in range(3000):
        attributes = {"country": ["US", "DE", "FR", "日本"][i % 4], "age": 16 + i % 50}
        assignments = assign_experiments(
            project.compiled,
            f"u{i}",
            attributes,
            layer_keys=layers[:1] if i % 3 == 1 else None,
            experiment_keys=experiments[:1] if i % 3 == 2 else None,  # the others: filtered
        )
        assert experiments_body(project, assignments) == _whole(assignments)
    # Each layer answer was encoded once: one entry per distinct answer the config holds.
    assert 0 < len(project.abc_parts) < 100


def test_empty_answer() -> None:
    project = _project(0)
    assert experiments_body(project, {}) == _whole({})
