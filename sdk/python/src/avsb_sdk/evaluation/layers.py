"""Layer allocation planning: which of a layer's 10000 buckets each experiment owns.

Pure functions the server calls when an experiment joins a layer or its traffic share
changes. Existing ranges never move, so a unit never changes experiment: raising a
share appends free buckets (lowest first), lowering it trims the most recently added
buckets (the end of the experiment's range list), and ranges never overlap.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import pairwise

from avsb_sdk.evaluation.config import BucketRange
from avsb_sdk.evaluation.errors import AllocationError, LayerFullError
from avsb_sdk.evaluation.hashing import BUCKETS, percent_to_buckets

__all__ = [
    "Allocations",
    "allocated_buckets",
    "free_buckets",
    "free_ranges",
    "plan_allocation",
    "release_allocation",
]

Allocations = Mapping[str, Sequence[Sequence[int]]]
"""Experiment id -> its [start, end) bucket ranges in allocation order."""


def allocated_buckets(ranges: Sequence[Sequence[int]]) -> int:
    """Return the number of buckets in [0, 10000] a list of [start, end) ranges covers."""
    return sum(end - start for start, end in ranges)


def _checked(allocations: Allocations) -> dict[str, list[BucketRange]]:
    out: dict[str, list[BucketRange]] = {}
    for experiment_id, ranges in allocations.items():
        checked: list[BucketRange] = []
        for pair in ranges:
            if len(pair) != 2 or not all(type(b) is int for b in pair):
                raise AllocationError(f"{experiment_id}: {pair!r} is not a [start, end) pair")
            start, end = pair
            if not 0 <= start < end <= BUCKETS:
                raise AllocationError(f"{experiment_id}: bad range [{start}, {end})")
            checked.append((start, end))
        out[experiment_id] = checked
    taken = sorted(r for ranges in out.values() for r in ranges)
    for (_, end), (start, _) in pairwise(taken):
        if start < end:
            raise AllocationError("ranges overlap")
    return out


def _free(allocations: Mapping[str, list[BucketRange]]) -> list[BucketRange]:
    gaps: list[BucketRange] = []
    cursor = 0
    for start, end in sorted(r for ranges in allocations.values() for r in ranges):
        if start > cursor:
            gaps.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < BUCKETS:
        gaps.append((cursor, BUCKETS))
    return gaps


def free_ranges(allocations: Allocations) -> list[BucketRange]:
    """Return the unallocated [start, end) ranges of a layer in ascending order."""
    return _free(_checked(allocations))


def free_buckets(allocations: Allocations) -> int:
    """Return the number of unallocated buckets in [0, 10000] of a layer."""
    return allocated_buckets(free_ranges(allocations))


def _grow(ranges: list[BucketRange], gaps: list[BucketRange], need: int) -> None:
    for start, end in gaps:
        if need == 0:
            return
        take = min(need, end - start)
        if ranges and ranges[-1][1] == start:  # extends the newest range: merge
            ranges[-1] = (ranges[-1][0], start + take)
        else:
            ranges.append((start, start + take))
        need -= take


def _shrink(ranges: list[BucketRange], excess: int) -> None:
    while excess > 0:
        start, end = ranges[-1]
        if end - start <= excess:
            ranges.pop()
            excess -= end - start
        else:
            ranges[-1] = (start, end - excess)
            excess = 0


def plan_allocation(
    allocations: Allocations, experiment_id: str, percent: float
) -> dict[str, tuple[BucketRange, ...]]:
    """Return a layer's allocations after giving `experiment_id` a share in [0, 100] percent.

    Other experiments' ranges are returned unchanged; a share of 0 removes the experiment.
    Raises LayerFullError when the free buckets do not suffice, AllocationError when the
    current allocations or the percent are invalid.
    """
    ok = isinstance(percent, int | float) and not isinstance(percent, bool) and 0 <= percent <= 100
    if not ok:
        raise AllocationError(f"percent must be in [0, 100], got {percent!r}")
    current = _checked(allocations)
    ranges = list(current.get(experiment_id, []))
    have, want = allocated_buckets(ranges), percent_to_buckets(percent)
    if want > have:
        gaps = _free(current)
        free = allocated_buckets(gaps)
        if want - have > free:
            raise LayerFullError(want - have, free)
        _grow(ranges, gaps, want - have)
    elif want < have:
        _shrink(ranges, have - want)
    current[experiment_id] = ranges  # keeps its place in the order when it was there
    return {k: tuple(v) for k, v in current.items() if v}


def release_allocation(
    allocations: Allocations, experiment_id: str
) -> dict[str, tuple[BucketRange, ...]]:
    """Return a layer's allocations without `experiment_id` (its buckets become free)."""
    return plan_allocation(allocations, experiment_id, 0)
