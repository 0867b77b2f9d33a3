"""Bucketing against spec/hashing_vectors.json and docs/hashing.md."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import pytest
from scipy import stats

from avsb_sdk.evaluation import compile_config, config_from_dict, evaluate
from avsb_sdk.evaluation.hashing import (
    BUCKETS,
    bucket,
    bucket_from_prefix,
    choose_variant,
    percent_to_buckets,
    salt_prefix,
    variant_ends,
)

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[3] / "spec" / "hashing_vectors.json").read_text("utf-8")
)


def _id(vector: dict[str, Any]) -> str:
    return f"{vector['salt']!r}:{vector['unit_id']!r}"[:60]


class TestBucket:
    @pytest.mark.parametrize("vector", VECTORS["buckets"], ids=_id)
    def test_bucket__spec_vector__matches(self, vector: dict[str, Any]) -> None:
        assert bucket(vector["salt"], vector["unit_id"]) == vector["bucket"]

    @pytest.mark.parametrize("vector", VECTORS["buckets"], ids=_id)
    def test_bucket__spec_vector__documents_the_exact_bytes(self, vector: dict[str, Any]) -> None:
        # Recomputed from the documented recipe, independently of avsb_sdk.evaluation.hashing.
        data = f"{vector['salt']}:{vector['unit_id']}".encode()
        digest = hashlib.sha256(data).digest()
        assert data.hex() == vector["hashed_utf8_hex"]
        assert digest[:8].hex() == vector["sha256_first8_hex"]
        assert int(vector["uint64_decimal"]) == int.from_bytes(digest[:8], "big")
        assert int(vector["uint64_decimal"]) % 10_000 == vector["bucket"]

    def test_bucket_from_prefix__same_as_bucket(self) -> None:
        for i in range(100):
            unit = f"unit-{i}"
            assert bucket_from_prefix(salt_prefix("s"), unit.encode()) == bucket("s", unit)

    def test_bucket__100k_units__uniform_over_100_bins(self) -> None:
        counts = [0] * 100
        for i in range(100_000):
            counts[bucket("uniformity", f"u{i}") // 100] += 1
        assert stats.chisquare(counts).pvalue > 0.001

    def test_bucket__different_salts__uncorrelated(self) -> None:
        a = [bucket("salt_a", f"u{i}") for i in range(20_000)]
        b = [bucket("salt_b", f"u{i}") for i in range(20_000)]
        assert abs(stats.pearsonr(a, b).statistic) < 0.03


class TestPercentToBuckets:
    @pytest.mark.parametrize("vector", VECTORS["percent_to_buckets"], ids=str)
    def test_percent_to_buckets__spec_vector__matches(self, vector: dict[str, Any]) -> None:
        assert percent_to_buckets(vector["percent"]) == vector["buckets"]

    @pytest.mark.parametrize(("percent", "expected"), [(-5, 0), (150, BUCKETS)])
    def test_percent_to_buckets__out_of_range__clamped(self, percent: float, expected: int) -> None:
        assert percent_to_buckets(percent) == expected


class TestVariantEnds:
    @pytest.mark.parametrize("vector", VECTORS["variant_ends"], ids=str)
    def test_variant_ends__spec_vector__matches(self, vector: dict[str, Any]) -> None:
        assert list(variant_ends(vector["weights"])) == vector["ends"]

    @pytest.mark.parametrize(
        "weights", [[], [0, 0], [-1, 2], [math.nan, 1], [math.inf, 1]], ids=str
    )
    def test_variant_ends__invalid_weights__raise(self, weights: list[float]) -> None:
        with pytest.raises(ValueError, match="weights"):
            variant_ends(weights)

    def test_choose_variant__zero_weight_variant__never_chosen(self) -> None:
        ends = variant_ends([70, 0, 30])
        chosen = {choose_variant(ends, b) for b in range(BUCKETS)}
        assert chosen == {0, 2}

    def test_choose_variant__bucket_edges__half_open(self) -> None:
        ends = variant_ends([50, 50])
        assert [choose_variant(ends, b) for b in (0, 4999, 5000, 9999)] == [0, 0, 1, 1]


class TestAssignmentVectors:
    @pytest.mark.parametrize("vector", VECTORS["assignments"], ids=lambda v: v["unit_id"])
    def test_assignment__spec_vector__matches(self, vector: dict[str, Any]) -> None:
        assert bucket(vector["layer_salt"], vector["unit_id"]) == vector["layer_bucket"]
        variant_bucket = bucket(vector["experiment_salt"], vector["unit_id"])
        assert variant_bucket == vector["variant_bucket"]
        ends = variant_ends(vector["weights"])
        assert choose_variant(ends, variant_bucket) == vector["variant_index"]


class TestEvaluationVectors:
    @pytest.mark.parametrize(
        "vector", VECTORS["evaluations"]["units"], ids=lambda v: str(v["unit_id"])
    )
    def test_evaluate__spec_vector__matches(self, vector: dict[str, Any]) -> None:
        compiled = compile_config(config_from_dict(VECTORS["evaluations"]["config"]))
        result = evaluate(compiled, vector["unit_id"], vector["attributes"])
        assert result.held_out is vector["held_out"]
        assignments = {
            key: (
                {
                    "experiment_key": a.experiment_key,
                    "variant_key": a.variant_key,
                    "group_id": a.group_id,
                }
                if a.assigned
                else None
            )
            for key, a in result.assignments.items()
        }
        assert assignments == vector["assignments"]
        assert {key: f.value for key, f in result.flags.items()} == vector["flags"]
