"""Simulated experiments, generated with numpy, as event batches for the HTTP API, with the
answers the analysis must give worked out here independently."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

Json = dict[str, Any]
BATCH = 5_000


def iso(ts: datetime) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_start(days_ago: int) -> datetime:
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


@dataclass
class Simulated:
    """Events of one experiment and what the results must show."""

    prefix: str
    events: list[Json] = field(default_factory=list)
    units: dict[str, int] = field(default_factory=dict)  # analysed units by variant
    kinds: dict[str, int] = field(default_factory=dict)  # distinct events by kind
    assigned: int = 0
    excluded: int = 0
    bots: int = 0

    def add(self, kind: str, **body: Any) -> None:
        self.events.append(
            {"type": kind, "event_id": f"{self.prefix}-{kind}-{len(self.events)}", **body}
        )
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def batches(self, size: int = BATCH) -> Iterator[list[Json]]:
        for start in range(0, len(self.events), size):
            yield self.events[start : start + size]


@dataclass(frozen=True)
class LiftSpec:
    units: int = 50_000
    rate: float = 0.10
    lift: float = 0.05  # relative, on the conversion rate
    revenue_lift: float = 0.03
    anonymous: int = 2_000  # units also exposed under an anonymous id, linked by identify
    excluded: int = 50
    bots: int = 5
    days: int = 14
    seed: int = 7


def lift_experiment(key: str, spec: LiftSpec = LiftSpec()) -> Simulated:
    """Two arms 50/50; a +5% conversion lift and a revenue metric whose pre-period value
    (an ingested covariate) explains most of its variance."""
    rng = np.random.default_rng(spec.seed)
    sim = Simulated(key, assigned=spec.units, excluded=spec.excluded, bots=spec.bots)
    treated = rng.random(spec.units) < 0.5
    base = day_start(spec.days + 2)
    exposed_at = rng.integers(0, spec.days * 86_400, spec.units)
    converts = rng.random(spec.units) < np.where(treated, spec.rate * (1 + spec.lift), spec.rate)
    pre = rng.gamma(2.0, 10.0, spec.units)
    spend = np.maximum(0.8 * pre + rng.normal(0, 4.0, spec.units) + 2.0, 0.0)
    spend = spend * np.where(treated, 1 + spec.revenue_lift, 1.0)
    for i in range(spec.units):
        unit, variant = f"u{i}", "treatment" if treated[i] else "control"
        at = base + timedelta(seconds=int(exposed_at[i]))
        if i < spec.anonymous:  # first seen anonymous, then logged in
            sim.add("exposure", experiment=key, variant=variant, unit_id=f"a{i}", timestamp=iso(at))
            sim.add("identify", anonymous_id=f"a{i}", canonical_id=unit, timestamp=iso(at))
            at += timedelta(minutes=5)
        sim.add("exposure", experiment=key, variant=variant, unit_id=unit, timestamp=iso(at),
                attributes={"platform": "ios" if i % 3 == 0 else "web"})  # fmt: skip
        sim.add("covariate", experiment=key, unit_id=unit, value=round(float(pre[i]), 4))
        later = iso(at + timedelta(hours=2))
        sim.add("metric", event_name="spend", unit_id=unit, value=round(float(spend[i]), 4),
                timestamp=later)  # fmt: skip
        if converts[i]:
            buyer = f"a{i}" if i < spec.anonymous else unit  # stitched onto the unit
            sim.add("metric", event_name="purchase", unit_id=buyer, timestamp=later)
    dropped = _exclusions_and_bots(sim, spec, base)
    for i in range(spec.units):
        if i not in dropped:
            variant = "treatment" if treated[i] else "control"
            sim.units[variant] = sim.units.get(variant, 0) + 1
    return sim


def _exclusions_and_bots(sim: Simulated, spec: LiftSpec, base: datetime) -> set[int]:
    """Deny-listed units and units far above the typical event rate; both left out."""
    excluded = range(spec.units - spec.excluded, spec.units)
    for i in excluded:
        sim.add("exclusion", unit_id=f"u{i}", reason="fraud", timestamp=iso(base))
    bots = range(spec.units - spec.excluded - spec.bots, spec.units - spec.excluded)
    for i in bots:
        for k in range(100):
            sim.add("metric", event_name="pageview", unit_id=f"u{i}",
                    timestamp=iso(base + timedelta(days=spec.days, seconds=k)))  # fmt: skip
    return set(excluded) | set(bots)


def imbalanced_experiment(
    key: str, units: int = 20_000, days: int = 14, seed: int = 11
) -> tuple[Simulated, str]:
    """50/50 configured, but 5% of the treatment units never logged their exposure, all
    of them on one day; returns the events and that day (YYYY-MM-DD)."""
    rng = np.random.default_rng(seed)
    sim = Simulated(key)
    treated = rng.permutation(units) < units // 2  # exactly half: the loss is the imbalance
    day = rng.integers(0, days, units)
    base = day_start(days + 2)
    bad_day = 3
    lost = np.flatnonzero(treated & (day == bad_day))[: round(0.05 * units / 2)]
    keep = np.ones(units, dtype=bool)
    keep[lost] = False
    for i in np.flatnonzero(keep):
        variant = "treatment" if treated[i] else "control"
        at = base + timedelta(days=int(day[i]), seconds=int(rng.integers(0, 86_400)))
        sim.add("exposure", experiment=key, variant=variant, unit_id=f"s{i}", timestamp=iso(at))
        sim.units[variant] = sim.units.get(variant, 0) + 1
    sim.assigned = int(keep.sum())
    return sim, (base + timedelta(days=bad_day)).date().isoformat()
