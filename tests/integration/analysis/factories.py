"""Small typed factories for synthetic analysis events (every value a multiple of 0.5, so
sums are exact in any order and backends can be compared with ==)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np

from avsb.server.analysis import ExperimentScope
from avsb.server.events import (
    CovariateEvent,
    Event,
    EventBatch,
    ExclusionEvent,
    ExposureEvent,
    HoldoutEvent,
    IdentifyEvent,
    MetricEvent,
    StratumEvent,
)

BASE = datetime(2026, 3, 1, tzinfo=UTC)
ORG, PROJECT, EXPERIMENT = "org_1", "prj_1", "exp_button"
SCOPE = ExperimentScope(org_id=ORG, project_id=PROJECT, experiment=EXPERIMENT)


def at(hours: float) -> datetime:
    return BASE + timedelta(hours=hours)


def batch(events: list[Event]) -> EventBatch:
    return EventBatch(ORG, PROJECT, events)


def exposure(unit_id: str, variant: str, hours: float, **attributes: str) -> ExposureEvent:
    return ExposureEvent(
        experiment=EXPERIMENT,
        variant=variant,
        unit_id=unit_id,
        timestamp=at(hours),
        attributes=attributes,
    )


def metric(name: str, unit_id: str, hours: float, value: float | None = None) -> MetricEvent:
    props = {} if value is None else {"amount": value * 2}
    return MetricEvent(
        event_name=name, unit_id=unit_id, timestamp=at(hours), value=value, properties=props
    )


def build_scenario(seed: int = 7, n_units: int = 80) -> list[Event]:
    """Exposures, metric events and every rule the analysis applies, in ingestion order."""
    rng = np.random.default_rng(seed)
    events: list[Event] = []
    for i in range(n_units):
        events += _unit_events(rng, i)
    # Rules: a unit in two variants, deny-listed units (one by its anonymous id), a bot.
    events.append(exposure("u1", "control", 30.0, country="US"))
    events.append(exposure("u1", "treatment", 31.0, country="US"))
    events.append(ExclusionEvent(unit_id="u2", reason="fraud", timestamp=at(1)))
    events.append(ExclusionEvent(unit_id="anon3", reason="bot", timestamp=at(1)))
    events.append(ExclusionEvent(unit_id="u2", reason="later reason", timestamp=at(2)))
    events += [metric("visit", "u4", 1.0 + k / 10) for k in range(400)]
    # First write wins: a later link of anon5 elsewhere, a later covariate and stratum.
    events.append(IdentifyEvent(anonymous_id="anon5", canonical_id="u6", timestamp=at(3)))
    events.append(CovariateEvent(experiment=EXPERIMENT, unit_id="u7", value=99.0))
    events.append(StratumEvent(experiment=EXPERIMENT, unit_id="u7", stratum="tablet"))
    events.append(IdentifyEvent(anonymous_id="u8", canonical_id="u8", timestamp=at(3)))
    # Holdout members with outcomes.
    for j in range(6):
        events.append(HoldoutEvent(experiment=EXPERIMENT, unit_id=f"h{j}", timestamp=at(j)))
        events.append(metric("purchase", f"h{j}", j + 2.0, 1.5 * (j % 3)))
    # Client ids, so that two equal events of a unit are two events (not one content hash).
    return [
        replace(e, event_id=f"m{i}") if isinstance(e, MetricEvent) else e
        for i, e in enumerate(events)
    ]


def _unit_events(rng: np.random.Generator, i: int) -> list[Event]:
    unit = f"u{i}"
    variant = "control" if rng.random() < 0.5 else "treatment"
    country = "US" if rng.random() < 0.6 else "DE"
    first = float(rng.integers(0, 96))  # hours after BASE: spreads units over 4 days
    anonymous = i % 5 == 0 or i in (3, 5)
    seen_as = f"anon{i}" if anonymous else unit
    events: list[Event] = [exposure(seen_as, variant, first, country=country)]
    if anonymous:
        events.append(IdentifyEvent(anonymous_id=seen_as, canonical_id=unit, timestamp=at(first)))
    if rng.random() < 0.3:  # re-exposed later under the canonical id: first exposure kept
        later_country = "FR"
        events.append(exposure(unit, variant, first + 5, country=later_country))
    if rng.random() < 0.6:
        events.append(CovariateEvent(experiment=EXPERIMENT, unit_id=seen_as, value=_half(rng)))
    if rng.random() < 0.8:
        stratum = "desktop" if rng.random() < 0.5 else "mobile"
        events.append(StratumEvent(experiment=EXPERIMENT, unit_id=unit, stratum=stratum))
    for _ in range(int(rng.integers(0, 7))):
        offset = float(rng.integers(-80, 200))  # before and after the exposure
        who = seen_as if rng.random() < 0.5 else unit
        value = None if rng.random() < 0.15 else _half(rng)
        events.append(metric("purchase", who, first + offset + 0.25, value))
    for _ in range(int(rng.integers(0, 5))):
        offset = float(rng.integers(-30, 100))
        events.append(metric("visit", unit, first + offset + 0.5))
    return events


def _half(rng: np.random.Generator) -> float:
    return float(rng.integers(0, 40)) / 2
