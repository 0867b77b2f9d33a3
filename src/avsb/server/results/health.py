"""Data-quality checks shown with every results read: SRM (and where it comes from),
units seen in several variants, exclusions, bot units and late events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from avsb.server.results import schemas
from avsb.stats import SrmResult, sequential_srm_test, srm_test
from avsb.stats.analysis import Method

SRM_THRESHOLD = 0.001
WARN_SHARE = 0.01  # share of units (or events) above which a check warns
TOP_CELLS = 3


@dataclass(frozen=True, slots=True)
class Srm:
    out: schemas.SrmOut
    result: SrmResult | None  # None when nothing was observed yet


def srm(counts: Sequence[int], weights: Sequence[float], method: Method) -> Srm:
    """Chi-square SRM on analysed units; decided by the anytime-valid test when sequential."""
    if sum(counts) == 0 or len(counts) < 2:
        out = schemas.SrmOut(
            p_value=None,
            sequential_p_value=None,
            srm_detected=False,
            observed=list(counts),
            expected=[],
            weights=list(weights),
        )
        return Srm(out, None)
    fixed = srm_test(counts, weights, SRM_THRESHOLD)
    sequential = sequential_srm_test(counts, weights, SRM_THRESHOLD)
    detected = sequential.srm_detected if method == "sequential" else fixed.srm_detected
    out = schemas.SrmOut(
        p_value=fixed.p_value,
        sequential_p_value=sequential.p_value,
        srm_detected=detected,
        observed=list(counts),
        expected=list(fixed.expected),
        weights=list(weights),
    )
    return Srm(out, replace(fixed, srm_detected=detected))


def worst_cells(
    groups: Mapping[str, Sequence[int]], weights: Sequence[float]
) -> list[schemas.SrmCell]:
    """The groups (days, attribute values) whose split is furthest from the weights."""
    cells = []
    for group, counts in groups.items():
        if sum(counts) == 0:
            continue
        result = srm_test(counts, weights, SRM_THRESHOLD)
        cells.append(
            schemas.SrmCell(
                group=group, observed=list(counts), chi2=result.chi2, p_value=result.p_value
            )
        )
    cells.sort(key=lambda cell: cell.chi2, reverse=True)
    return cells[:TOP_CELLS]


def srm_check(found: Srm, diagnosis: schemas.SrmDiagnosis | None) -> schemas.SrmCheck:
    out = found.out
    if out.p_value is None:
        return schemas.SrmCheck(
            status="ok", p_value=None, message="No units analysed yet.", diagnosis=None
        )
    if not out.srm_detected:
        message = f"The observed split matches the configured weights (p = {out.p_value:.3g})."
        return schemas.SrmCheck(status="ok", p_value=out.p_value, message=message, diagnosis=None)
    message = f"Sample ratio mismatch: observed {out.observed}, expected " + (
        f"{[round(e, 1) for e in out.expected]} (p = {out.p_value:.3g})."
    )
    return schemas.SrmCheck(
        status="error", p_value=out.p_value, message=message, diagnosis=diagnosis
    )


def _share_check(count: int, whole: int, what: str, warn_share: float) -> schemas.HealthCheck:
    share = count / whole if whole else None
    status: schemas.Status = "warning" if share is not None and share > warn_share else "ok"
    shown = "" if share is None else f" ({share:.2%})"
    return schemas.HealthCheck(
        status=status, count=count, share=share, message=f"{count} {what}{shown}."
    )


@dataclass(frozen=True, slots=True)
class UnitCounts:
    """The HealthPlan row, and the late-events row."""

    assigned: int
    multiple_variants: int
    excluded: int
    bots: int
    analysed: int
    events: int
    late_events: int


def health(
    counts: UnitCounts, srm_checked: schemas.SrmCheck, late_hours: float
) -> schemas.HealthOut:
    assigned = counts.assigned
    return schemas.HealthOut(
        assigned_units=assigned,
        analysed_units=counts.analysed,
        srm=srm_checked,
        multiple_variant_units=_share_check(
            counts.multiple_variants,
            assigned,
            "units were exposed to more than one variant and are left out",
            WARN_SHARE,
        ),
        exclusions=_share_check(
            counts.excluded, assigned, "exposed units are on the exclusion list", 0.05
        ),
        bot_units=_share_check(
            counts.bots, assigned, "exposed units exceed the event-rate spike rule", WARN_SHARE
        ),
        late_events=_share_check(
            counts.late_events,
            counts.events,
            f"events arrived more than {late_hours:g} h after their timestamp",
            WARN_SHARE,
        ),
    )
