"""Generated SQL against an independent numpy reading of the rules, on every backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from avsb.server.analysis import (
    AnalysisPlan,
    BotRule,
    CupedSource,
    GroupBy,
    HealthPlan,
    MetricDefinition,
    MetricsPlan,
    MetricType,
    SrmPlan,
    UnitRules,
)
from avsb.server.analysis.kinds import BootstrapPlan
from avsb.server.events import EventStore
from avsb.server.events.dialects import DIALECTS
from tests.support.event_backends import BACKENDS, fresh_store

from .factories import SCOPE, batch, build_scenario
from .reference import Key, analysed_units, assigned, bots, reference_stats

EVENTS = build_scenario()
NO_BOTS = UnitRules(bot_rule=None)


def _metric(kind: MetricType, **overrides: object) -> MetricDefinition:
    fields: dict[str, object] = {"type": kind, "event_name": "purchase", "window_hours": 48.0}
    if kind is MetricType.RATIO:
        fields["denominator_event_name"] = "visit"
    return MetricDefinition(**(fields | overrides))  # type: ignore[arg-type]


def _plan(metric: MetricDefinition, **overrides: object) -> AnalysisPlan:
    fields: dict[str, object] = {"scope": SCOPE, "metric": metric, "cuped": CupedSource.NONE}
    fields["rules"] = NO_BOTS
    return AnalysisPlan(**(fields | overrides))  # type: ignore[arg-type]


CASES: dict[str, AnalysisPlan] = {
    **{f"type_{t.value}": _plan(_metric(t)) for t in MetricType},
    "no_window": _plan(_metric(MetricType.SUM, window_hours=None)),
    "short_window": _plan(_metric(MetricType.COUNT, window_hours=6.0)),
    "value_property": _plan(_metric(MetricType.SUM, value_property="amount")),
    "ratio_property": _plan(_metric(MetricType.RATIO, value_property="amount")),
    "mean_property": _plan(_metric(MetricType.MEAN, value_property="amount")),
    "winsorized": _plan(_metric(MetricType.SUM, winsorize_percentile=90.0)),
    "capped": _plan(_metric(MetricType.COUNT, value_cap=2.0)),
    "capped_and_winsorized": _plan(
        _metric(MetricType.RATIO, value_cap=10.0, winsorize_percentile=75.0)
    ),
    "binary_winsorize_ignored": _plan(_metric(MetricType.BINARY, winsorize_percentile=50.0)),
    "cuped_ingested": _plan(_metric(MetricType.SUM), cuped=CupedSource.INGESTED),
    "cuped_pre_period": _plan(_metric(MetricType.SUM), cuped=CupedSource.PRE_PERIOD),
    "cuped_pre_no_window": _plan(
        _metric(MetricType.COUNT, window_hours=None), cuped=CupedSource.PRE_PERIOD
    ),
    "cuped_pre_binary": _plan(_metric(MetricType.BINARY), cuped=CupedSource.PRE_PERIOD),
    "cuped_pre_ratio": _plan(_metric(MetricType.RATIO), cuped=CupedSource.PRE_PERIOD),
    "cuped_pre_mean": _plan(_metric(MetricType.MEAN), cuped=CupedSource.PRE_PERIOD),
    "cuped_auto_ratio": _plan(_metric(MetricType.RATIO), cuped=CupedSource.AUTO),
    "cuped_ingested_ratio": _plan(_metric(MetricType.RATIO), cuped=CupedSource.INGESTED),
    "cuped_auto": _plan(_metric(MetricType.SUM), cuped=CupedSource.AUTO),
    "by_stratum": _plan(_metric(MetricType.SUM), group_by=GroupBy.STRATUM),
    "by_segment": _plan(
        _metric(MetricType.COUNT), group_by=GroupBy.ATTRIBUTE, attribute_key="country"
    ),
    "by_day_cuped": _plan(
        _metric(MetricType.SUM), group_by=GroupBy.DAY, cuped=CupedSource.PRE_PERIOD
    ),
    "by_day_and_stratum": _plan(
        _metric(MetricType.SUM), group_by=GroupBy.DAY, by_stratum=True, cuped=CupedSource.AUTO
    ),
    "by_stratum_only": _plan(_metric(MetricType.BINARY), by_stratum=True),
    "by_day_and_stratum_ratio": _plan(
        _metric(MetricType.RATIO),
        group_by=GroupBy.DAY,
        by_stratum=True,
        cuped=CupedSource.PRE_PERIOD,
    ),
    "bots_fixed": _plan(
        _metric(MetricType.COUNT), rules=UnitRules(bot_rule=BotRule(max_events=100))
    ),
    "bots_p99": _plan(
        _metric(MetricType.COUNT), rules=UnitRules(bot_rule=BotRule(p99_multiple=1.0))
    ),
    "default_rules": _plan(_metric(MetricType.SUM), rules=UnitRules()),
    "no_exclusions_no_holdout": _plan(
        _metric(MetricType.SUM),
        rules=UnitRules(bot_rule=None, apply_exclusions=False, include_holdout=False),
    ),
}


def _shared_groups() -> dict[str, tuple[AnalysisPlan, ...]]:
    """The cases that share units and grouping, as one MetricsPlan each (2+ metrics)."""
    groups: dict[tuple[object, ...], list[tuple[str, AnalysisPlan]]] = {}
    for name, plan in CASES.items():
        key = (plan.rules, plan.group_by, plan.attribute_key, plan.by_stratum)
        groups.setdefault(key, []).append((name, plan))
    return {
        "+".join(name for name, _ in members): tuple(plan for _, plan in members)
        for members in groups.values()
        if len(members) > 1
    }


P99_BOTS = UnitRules(bot_rule=BotRule(p99_multiple=1.0))
SHARED = _shared_groups() | {
    "bots_p99_mixed": tuple(
        _plan(_metric(kind), rules=P99_BOTS, cuped=CupedSource.AUTO)
        for kind in (MetricType.SUM, MetricType.RATIO, MetricType.BINARY)
    ),
    "by_day_mixed": (
        _plan(_metric(MetricType.COUNT), group_by=GroupBy.DAY, cuped=CupedSource.PRE_PERIOD),
        _plan(_metric(MetricType.MEAN, value_property="amount"), group_by=GroupBy.DAY),
        _plan(
            _metric(MetricType.SUM, winsorize_percentile=80.0),
            group_by=GroupBy.DAY,
            cuped=CupedSource.INGESTED,
        ),
    ),
}


@pytest.fixture(scope="module", params=BACKENDS)
def loaded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EventStore]:
    with fresh_store(str(request.param), tmp_path_factory.mktemp("ev")) as store:
        store.append(batch(EVENTS))
        yield store


def as_mapping(rows: list[tuple[object, ...]], plan: AnalysisPlan) -> dict[Key, tuple[object, ...]]:
    width = 1 + (plan.group_by is not GroupBy.NONE) + plan.by_stratum
    return {tuple(r[:width]): tuple(r[width:]) for r in rows}


def assert_stats_equal(
    actual: dict[Key, tuple[object, ...]], expected: dict[Key, tuple[object, ...]]
) -> None:
    assert set(actual) == set(expected)
    for key, stats in expected.items():
        got = actual[key]
        assert got[0] == stats[0], key  # n, exact
        assert [v is None for v in got] == [v is None for v in stats], key
        present = [(g, s) for g, s in zip(got[1:], stats[1:], strict=True) if s is not None]
        assert [g for g, _ in present] == pytest.approx([s for _, s in present], rel=1e-12), key


@pytest.mark.parametrize("case", list(CASES))
def test_metric_query__case__matches_numpy_reference(loaded: EventStore, case: str) -> None:
    plan = CASES[case]

    rows = loaded.query(plan)

    expected = reference_stats(EVENTS, plan)
    assert_stats_equal(as_mapping(rows, plan), expected)


@pytest.mark.parametrize("group", list(SHARED), ids=lambda g: g[:60])
def test_metrics_query__shared_scan__each_metric_matches_numpy_reference(
    loaded: EventStore, group: str
) -> None:
    plans = SHARED[group]
    shared = MetricsPlan(plans)

    rows = loaded.query(shared)

    own_rows = shared.split(rows)
    assert len(own_rows) == len(plans)
    for plan, own in zip(plans, own_rows, strict=True):
        assert_stats_equal(as_mapping(own, plan), reference_stats(EVENTS, plan))


def test_metrics_plan__different_grouping__rejected() -> None:
    by_day = _plan(_metric(MetricType.SUM), group_by=GroupBy.DAY)

    with pytest.raises(ValueError, match="share scope, rules and grouping"):
        MetricsPlan((CASES["type_sum"], by_day))


def test_metric_query__scenario__exercises_every_rule(loaded: EventStore) -> None:
    # Guards the reference cases above against a scenario that tests nothing.
    units, multi = assigned(EVENTS, SCOPE.experiment, NO_BOTS)
    analysed = analysed_units(EVENTS, SCOPE.experiment, NO_BOTS)
    assert multi == {"u1"}
    assert {"u2", "u3"} <= set(units) - set(analysed)
    assert "__holdout__" in {u.variant for u in units.values()}
    assert bots(EVENTS, set(units), UnitRules(bot_rule=BotRule(max_events=100))) == {"u4"}
    assert len(loaded.query(CASES["by_day_cuped"])) >= 8


@pytest.mark.parametrize("group_by", [GroupBy.NONE, GroupBy.DAY, GroupBy.ATTRIBUTE])
def test_srm_query__grouping__counts_analysed_units(loaded: EventStore, group_by: GroupBy) -> None:
    plan = SrmPlan(scope=SCOPE, group_by=group_by, attribute_key="country", rules=NO_BOTS)

    rows = loaded.query(plan)

    units = analysed_units(EVENTS, SCOPE.experiment, NO_BOTS)
    expected: dict[Key, int] = {}
    for unit in units.values():
        group = {
            GroupBy.NONE: (),
            GroupBy.DAY: (unit.first_us // 86_400_000_000,),
            GroupBy.ATTRIBUTE: (unit.attributes.get("country"),),
        }[group_by]
        key = (unit.variant, *group)
        expected[key] = expected.get(key, 0) + 1
    assert {tuple(r[:-1]): r[-1] for r in rows} == expected


def test_health_query__scenario__counts_each_rule(loaded: EventStore) -> None:
    rules = UnitRules(bot_rule=BotRule(max_events=100))

    rows = loaded.query(HealthPlan(scope=SCOPE, rules=rules))

    units, multi = assigned(EVENTS, SCOPE.experiment, rules)
    analysed = analysed_units(EVENTS, SCOPE.experiment, rules)
    assert rows == [(len(units) + len(multi), 1, 2, 1, len(analysed))]


def _bootstrap(replicates: int) -> BootstrapPlan:
    return BootstrapPlan(
        scope=SCOPE, metric=_metric(MetricType.SUM), variants=("control", "treatment"),
        rules=NO_BOTS, replicates=replicates,
    )  # fmt: skip


@pytest.mark.parametrize("replicates", [7, 500])
def test_bootstrap_query__each_replicate_once(loaded: EventStore, replicates: int) -> None:
    """Every replicate 0 .. n - 1 has its row per variant, once."""
    rows = loaded.query(_bootstrap(replicates))

    numbered = [(str(variant), int(str(b))) for variant, b, *_ in rows]
    assert sorted(numbered) == [(v, b) for v in ("control", "treatment") for b in range(replicates)]


@pytest.mark.parametrize("dialect", sorted(DIALECTS))
def test_bootstrap_sql__does_not_grow_with_the_replicates(dialect: str) -> None:
    """A UNION ALL per replicate nested n deep, which took sqlglot seconds to render at 500;
    the numbers now come from a fixed digits table, one join per decimal place."""
    assert len(_bootstrap(999).to_sql(dialect)) == len(_bootstrap(200).to_sql(dialect))
