"""The core's OpenFeature-facing behaviour: number typing, anonymous units, flag fingerprints."""

from __future__ import annotations

from dataclasses import replace

from avsb_sdk.evaluation import (
    Experiment,
    Flag,
    FlagRule,
    ProjectConfig,
    Segment,
    Variant,
    compile_config,
    evaluate_flags,
    evaluate_flags_anonymous,
    parse_condition,
)
from avsb_sdk.evaluation.fingerprints import flag_fingerprints

US = parse_condition({"attribute": "country", "operator": "in", "values": ["US"]}, "c")
VIP = parse_condition({"segment": "seg_vip"}, "c")


def _config(*flags: Flag, **overrides: object) -> ProjectConfig:
    base = ProjectConfig(
        project_id="prj_1", project_key="p", holdout_salt="salt:holdout",
        audiences={"aud_us": US, "aud_other": US, "aud_vip": VIP},
        segments={"seg_vip": Segment(unit_ids=frozenset({"u1"}))},
        flags=flags,
    )  # fmt: skip
    return replace(base, **overrides)  # type: ignore[arg-type]


def _experiment(status: str = "running") -> Experiment:
    variants = (Variant("control", 1_000_001, 50.0, {"p": "7"}),
                Variant("treatment", 1_000_002, 50.0, {"p": "12.5"}))  # fmt: skip
    return Experiment(id="exp_1", key="e", salt="exp_salt", status=status, variants=variants,
                      layer_key=None, traffic_percent=100.0)  # fmt: skip


class TestNumberTyping:
    def test_float_rule_value__every_answer_a_float(self) -> None:
        flag = Flag("n", "number", "s", 2, rules=(FlagRule(2.5, conditions=US),))
        compiled = compile_config(_config(flag))
        miss = evaluate_flags(compiled, "u1", {"country": "DE"})["n"]
        hit = evaluate_flags(compiled, "u1", {"country": "US"})["n"]
        assert (type(miss.value), miss.value) == (float, 2.0)
        assert (type(hit.value), hit.value) == (float, 2.5)

    def test_float_param__every_answer_a_float(self) -> None:
        flag = Flag("n", "number", "s", 3, experiment_id="exp_1", experiment_param="p")
        compiled = compile_config(_config(flag, experiments=(_experiment(),)))
        values = {evaluate_flags(compiled, f"u{i}")["n"].value for i in range(50)}
        assert values == {7.0, 12.5}
        assert all(type(v) is float for v in values)

    def test_integer_flag__integers_only(self) -> None:
        flag = Flag("n", "number", "s", 3, rules=(FlagRule(4, conditions=US),))
        compiled = compile_config(_config(flag))
        for country in ("US", "DE"):
            assert type(evaluate_flags(compiled, "u1", {"country": country})["n"].value) is int


class TestAnonymous:
    def test_values_without_bucketing__errors_only_where_needed(self) -> None:
        flags = (
            Flag("static", "string", "a1", "x"),
            Flag("by_attribute", "boolean", "a2", False, rules=(FlagRule(True, conditions=US),)),
            Flag("rollout", "boolean", "a3", False,
                 rules=(FlagRule(True, conditions=US, rollout_percent=50),)),
            Flag("rollout_unmatched", "boolean", "a4", False,
                 rules=(FlagRule(True, conditions=VIP, rollout_percent=50),)),
            Flag("killed", "boolean", "a5", False, enabled=False,
                 rules=(FlagRule(True, rollout_percent=50),)),
            Flag("bound", "number", "a6", 3, experiment_id="exp_1", experiment_param="p"),
        )  # fmt: skip
        compiled = compile_config(_config(*flags, experiments=(_experiment(),)))
        got = evaluate_flags_anonymous(compiled, {"country": "US"})
        assert got["static"].value == "x"
        assert (got["by_attribute"].value, got["by_attribute"].reason) == (True, "TARGETING_MATCH")
        assert got["rollout"].error_code == "TARGETING_KEY_MISSING"
        assert (got["rollout_unmatched"].value, got["rollout_unmatched"].error_code) == (
            False,
            None,
        )
        assert got["killed"].reason == "DISABLED"
        assert got["bound"].error_code == "TARGETING_KEY_MISSING"
        missing = evaluate_flags_anonymous(compiled, None, ["nope"])["nope"]
        assert missing.error_code == "FLAG_NOT_FOUND"


class TestFingerprints:
    def _flags(self) -> tuple[Flag, ...]:
        return (
            Flag("targeted", "boolean", "s1", False, rules=(FlagRule(True, audience_id="aud_us"),)),
            Flag("vip", "boolean", "s2", False, rules=(FlagRule(True, audience_id="aud_vip"),)),
            Flag("bound", "number", "s3", 3, experiment_id="exp_1", experiment_param="p"),
            Flag("plain", "string", "s4", "x"),
        )  # fmt: skip

    def test_unrelated_changes__fingerprints_unchanged(self) -> None:
        config = _config(*self._flags(), experiments=(_experiment(),))
        before = flag_fingerprints(config)
        other = replace(config, revision=99,
                        audiences={**config.audiences, "aud_other": VIP})  # fmt: skip
        assert flag_fingerprints(other) == before
        assert flag_fingerprints(config) == before  # stable

    def test_own_audience__only_that_flag(self) -> None:
        config = _config(*self._flags(), experiments=(_experiment(),))
        before = flag_fingerprints(config)
        after = flag_fingerprints(replace(config, audiences={**config.audiences, "aud_us": VIP}))
        assert {k for k in before if before[k] != after[k]} == {"targeted"}

    def test_segment_behind_an_audience__only_that_flag(self) -> None:
        config = _config(*self._flags(), experiments=(_experiment(),))
        before = flag_fingerprints(config)
        segments = {"seg_vip": Segment(unit_ids=frozenset({"u1", "u2"}))}
        after = flag_fingerprints(replace(config, segments=segments))
        assert {k for k in before if before[k] != after[k]} == {"vip"}

    def test_holdout_and_experiment__only_the_bound_flag(self) -> None:
        config = _config(*self._flags(), experiments=(_experiment(),))
        before = flag_fingerprints(config)
        for changed in (replace(config, holdout_percent=5.0),
                        replace(config, holdout_salt="other:holdout"),
                        replace(config, experiments=(_experiment("paused"),))):  # fmt: skip
            after = flag_fingerprints(changed)
            assert {k for k in before if before[k] != after[k]} == {"bound"}
