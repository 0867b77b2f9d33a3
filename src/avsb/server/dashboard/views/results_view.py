"""The results page's view model: a stored results answer (``ResultsOut``) turned into rows a
template prints as they are: formatted numbers, interval bars drawn against zero,
significance labels, the decision and the SRM diagnosis in plain words."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

import msgspec

from avsb.server.results.schemas import (
    DecisionOut,
    HealthOut,
    HoldoutOut,
    MetricResultOut,
    MetricSeries,
    ResultsOut,
    SrmCell,
    SrmCheck,
    TimePoint,
    VariantValue,
)
from avsb.server.tools.schemas import ComparisonResult

DASH = "—"
_DECISIONS = {
    "ship": ("Ship", "good"),
    "no_ship": ("Do not ship", "bad"),
    "keep_running": ("Keep running", "neutral"),
}


def number(value: float | None, digits: int = 4) -> str:
    """A value with ``digits`` significant digits and thousands separators; a dash if none."""
    if value is None or not math.isfinite(value):
        return DASH
    if value != 0 and abs(value) >= 10 ** (digits - 1):
        return f"{value:,.0f}"
    return f"{value:,.{digits}g}"


def count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def percent(fraction: float | None, *, signed: bool = False, digits: int = 1) -> str:
    """``0.052`` -> ``5.2%`` (``+5.2%`` when signed)."""
    if fraction is None or not math.isfinite(fraction):
        return DASH
    sign = "+" if signed and fraction > 0 else ""
    return f"{sign}{fraction * 100:.{digits}f}%"


def signed(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return ("+" if value > 0 else "") + number(value)


def p_value(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return DASH
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def age(computed_at: datetime, now: datetime) -> str:
    """How long ago, in the largest whole unit: ``just now``, ``5 minutes ago``, ``2 days ago``."""
    seconds = max(0.0, (now - computed_at).total_seconds())
    for size, unit in ((86_400, "day"), (3_600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


@dataclass(frozen=True, slots=True)
class Bar:
    """An interval drawn against zero on a shared axis, in percent of the axis width."""

    low: float
    high: float
    point: float
    zero: float
    tone: str  # good | bad | neutral
    open_low: bool  # the interval runs off the axis (or is unbounded) on that side
    open_high: bool


def axis_span(comparisons: list[ComparisonResult]) -> float:
    """Half-width of a symmetric axis around zero that holds every estimate and interval."""
    values = [abs(c.estimate) for c in comparisons if math.isfinite(c.estimate)]
    values += [abs(v) for c in comparisons for v in c.ci if v is not None and math.isfinite(v)]
    largest = max(values, default=0.0)
    return largest * 1.1 if largest > 0 else 1.0


def _position(value: float, span: float) -> float:
    return round(min(100.0, max(0.0, 50.0 + 50.0 * value / span)), 2)


def tone(c: ComparisonResult, lower_is_better: bool) -> str:
    """good / bad when significant in the metric's good / bad direction, else neutral."""
    if not c.significant or c.estimate == 0:
        return "neutral"
    better = (c.estimate < 0) if lower_is_better else (c.estimate > 0)
    return "good" if better else "bad"


def bar(c: ComparisonResult, span: float, lower_is_better: bool) -> Bar:
    low, high = c.ci
    lo = -math.inf if low is None else low
    hi = math.inf if high is None else high
    return Bar(
        low=_position(lo if math.isfinite(lo) else -span, span),
        high=_position(hi if math.isfinite(hi) else span, span),
        point=_position(c.estimate, span),
        zero=50.0,
        tone=tone(c, lower_is_better),
        open_low=not math.isfinite(lo) or lo < -span,
        open_high=not math.isfinite(hi) or hi > span,
    )


def significance(c: ComparisonResult, lower_is_better: bool, role: str) -> str:
    found = tone(c, lower_is_better)
    if role == "guardrail":
        return "Guardrail violated" if found == "bad" else "Guardrail holds"
    return {
        "good": "Significant improvement",
        "bad": "Significant regression",
        "neutral": "Not significant",
    }[found]


@dataclass(frozen=True, slots=True)
class VariantRow:
    key: str
    control: bool
    units: str
    mean: str
    absolute: str  # lift of the means, treatment - control
    relative: str  # treatment / control - 1
    interval: str  # the comparison's interval, on its own scale
    bar: Bar | None
    test_stat: str  # "p = 0.012" or "chance to win 97.1%"
    adjusted_p: str
    risk: str
    label: str
    tone: str


@dataclass(frozen=True, slots=True)
class MetricView:
    id: str
    key: str
    name: str
    role: str
    type: str
    direction: str
    variance: str  # CUPED on / off and what it removed
    correction: str
    error: str | None
    rows: list[VariantRow]
    notes: list[str]


def interval_text(c: ComparisonResult) -> str:
    low, high = c.ci
    if c.difference_type == "relative":
        return f"[{percent(low, signed=True)}, {percent(high, signed=True)}]"
    return f"[{signed(low)}, {signed(high)}]"


def estimate_text(c: ComparisonResult) -> str:
    """The comparison's estimate on its own scale (percent when relative)."""
    if c.difference_type == "relative":
        return percent(c.estimate, signed=True)
    return signed(c.estimate)


def _mean(v: VariantValue) -> float | None:
    return v.adjusted_mean if v.adjusted_mean is not None else v.mean


def _lifts(control: VariantValue, v: VariantValue) -> tuple[str, str]:
    c, t = _mean(control), _mean(v)
    if c is None or t is None:
        return DASH, DASH
    relative = percent(t / c - 1, signed=True) if c != 0 else DASH
    return signed(t - c), relative


def stat_text(c: ComparisonResult) -> str:
    if c.chance_to_win is not None:
        return f"chance to win {percent(c.chance_to_win)}"
    return f"p = {p_value(c.p_value)}"


def _risk(c: ComparisonResult) -> str:
    if c.risk_variant is None:
        return DASH
    scale = percent if c.difference_type == "relative" else (lambda x: number(x))
    return f"{scale(c.risk_variant)} (control {scale(c.risk_control)})"


def variance_text(m: MetricResultOut) -> str:
    if m.cuped.applied:
        removed = percent(m.cuped.variance_reduction)
        source = {"ingested": "ingested covariate", "pre_period": "pre-period"}.get(
            m.cuped.covariate or "", "covariate"
        )
        text = f"CUPED on ({source}): removed {removed} of the variance"
    elif m.cuped.reason:
        text = f"CUPED off: {m.cuped.reason}"
    else:
        text = "CUPED off"
    if m.stratification.applied:
        removed = percent(m.stratification.variance_reduction)
        text += f"; post-stratified over {m.stratification.cells} strata, removed {removed}"
    return text


def metric_view(m: MetricResultOut) -> MetricView:
    control = m.variants[0] if m.variants else None
    by_variant = {c.variant: c for c in m.comparisons}
    span = axis_span(m.comparisons)
    rows = []
    for v in m.variants:
        c = by_variant.get(v.key)
        absolute, relative = _lifts(control, v) if control is not None and c else (DASH, DASH)
        rows.append(
            VariantRow(
                key=v.key,
                control=v is control,
                units=count(v.n),
                mean=number(_mean(v)),
                absolute=absolute,
                relative=relative,
                interval=interval_text(c) if c else DASH,
                bar=bar(c, span, m.lower_is_better) if c else None,
                test_stat=stat_text(c) if c else DASH,
                adjusted_p=p_value(c.adjusted_p_value) if c else DASH,
                risk=_risk(c) if c else DASH,
                label=significance(c, m.lower_is_better, m.role) if c else "Control",
                tone=tone(c, m.lower_is_better) if c else "neutral",
            )
        )
    correction = DASH
    if m.correction is not None:
        correction = (
            f"{m.correction.method} over {m.correction.family_size} {m.correction.family}"
            f" comparisons"
        )
    return MetricView(
        id=m.metric_id,
        key=m.key,
        name=m.name,
        role=m.role,
        type=m.type,
        direction="lower is better" if m.lower_is_better else "higher is better",
        variance=variance_text(m),
        correction=correction,
        error=m.error.message if m.error else None,
        rows=rows,
        notes=sorted({n for c in m.comparisons for n in c.notes}),
    )


@dataclass(frozen=True, slots=True)
class DecisionView:
    label: str
    tone: str
    variant: str | None
    reasons: list[str]


def decision_view(found: DecisionOut | None) -> DecisionView | None:
    if found is None:
        return None
    label, shade = _DECISIONS[found.decision]
    if found.decision == "ship" and found.variant:
        label = f"Ship {found.variant}"
    return DecisionView(label, shade, found.variant, [r.message for r in found.reasons])


@dataclass(frozen=True, slots=True)
class SrmView:
    headline: str
    by_day: list[str]
    by_attribute: list[str]


def _cell(prefix: str, cell: SrmCell, variants: list[str]) -> str:
    counts = ", ".join(f"{k} {n:,}" for k, n in zip(variants, cell.observed, strict=False))
    return f"{prefix}: {counts} (p = {p_value(cell.p_value)})"


def srm_view(check: SrmCheck, variants: list[str]) -> SrmView | None:
    """The banner when the traffic split is off: where it comes from, worst first."""
    if check.status != "error":
        return None
    diagnosis = check.diagnosis
    days = [_cell(f"Day {c.group}", c, variants) for c in diagnosis.by_day] if diagnosis else []
    attributes = (
        [
            _cell(f"Attribute {key} = {c.group}", c, variants)
            for key, cells in diagnosis.by_attribute.items()
            for c in cells
        ]
        if diagnosis
        else []
    )
    return SrmView(check.message, days, attributes)


def health_warnings(health: HealthOut) -> list[tuple[str, str]]:
    """(status, message) of every data-health check that is not ok."""
    found = [(health.srm.status, health.srm.message)]
    for c in (health.multiple_variant_units, health.exclusions, health.bot_units,
              health.late_events):  # fmt: skip
        found.append((c.status, c.message))
    return [(status, message) for status, message in found if status != "ok"]


@dataclass(frozen=True, slots=True)
class HoldoutRow:
    key: str
    holdout_mean: str
    treated_mean: str
    lift: str
    interval: str
    label: str


def holdout_rows(holdout: HoldoutOut | None) -> list[HoldoutRow]:
    if holdout is None:
        return []
    rows = []
    for m in holdout.metrics:
        c = m.comparison
        lift = DASH
        if c is not None:
            lift = (
                percent(c.estimate, signed=True)
                if c.difference_type == "relative"
                else signed(c.estimate)
            )
        rows.append(
            HoldoutRow(
                key=m.key,
                holdout_mean=number(_mean(m.holdout)),
                treated_mean=number(_mean(m.treated)),
                lift=lift,
                interval=interval_text(c) if c else DASH,
                label=m.error.message
                if m.error
                else (significance(c, False, "primary") if c else DASH),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class ResultsView:
    experiment_id: str
    computed_at: datetime
    age: str
    method: str
    segment: str | None
    decision: DecisionView | None
    srm: SrmView | None
    metrics: list[MetricView]
    warnings: list[tuple[str, str]]
    holdout_units: str
    holdout: list[HoldoutRow]
    assigned: str
    analysed: str


def results_view(out: ResultsOut, variants: list[str], now: datetime) -> ResultsView:
    """``variants``: the experiment's variant keys, control first (the order of SRM counts)."""
    return ResultsView(
        experiment_id=out.experiment_id,
        computed_at=out.computed_at,
        age=age(out.computed_at, now),
        method=out.method,
        segment=out.segment,
        decision=decision_view(out.decision),
        srm=srm_view(out.health.srm, variants),
        metrics=[metric_view(m) for m in out.metrics],
        warnings=health_warnings(out.health),
        holdout_units=count(out.holdout.units) if out.holdout else DASH,
        holdout=holdout_rows(out.holdout),
        assigned=count(out.health.assigned_units),
        analysed=count(out.health.analysed_units),
    )


@dataclass(frozen=True, slots=True)
class LiftSeries:
    """A metric's cumulative lift per treatment by day, and the first treatment's interval."""

    key: str
    role: str
    relative: bool
    days: list[str]  # ISO dates, the x axis (index = position)
    lines: dict[str, list[tuple[float, float]]]  # variant -> [(day index, lift)]
    band: list[tuple[float, float, float]]  # [(day index, low, high)]


class SeriesComparison(msgspec.Struct, frozen=True):
    """What the charts read of a comparison at a point of a stored series."""

    variant: str
    estimate: float
    ci: tuple[float | None, float | None]
    difference_type: Literal["relative", "absolute"]


class SeriesCount(msgspec.Struct, frozen=True):
    key: str
    n: int


class SeriesPoint(msgspec.Struct, frozen=True):
    date: date
    variants: list[SeriesCount]
    comparisons: list[SeriesComparison]


class StoredSeries(msgspec.Struct, frozen=True):
    """A metric's stored series (``MetricSeries``), only the fields the charts draw."""

    metric_id: str
    key: str
    role: str
    points: list[SeriesPoint]


class _Stored(msgspec.Struct, frozen=True):
    metrics: list[StoredSeries]


_SERIES = msgspec.json.Decoder(_Stored | None)


def decode_series(text: str | bytes) -> list[StoredSeries] | None:
    """The series a snapshot stored (``TimeseriesOut`` as JSON text; None for ``null``), read
    for the charts: only the fields they draw, decoded and checked in one pass into msgspec
    structs. A 60-day series of 5 metrics and 3 variants is some 350 KB of JSON: this costs a
    fraction of ``json.loads`` and ``TimeseriesOut``. A malformed one is refused
    (``msgspec.ValidationError``)."""
    found = _SERIES.decode(text)
    return None if found is None else found.metrics


def lift_series(series: MetricSeries | StoredSeries) -> LiftSeries | None:
    """Lift over time in the unit shown (percent when relative); None without points."""
    points: Sequence[TimePoint | SeriesPoint] = series.points
    if not points:
        return None
    days = [p.date.isoformat() for p in points]
    relative = any(c.difference_type == "relative" for p in points for c in p.comparisons)
    scale = 100.0 if relative else 1.0
    lines: dict[str, list[tuple[float, float]]] = {}
    band: list[tuple[float, float, float]] = []
    first: str | None = None
    for i, point in enumerate(points):
        for c in point.comparisons:
            variant = c.variant
            first = first or variant
            lines.setdefault(variant, []).append((float(i), c.estimate * scale))
            low, high = c.ci
            if variant == first and low is not None and high is not None:
                band.append((float(i), low * scale, high * scale))
    return LiftSeries(series.key, series.role, relative, days, lines, band)


def daily_units(
    series: Sequence[MetricSeries | StoredSeries],
) -> tuple[list[str], dict[str, list[int]]]:
    """Units newly exposed per variant and day (the series are cumulative by day)."""
    found = next((s for s in series if s.points), None)
    if found is None:
        return [], {}
    points: Sequence[TimePoint | SeriesPoint] = found.points
    days = [p.date.isoformat() for p in points]
    per_variant: dict[str, list[int]] = {}
    for point in points:
        for v in point.variants:
            per_variant.setdefault(v.key, []).append(v.n)
    daily = {
        key: [n - (counts[i - 1] if i else 0) for i, n in enumerate(counts)]
        for key, counts in per_variant.items()
    }
    return days, daily


def plan_rows(plan: dict[str, object], metric_names: dict[str, str]) -> list[tuple[str, str]]:
    """The pinned analysis plan as (setting, value) lines, metric ids named."""
    rows: list[tuple[str, str]] = []
    for key, value in plan.items():
        if key == "metrics" and isinstance(value, dict):
            for role, ids in value.items():
                names = [metric_names.get(str(i), str(i)) for i in ids] if ids else []
                rows.append((f"{role} metrics", ", ".join(names) or DASH))
        elif key == "variants" and isinstance(value, list):
            text = ", ".join(
                f"{v.get('key')} ({v.get('weight')})" for v in value if isinstance(v, dict)
            )
            rows.append(("variants", text))
        else:
            rows.append((key.replace("_", " "), DASH if value is None else str(value)))
    return rows
