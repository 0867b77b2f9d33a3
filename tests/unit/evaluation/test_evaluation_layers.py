"""Layer allocation planning: ranges never move, never overlap, and a full layer refuses."""

from __future__ import annotations

import copy
import random
from collections.abc import Mapping, Sequence

import pytest

from avsb_sdk.evaluation import (
    AllocationError,
    LayerFullError,
    free_buckets,
    plan_allocation,
    release_allocation,
)
from avsb_sdk.evaluation.hashing import percent_to_buckets
from avsb_sdk.evaluation.layers import free_ranges

Plan = Mapping[str, Sequence[Sequence[int]]]


def _buckets(ranges: Sequence[Sequence[int]]) -> set[int]:
    return {b for start, end in ranges for b in range(start, end)}


def _assert_disjoint(plan: Plan) -> None:
    seen: set[int] = set()
    for ranges in plan.values():
        owned = _buckets(ranges)
        assert not owned & seen
        seen |= owned


class TestPlanAllocation:
    def test_plan_allocation__empty_layer__starts_at_zero(self) -> None:
        assert plan_allocation({}, "exp_a", 30) == {"exp_a": ((0, 3000),)}

    def test_plan_allocation__second_experiment__takes_next_free(self) -> None:
        plan = plan_allocation({"exp_a": [[0, 3000]]}, "exp_b", 25)
        assert plan == {"exp_a": ((0, 3000),), "exp_b": ((3000, 5500),)}

    def test_plan_allocation__raise_adjacent__extends_newest_range(self) -> None:
        plan = plan_allocation({"exp_a": [[0, 1000]]}, "exp_a", 50)
        assert plan == {"exp_a": ((0, 5000),)}

    def test_plan_allocation__raise_fragmented__appends_without_moving(self) -> None:
        current = {"exp_a": [[0, 1000]], "exp_b": [[1000, 3000]]}
        plan = plan_allocation(current, "exp_a", 20)
        assert plan["exp_a"] == ((0, 1000), (3000, 4000))
        assert plan["exp_b"] == ((1000, 3000),)

    def test_plan_allocation__freed_gap__reused_lowest_first(self) -> None:
        current = {"exp_b": [[1000, 3000]]}
        assert plan_allocation(current, "exp_c", 15)["exp_c"] == ((0, 1000), (3000, 3500))

    def test_plan_allocation__lower__trims_newest_buckets(self) -> None:
        current = {"exp_a": [[0, 1000], [3000, 4000]], "exp_b": [[1000, 3000]]}
        assert plan_allocation(current, "exp_a", 15)["exp_a"] == ((0, 1000), (3000, 3500))
        assert plan_allocation(current, "exp_a", 5)["exp_a"] == ((0, 500),)

    def test_plan_allocation__zero__removes_experiment(self) -> None:
        plan = plan_allocation({"exp_a": [[0, 1000]], "exp_b": [[1000, 2000]]}, "exp_a", 0)
        assert plan == {"exp_b": ((1000, 2000),)}

    def test_plan_allocation__full_layer__layer_full_error(self) -> None:
        current = {"exp_a": [[0, 6000]]}
        with pytest.raises(LayerFullError) as info:
            plan_allocation(current, "exp_b", 50)
        assert (info.value.requested, info.value.free) == (5000, 4000)
        assert plan_allocation(current, "exp_b", 40)["exp_b"] == ((6000, 10000),)

    def test_plan_allocation__input__not_mutated(self) -> None:
        current = {"exp_a": [[0, 1000]], "exp_b": [[1000, 2000]]}
        before = copy.deepcopy(current)
        plan_allocation(current, "exp_a", 50)
        plan_allocation(current, "exp_b", 5)
        assert current == before

    @pytest.mark.parametrize("percent", [-1, 100.5, float("nan"), True, "50"], ids=str)
    def test_plan_allocation__bad_percent__allocation_error(self, percent: object) -> None:
        with pytest.raises(AllocationError, match="percent"):
            plan_allocation({}, "exp_a", percent)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        "current",
        [
            {"exp_a": [[0, 1000]], "exp_b": [[999, 2000]]},
            {"exp_a": [[0, 10001]]},
            {"exp_a": [[5, 5]]},
            {"exp_a": [[0]]},
            {"exp_a": [[0.0, 10.0]]},
        ],
        ids=str,
    )
    def test_plan_allocation__invalid_current__allocation_error(self, current: Plan) -> None:
        with pytest.raises(AllocationError):
            plan_allocation(current, "exp_c", 1)

    def test_plan_allocation__random_changes__never_move_never_overlap(self) -> None:
        rng = random.Random(7)
        plan: Plan = {}
        for _ in range(2000):
            experiment = f"exp_{rng.randrange(6)}"
            percent = rng.choice([0, rng.randint(0, 40), rng.uniform(0, 100)])
            before = {k: _buckets(v) for k, v in plan.items()}
            growth = percent_to_buckets(percent) - len(before.get(experiment, ()))
            if growth > free_buckets(plan):
                with pytest.raises(LayerFullError):
                    plan_allocation(plan, experiment, percent)
                continue
            new = plan_allocation(plan, experiment, percent)
            _assert_disjoint(new)
            after = {k: _buckets(v) for k, v in new.items()}
            for other in set(before) - {experiment}:
                assert after[other] == before[other]  # others untouched
            mine_before, mine_after = before.get(experiment, set()), after.get(experiment, set())
            assert mine_before <= mine_after or mine_after <= mine_before  # grow or shrink only
            assert len(mine_after) == percent_to_buckets(percent)
            plan = new


class TestFreeSpace:
    def test_free_ranges__gaps__ascending(self) -> None:
        current = {"exp_a": [[3000, 4000]], "exp_b": [[0, 1000]]}
        assert free_ranges(current) == [(1000, 3000), (4000, 10000)]
        assert free_buckets(current) == 8000

    def test_release_allocation__experiment__its_buckets_free(self) -> None:
        current = {"exp_a": [[0, 1000]], "exp_b": [[1000, 2000]]}
        assert release_allocation(current, "exp_b") == {"exp_a": ((0, 1000),)}
        assert free_buckets(release_allocation(current, "exp_b")) == 9000
