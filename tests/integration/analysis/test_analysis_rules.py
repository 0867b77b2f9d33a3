"""First-write-wins, idempotency, literal safety, and one SQL giving one answer everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from avsb.server.analysis import (
    AnalysisPlan,
    CupedSource,
    ExperimentScope,
    GroupBy,
    HealthPlan,
    MetricDefinition,
    MetricType,
    SrmPlan,
    UnitRules,
)
from avsb.server.events import (
    CovariateEvent,
    Event,
    EventStore,
    IdentifyEvent,
    StratumEvent,
)
from tests.support.event_backends import BACKENDS, fresh_store

from .factories import EXPERIMENT, SCOPE, at, batch, build_scenario, exposure, metric

NO_BOTS = UnitRules(bot_rule=None)
SUM = MetricDefinition(type=MetricType.SUM, event_name="purchase", window_hours=24.0)


def _plan(**overrides: object) -> AnalysisPlan:
    fields: dict[str, object] = {"scope": SCOPE, "metric": SUM, "rules": NO_BOTS}
    fields["cuped"] = CupedSource.NONE
    return AnalysisPlan(**(fields | overrides))  # type: ignore[arg-type]


class TestFirstWriteWins:
    def test_identity__later_link_elsewhere__first_link_kept(self, store: EventStore) -> None:
        store.append(
            batch(
                [
                    exposure("anon", "treatment", 0),
                    exposure("u1", "treatment", 1),
                    IdentifyEvent(anonymous_id="anon", canonical_id="u1", timestamp=at(0)),
                    IdentifyEvent(anonymous_id="anon", canonical_id="u2", timestamp=at(0)),
                    metric("purchase", "anon", 2, 3.0),
                    metric("purchase", "u1", 3, 4.0),
                ]
            )
        )

        rows = store.query(_plan())

        assert [r[:3] for r in rows] == [("treatment", 1, 7.0)]

    def test_exposure__re_exposed__first_time_kept(self, store: EventStore) -> None:
        store.append(batch([exposure("u1", "control", 30), exposure("u1", "control", 2)]))

        rows = store.query(SrmPlan(scope=SCOPE, group_by=GroupBy.DAY, rules=NO_BOTS))

        day = int(at(2).timestamp()) // 86_400
        assert rows == [("control", day, 1)]

    def test_exposure__two_variants__excluded_and_counted(self, store: EventStore) -> None:
        store.append(
            batch(
                [
                    exposure("u1", "control", 0),
                    exposure("u1", "treatment", 1),
                    exposure("u2", "treatment", 1),
                ]
            )
        )

        assert [r[:2] for r in store.query(_plan())] == [("treatment", 1)]
        assert store.query(HealthPlan(scope=SCOPE, rules=NO_BOTS)) == [(2, 1, 0, 0, 1)]

    def test_covariate_and_stratum__second_write__ignored(self, store: EventStore) -> None:
        store.append(
            batch(
                [
                    exposure("u1", "control", 0),
                    CovariateEvent(experiment=EXPERIMENT, unit_id="u1", value=2.0),
                    CovariateEvent(experiment=EXPERIMENT, unit_id="u1", value=50.0),
                    StratumEvent(experiment=EXPERIMENT, unit_id="u1", stratum="mobile"),
                ]
            )
        )
        store.append(batch([StratumEvent(experiment=EXPERIMENT, unit_id="u1", stratum="web")]))

        rows = store.query(_plan(group_by=GroupBy.STRATUM, cuped=CupedSource.INGESTED))

        assert [r[:3] + r[5:7] for r in rows] == [("control", "mobile", 1, 2.0, 4.0)]


class TestIdempotency:
    def test_reappend__same_events_in_new_batches__identical_stats(self, store: EventStore) -> None:
        events = build_scenario(seed=3, n_units=30)
        first = store.append(batch(events))
        plans = [_plan(cuped=CupedSource.AUTO), _plan(group_by=GroupBy.DAY)]
        before = [store.query(p) for p in plans]

        halves = [events[: len(events) // 2], events[len(events) // 2 :]]
        again = [store.append(batch(half)) for half in halves]

        assert first.accepted == len(events)
        assert sum(r.duplicates for r in again) == len(events)
        assert sum(r.accepted for r in again) == 0
        assert [store.query(p) for p in plans] == before


class TestLiterals:
    def test_quotes_in_values__bound_as_literals(self, store: EventStore) -> None:
        scope = ExperimentScope(org_id="o'1", project_id="p", experiment="x' OR '1'='1")
        store.append(batch([exposure("u1", "control", 0)]))

        assert store.query(_plan(scope=scope)) == []

    def test_attribute_key__not_a_plain_name__rejected(self) -> None:
        with pytest.raises(ValueError, match="JSON property"):
            SrmPlan(scope=SCOPE, group_by=GroupBy.ATTRIBUTE, attribute_key="a') --")


def test_same_generated_sql__every_backend__identical_results(tmp_path: Path) -> None:
    events: list[Event] = build_scenario(seed=11, n_units=50)
    ratio = MetricDefinition(
        type=MetricType.RATIO, event_name="purchase", denominator_event_name="visit"
    )
    plans: list[AnalysisPlan | SrmPlan | HealthPlan] = [
        _plan(cuped=CupedSource.AUTO, rules=UnitRules()),
        _plan(metric=ratio, group_by=GroupBy.STRATUM, cuped=CupedSource.PRE_PERIOD),
        _plan(group_by=GroupBy.ATTRIBUTE, attribute_key="country"),
        SrmPlan(scope=SCOPE, group_by=GroupBy.DAY),
        HealthPlan(scope=SCOPE),
    ]
    answers: dict[str, list[list[tuple[object, ...]]]] = {}
    for backend in BACKENDS:
        (tmp_path / backend).mkdir()
        try:
            with fresh_store(backend, tmp_path / backend) as store:
                store.append(batch(events))
                answers[backend] = [sorted(store.query(p), key=repr) for p in plans]
        except pytest.skip.Exception:
            continue  # PostgreSQL not configured: compare the others

    assert len(answers) >= 2
    reference = answers["duckdb"]
    for backend, answer in answers.items():
        assert answer == reference, backend
