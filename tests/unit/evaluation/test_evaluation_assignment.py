"""Statistical and structural properties of assignment over 100,000 units."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from scipy import stats

from avsb_sdk.evaluation import (
    AssignmentReason,
    CompiledConfig,
    assign_experiments,
    compile_config,
    config_from_dict,
    evaluate,
    plan_allocation,
)

UNITS = [f"user_{i}" for i in range(100_000)]


def _experiment(
    key: str, weights: list[float], layer: str | None = None, traffic: float = 100
) -> dict[str, Any]:
    return {
        "id": f"exp_{key}",
        "key": key,
        "salt": f"salt_{key}",
        "status": "running",
        "layer_key": layer,
        "traffic_percent": traffic,
        "variants": [
            {"key": f"v{i}", "group_id": i, "weight": w, "params": {}}
            for i, w in enumerate(weights)
        ],
    }


def _compile(
    experiments: list[dict[str, Any]],
    layers: list[dict[str, Any]] | None = None,
    holdout: float = 0,
) -> CompiledConfig:
    return compile_config(
        config_from_dict(
            {
                "schema_version": 1,
                "project_id": "prj_stats",
                "project_key": "stats",
                "holdout_percent": holdout,
                "holdout_salt": "holdout_stats",
                "layers": layers or [],
                "experiments": experiments,
            }
        )
    )


def _variants(compiled: CompiledConfig, layer: str, experiment: str = "") -> list[str | None]:
    """Return each unit's variant key in `layer` (in `experiment`, when given), or None."""
    out: list[str | None] = []
    for unit in UNITS:
        assignment = assign_experiments(compiled, unit, layer_keys=[layer])[layer]
        wanted = assignment.assigned and experiment in ("", assignment.experiment_key)
        out.append(assignment.variant_key if wanted else None)
    return out


class TestWeights:
    @pytest.mark.parametrize("weights", [[50, 50], [50, 30, 20], [1, 1, 1], [10, 90]], ids=str)
    def test_assignment__100k_units__shares_match_weights(self, weights: list[float]) -> None:
        compiled = _compile([_experiment("w", weights)])
        counts = Counter(_variants(compiled, "w"))
        observed = [counts[f"v{i}"] for i in range(len(weights))]
        expected = [len(UNITS) * w / sum(weights) for w in weights]
        assert sum(observed) == len(UNITS)
        assert stats.chisquare(observed, expected).pvalue > 0.001
        for o, e in zip(observed, expected, strict=True):
            assert abs(o - e) / len(UNITS) < 0.01


class TestLayers:
    def test_two_layers__100k_units__independent(self) -> None:
        compiled = _compile([_experiment("a", [50, 50], traffic=60), _experiment("b", [1, 1, 1])])
        pairs = Counter(zip(_variants(compiled, "a"), _variants(compiled, "b"), strict=True))
        rows = sorted({a for a, _ in pairs}, key=str)
        cols = sorted({b for _, b in pairs}, key=str)
        table = [[pairs[(r, c)] for c in cols] for r in rows]
        assert (len(rows), len(cols)) == (3, 3)  # v0, v1, not in traffic  x  v0, v1, v2
        assert stats.chi2_contingency(table).pvalue > 0.001

    def test_one_layer__100k_units__experiments_never_share_a_unit(self) -> None:
        layer = {
            "key": "shared",
            "salt": "salt_shared",
            "allocations": {
                "exp_a": [[0, 3000]],
                "exp_b": [[3000, 6000]],
                "exp_c": [[6000, 10000]],
            },
        }
        compiled = _compile(
            [
                _experiment("a", [1, 1], "shared", 30),
                _experiment("b", [1, 1], "shared", 30),
                _experiment("c", [1, 1], "shared", 40),
            ],
            [layer],
        )
        members: dict[str, set[str]] = {"a": set(), "b": set(), "c": set()}
        for key in members:
            for unit in UNITS:
                got = assign_experiments(compiled, unit, experiment_keys=[key])["shared"]
                if got.assigned:
                    members[key].add(unit)
        assert not members["a"] & members["b"]
        assert not members["a"] & members["c"]
        assert not members["b"] & members["c"]
        assert len(members["a"] | members["b"] | members["c"]) == len(UNITS)
        for key, share in {"a": 0.3, "b": 0.3, "c": 0.4}.items():
            assert abs(len(members[key]) / len(UNITS) - share) < 0.01


class TestTrafficChanges:
    def test_explicit_layer__traffic_10_to_50__assigned_units_keep_variant(self) -> None:
        small = plan_allocation({"exp_other": [[0, 2000]]}, "exp_t", 10)
        large = plan_allocation(small, "exp_t", 50)
        before = self._layer_variants(small, 10)
        after = self._layer_variants(large, 50)
        self._assert_kept(before, after, 0.10, 0.50)

    def test_implicit_layer__traffic_10_to_50__assigned_units_keep_variant(self) -> None:
        before = _variants(_compile([_experiment("t", [1, 1, 2], traffic=10)]), "t")
        after = _variants(_compile([_experiment("t", [1, 1, 2], traffic=50)]), "t")
        self._assert_kept(before, after, 0.10, 0.50)

    @staticmethod
    def _layer_variants(allocations: dict[str, Any], traffic: float) -> list[str | None]:
        layer = {
            "key": "grow",
            "salt": "salt_grow",
            "allocations": {k: [list(r) for r in v] for k, v in allocations.items()},
        }
        experiments = [
            _experiment("t", [1, 1, 2], "grow", traffic),
            _experiment("other", [1], "grow", 20),
        ]
        return _variants(_compile(experiments, [layer]), "grow", "t")

    @staticmethod
    def _assert_kept(
        before: list[str | None], after: list[str | None], share_before: float, share_after: float
    ) -> None:
        kept = [b == a for b, a in zip(before, after, strict=True) if b is not None]
        assert all(kept)
        assert abs(len(kept) / len(UNITS) - share_before) < 0.01
        assert abs(sum(a is not None for a in after) / len(UNITS) - share_after) < 0.01


class TestHoldout:
    def test_holdout_20__100k_units__held_out_get_no_experiment(self) -> None:
        experiments = [_experiment("a", [1, 1]), _experiment("b", [1, 1], traffic=50)]
        with_holdout, without = _compile(experiments, holdout=20), _compile(experiments)
        held = 0
        for unit in UNITS:
            result = evaluate(with_holdout, unit, {})
            if result.held_out:
                held += 1
                assert not result.exposures()
                reasons = {a.reason for a in result.assignments.values()}
                assert reasons == {AssignmentReason.HOLDOUT}
            else:  # the holdout hash is independent: everyone else keeps their assignment
                assert result.assignments == evaluate(without, unit, {}).assignments
        assert abs(held / len(UNITS) - 0.20) < 0.01

    def test_holdout__held_out_share_of_each_variant__even(self) -> None:
        compiled = _compile([_experiment("a", [1, 1])], holdout=30)
        unheld = _compile([_experiment("a", [1, 1])])
        table = Counter(
            (
                evaluate(compiled, u, {}).held_out,
                evaluate(unheld, u, {}).assignments["a"].variant_key,
            )
            for u in UNITS[:30_000]
        )
        contingency = [[table[(h, v)] for v in ("v0", "v1")] for h in (False, True)]
        assert stats.chi2_contingency(contingency).pvalue > 0.001
