"""An independent, plain Python + numpy reading of the analysis rules, to check the SQL."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from avsb.server.analysis import AnalysisPlan, CupedSource, GroupBy, MetricType, UnitRules
from avsb.server.events import (
    HOLDOUT_VARIANT,
    CovariateEvent,
    Event,
    ExclusionEvent,
    ExposureEvent,
    HoldoutEvent,
    IdentifyEvent,
    MetricEvent,
    StratumEvent,
)
from avsb.server.events.types import to_epoch_us

Key = tuple[object, ...]
HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class Unit:
    variant: str
    first_us: int
    attributes: dict[str, object]


def links(events: Sequence[Event]) -> dict[str, str]:
    out: dict[str, str] = {}
    for e in events:
        if isinstance(e, IdentifyEvent) and e.anonymous_id != e.canonical_id:
            out.setdefault(e.anonymous_id, e.canonical_id)
    return out


def assigned(
    events: Sequence[Event], experiment: str, rules: UnitRules
) -> tuple[dict[str, Unit], set[str]]:
    """Single-variant units by canonical id, and the multi-variant ones."""
    link = links(events)
    variants: dict[str, set[str]] = defaultdict(set)
    first: dict[str, tuple[int, int, dict[str, object]]] = {}
    for order, e in enumerate(events):
        if isinstance(e, ExposureEvent) and e.experiment == experiment:
            variant, attrs = e.variant, dict(e.attributes)
        elif isinstance(e, HoldoutEvent) and e.experiment == experiment and rules.include_holdout:
            variant, attrs = HOLDOUT_VARIANT, {}
        else:
            continue
        uid = link.get(e.unit_id, e.unit_id)
        variants[uid].add(variant)
        candidate = (to_epoch_us(e.timestamp), order, attrs)
        if uid not in first or candidate[:2] < first[uid][:2]:
            first[uid] = candidate
    single = {
        uid: Unit(min(vs), first[uid][0], first[uid][2])
        for uid, vs in variants.items()
        if len(vs) == 1
    }
    return single, {uid for uid, vs in variants.items() if len(vs) > 1}


def analysed_units(events: Sequence[Event], experiment: str, rules: UnitRules) -> dict[str, Unit]:
    link = links(events)
    units, multi = assigned(events, experiment, rules)
    everyone = set(units) | multi
    drop: set[str] = set()
    if rules.apply_exclusions:
        drop |= {link.get(e.unit_id, e.unit_id) for e in events if isinstance(e, ExclusionEvent)}
    drop |= bots(events, everyone, rules)
    return {uid: u for uid, u in units.items() if uid not in drop}


def bots(events: Sequence[Event], everyone: set[str], rules: UnitRules) -> set[str]:
    rule = rules.bot_rule
    if rule is None:
        return set()
    link = links(events)
    counts = Counter(link.get(e.unit_id, e.unit_id) for e in events if isinstance(e, MetricEvent))
    counts = Counter({uid: n for uid, n in counts.items() if uid in everyone})
    if not counts:
        return set()
    p99 = float(np.percentile(np.array(list(counts.values()), dtype=float), 99))
    out = set()
    for uid, n in counts.items():
        if rule.max_events is not None and n > rule.max_events:
            out.add(uid)
        if rule.p99_multiple is not None and n > rule.p99_multiple * p99:
            out.add(uid)
    return out


def first_per_unit(
    events: Sequence[Event], kind: type[CovariateEvent] | type[StratumEvent], experiment: str
) -> dict[str, object]:
    link = links(events)
    out: dict[str, object] = {}
    for e in events:
        if isinstance(e, kind) and e.experiment == experiment:
            value = e.value if isinstance(e, CovariateEvent) else e.stratum
            out.setdefault(link.get(e.unit_id, e.unit_id), value)
    return out


def _metric_value(e: MetricEvent, prop: str | None) -> float | None:
    if prop is None:
        return e.value
    raw = e.properties.get(prop)
    return None if raw is None else float(str(raw))


def unit_value(
    evs: Sequence[MetricEvent], plan: AnalysisPlan, unit: Unit, pre: bool
) -> tuple[float, float]:
    """(y, d) for one unit over its post window, or over its pre window when pre=True."""
    m = plan.metric
    hours = m.window_hours
    lo, hi = unit.first_us, (None if hours is None else unit.first_us + round(hours * HOUR_US))
    if pre:
        lo, hi = unit.first_us - round((hours or plan.pre_period_hours) * HOUR_US), unit.first_us
    inside = [e for e in evs if to_epoch_us(e.timestamp) >= lo]
    inside = [e for e in inside if hi is None or to_epoch_us(e.timestamp) < hi]
    num = [e for e in inside if e.event_name == m.event_name]
    den_name = m.denominator_event_name if m.type is MetricType.RATIO else m.event_name
    den = [e for e in inside if e.event_name == den_name]
    values = [_metric_value(e, m.value_property) for e in num]
    if m.type in (MetricType.BINARY, MetricType.CATEGORICAL):  # categorical: has an event
        return (1.0 if num else 0.0), 0.0
    if m.type is MetricType.COUNT:
        return float(len(num)), 0.0
    if m.type in (MetricType.SUM, MetricType.MEAN, MetricType.QUANTILE):
        y = sum(v or 0.0 for v in values)
        return y, float(len(num))
    y = sum(1.0 if v is None else v for v in values)
    return y, sum(1.0 if e.value is None else e.value for e in den)


def reference_stats(events: Sequence[Event], plan: AnalysisPlan) -> dict[Key, tuple[object, ...]]:
    """Sufficient statistics per (variant, [group]) as the SQL should compute them."""
    exp_key = plan.scope.experiment
    units = analysed_units(events, exp_key, plan.rules)
    link = links(events)
    by_unit: dict[str, list[MetricEvent]] = defaultdict(list)
    for e in events:
        if isinstance(e, MetricEvent):
            by_unit[link.get(e.unit_id, e.unit_id)].append(e)
    covs = first_per_unit(events, CovariateEvent, exp_key)
    strata = first_per_unit(events, StratumEvent, exp_key)
    cuped = plan.cuped
    if cuped is CupedSource.AUTO:
        cuped = CupedSource.INGESTED if covs else CupedSource.PRE_PERIOD
    rows = []
    for uid, unit in units.items():
        y, d = unit_value(by_unit[uid], plan, unit, pre=False)
        x, xd, has = 0.0, 0.0, 0.0
        if cuped is CupedSource.INGESTED:
            x, has = float(str(covs.get(uid, 0.0))), float(uid in covs)
        elif cuped is CupedSource.PRE_PERIOD:
            x, xd = unit_value(by_unit[uid], plan, unit, pre=True)
            has = 1.0
        key: Key = (unit.variant,)
        if plan.group_by is not GroupBy.NONE:
            key += (_group(plan, uid, unit, strata),)
        if plan.by_stratum:
            key += (strata.get(uid),)
        rows.append((key, y, d, x, xd, has))
    ys = _capped(plan, np.array([r[1] for r in rows], dtype=float))
    groups: dict[Key, list[tuple[float, ...]]] = defaultdict(list)
    for (key, _, d, x, xd, has), y in zip(rows, ys, strict=True):
        groups[key].append((float(y), d, x, xd, has))
    pre_ratio = plan.metric.is_ratio and plan.cuped is CupedSource.PRE_PERIOD
    return {key: _sums(plan, np.array(vals), pre_ratio) for key, vals in groups.items()}


def _group(plan: AnalysisPlan, uid: str, unit: Unit, strata: dict[str, object]) -> object:
    if plan.group_by is GroupBy.STRATUM:
        return strata.get(uid)
    if plan.group_by is GroupBy.ATTRIBUTE:
        assert plan.attribute_key is not None
        return unit.attributes.get(plan.attribute_key)
    if plan.group_by is GroupBy.DAY:
        return unit.first_us // (24 * HOUR_US)
    return None


def _capped(plan: AnalysisPlan, ys: np.ndarray) -> np.ndarray:
    m = plan.metric
    if m.type in (MetricType.BINARY, MetricType.CATEGORICAL) or len(ys) == 0:
        return ys
    out = ys
    if m.value_cap is not None:
        out = np.minimum(out, m.value_cap)
    if m.winsorize_percentile is not None:  # the percentile of the uncapped values
        out = np.minimum(out, np.percentile(ys, m.winsorize_percentile))
    return out


def _sums(plan: AnalysisPlan, vals: np.ndarray, pre_ratio: bool) -> tuple[object, ...]:
    y, d, x, xd, has = (vals[:, i] for i in range(5))
    base: tuple[object, ...] = (
        len(y),
        float(y.sum()),
        float((y * y).sum()),
        float(x.sum()),
        float((x * x).sum()),
        float((x * y).sum()),
    )
    coverage = float(has.sum())
    if not plan.metric.is_ratio:
        return (*base, None, None, None, None, None, coverage, *(None,) * 6)
    ratio = (y.sum(), (y * y).sum(), d.sum(), (d * d).sum(), (y * d).sum())
    if not pre_ratio:
        return (*base, *(float(v) for v in ratio), coverage, *(None,) * 6)
    cuped = (
        xd.sum(),
        (xd * xd).sum(),
        (x * xd).sum(),
        (y * xd).sum(),
        (d * x).sum(),
        (d * xd).sum(),
    )
    return (*base, *(float(v) for v in ratio), coverage, *(float(v) for v in cuped))
