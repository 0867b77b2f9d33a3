"""`ofrep_routes.entry_json` and `bulk_json`: OFREP answers joined from flag answers encoded
once per config must be, byte for byte, what encoding the whole answer gives."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import orjson
import pytest

from avsb.server.evaluation_api.cache import CompiledProject, build_entry
from avsb.server.evaluation_api.ofrep_routes import _entry, bulk_json, entry_json
from avsb_sdk.evaluation import FlagValue, config_from_dict, evaluate_flags
from avsb_sdk.evaluation.engine import evaluate_flags_anonymous

REPRESENTATIVE = Path(__file__).parent / "evaluation" / "representative_config.json"
LINK = orjson.dumps(
    [
        {
            "type": "sse",
            "endpoint": {"requestUri": "/ofrep/v1/stream?token=t"},
            "inactivityDelaySec": 9,
        }
    ]
)


def _project(holdout: float) -> CompiledProject:
    config = json.loads(REPRESENTATIVE.read_text("utf-8"))
    config["holdout_percent"] = holdout  # some units held out: the holdout answers too
    return build_entry("org_1", config_from_dict(config))


def _whole(project: CompiledProject, flags: Iterable[FlagValue], link: bytes | None) -> bytes:
    answer: dict[str, object] = {"flags": [_entry(project, f) for f in flags]}
    if link is not None:
        answer["eventStreams"] = orjson.loads(link)
    return orjson.dumps(answer)


@pytest.mark.parametrize("holdout", [0, 30])
def test_same_bytes_as_the_whole_answer_encoded(holdout: float) -> None:
    project = _project(holdout)
    for i in range(3000):
        attributes = {"country": ["US", "DE", "FR", "日本"][i % 4], "age": 16 + i % 50}
        if i % 5 == 4:  # no targeting key: TARGETING_KEY_MISSING answers among them
            flags = evaluate_flags_anonymous(project.compiled, attributes)
        else:
            flags = evaluate_flags(project.compiled, f"u{i}", attributes)
        link = None if i % 2 else LINK
        assert bulk_json(project, flags.values(), link) == _whole(project, flags.values(), link)
        for flag in flags.values():
            assert entry_json(project, flag) == orjson.dumps(_entry(project, flag))
    # Each flag answer was encoded once: one entry per distinct answer the config holds.
    assert 0 < len(project.ofrep_parts) < 100


def test_no_flags() -> None:
    project = _project(0)
    assert bulk_json(project, [], None) == _whole(project, [], None) == b'{"flags":[]}'
    assert bulk_json(project, [], LINK) == _whole(project, [], LINK)


def test_a_fresh_answer_object_is_encoded_as_itself() -> None:
    """An answer made per call (an unknown flag's) is encoded from its own fields, never
    taken for an earlier one that happened to live at the same address."""
    project = _project(0)
    for name in ("absent", "other"):
        flag = evaluate_flags(project.compiled, "u1", {}, [name])[name]
        assert entry_json(project, flag) == orjson.dumps(_entry(project, flag))
        assert name.encode() in entry_json(project, flag)
