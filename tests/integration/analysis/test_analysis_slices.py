"""Slices (unit filters) and bots found once (BotsPlan) give the same answers as the rules
they stand for, on every backend."""

from __future__ import annotations

from dataclasses import replace

from avsb.server.analysis import (
    AnalysisPlan,
    BotRule,
    BotsPlan,
    GroupBy,
    HealthPlan,
    MetricDefinition,
    MetricType,
    SrmPlan,
    UnitFilter,
    UnitRules,
)
from avsb.server.events import EventStore

from .factories import SCOPE, batch, build_scenario

SUM = MetricDefinition(type=MetricType.SUM, event_name="purchase", window_hours=24.0)
RULES = UnitRules(bot_rule=BotRule(p99_multiple=None, max_events=100))  # u4 sends 400+


def loaded(store: EventStore) -> EventStore:
    store.append(batch(build_scenario()))
    return store


class TestKnownBots:
    def test_bots_plan__the_units_the_rule_flags(self, store: EventStore) -> None:
        loaded(store)

        bots = store.query(BotsPlan(scope=SCOPE, rules=RULES))
        (health,) = store.query(HealthPlan(scope=SCOPE, rules=RULES))

        assert bots == [("u4",)]
        assert health[3] == 1

    def test_known_bots__same_stats_as_the_rule(self, store: EventStore) -> None:
        loaded(store)
        known = replace(RULES, bot_units=("u4",))

        for plan in (
            AnalysisPlan(scope=SCOPE, metric=SUM, rules=RULES),
            HealthPlan(scope=SCOPE, rules=RULES),
        ):
            assert store.query(replace(plan, rules=known)) == store.query(plan)

    def test_no_known_bots__nobody_dropped(self, store: EventStore) -> None:
        loaded(store)
        none = store.query(SrmPlan(scope=SCOPE, rules=UnitRules(bot_units=())))
        without_rule = store.query(SrmPlan(scope=SCOPE, rules=UnitRules(bot_rule=None)))
        assert none == without_rule


class TestUnitFilter:
    def test_attribute_filter__equals_that_attribute_group(self, store: EventStore) -> None:
        loaded(store)
        grouped = store.query(
            SrmPlan(scope=SCOPE, group_by=GroupBy.ATTRIBUTE, attribute_key="country")
        )
        us = UnitRules(unit_filter=UnitFilter(attribute_key="country", values=("US",)))

        sliced = store.query(SrmPlan(scope=SCOPE, rules=us))

        assert sliced == [(variant, n) for variant, value, n in grouped if value == "US"]

    def test_id_filter__only_those_canonical_units(self, store: EventStore) -> None:
        loaded(store)
        ids = UnitRules(unit_filter=UnitFilter(values=("u10", "u11", "u12", "nobody")))
        empty = UnitRules(unit_filter=UnitFilter(values=()))

        rows = store.query(SrmPlan(scope=SCOPE, rules=ids))

        assert sum(int(str(n)) for _, n in rows) == 3
        assert store.query(SrmPlan(scope=SCOPE, rules=empty)) == []
