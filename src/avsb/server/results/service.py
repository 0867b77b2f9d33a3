"""Results of an experiment: read its design, aggregate in the event store, analyse with
``avsb.stats``, keep a snapshot as history and announce state changes by webhook.

Every call that touches the event store blocks for as long as the queries run: endpoints
call these from worker threads, never from the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy.orm import Session

from avsb.server.analysis import (
    AnalysisPlan,
    BotRule,
    BotsPlan,
    CupedSource,
    ExperimentScope,
    GroupBy,
    HealthPlan,
    MetricsPlan,
    SrmPlan,
    UnitFilter,
    UnitRules,
)
from avsb.server.config import Settings
from avsb.server.events import HOLDOUT_VARIANT, EventStore
from avsb.server.experiments import plans
from avsb.server.experiments import service as experiment_service
from avsb.server.ingestion import repository as ingestion_repository
from avsb.server.metrics import repository as metric_repository
from avsb.server.models import Metric
from avsb.server.results import health, kinds, progress, readout, schemas, segments
from avsb.server.results.readout import (
    AnalysisSettings,
    Covariate,
    DailyStats,
    MetricSpec,
    Readout,
)
from avsb.server.results.repository import experiment_inputs_sql, late_events_sql
from avsb.stats import Decision, DecisionInput, MetricResult, Reason, StoppingRule, decide

_ROLES: tuple[readout.Role, ...] = ("primary", "secondary", "guardrail")
MAX_DIAGNOSED_KEYS = 10
MAX_KNOWN_BOTS = 10_000


@dataclass(frozen=True, slots=True)
class Design:
    """What one experiment's results are computed from, read from the metadata."""

    scope: ExperimentScope
    experiment_id: str
    variants: tuple[str, ...]  # control first
    weights: tuple[float, ...]
    settings: AnalysisSettings
    metrics: tuple[MetricSpec, ...]
    segment: str | None
    unit_filter: UnitFilter | None
    attribute_keys: tuple[str, ...]


def _analysis_settings(pinned: dict[str, Any]) -> AnalysisSettings:
    defaults = AnalysisSettings()
    names: tuple[str, ...] = (
        "method",
        "alpha",
        "two_sided",
        "cuped",
        "correction",
        "stopping_rule",
    )
    names += ("power", "mde_pct")
    values = {name: pinned[name] for name in names if pinned.get(name) is not None}
    if values.get("stopping_rule") is None:
        values["stopping_rule"] = (
            "sequential" if values.get("method") == "sequential" else defaults.stopping_rule
        )
    return AnalysisSettings(**values, planned_per_variant=pinned.get("planned_sample_size"))


def _spec(metric: Metric, role: readout.Role) -> MetricSpec:
    return MetricSpec(metric.id, metric.key, metric.name, role, segments.definition_of(metric))


def load_design(session: Session, org_id: str, experiment_id: str, segment: str | None) -> Design:
    """The experiment, its pinned plan (or its current design when still a draft), its
    metrics by role and the slice asked for."""
    experiment = experiment_service.get(session, org_id, experiment_id)
    plan = plans.current(session, experiment)
    pinned = plan.plan if plan is not None else plans.build(experiment)
    roles: dict[str, list[str]] = pinned.get("metrics") or {}
    found = metric_repository.get_many(session, {i for ids in roles.values() for i in ids})
    specs = tuple(
        _spec(found[metric_id], role)
        for role in _ROLES
        for metric_id in roles.get(role, [])
        if metric_id in found
    )
    scope = ExperimentScope(
        org_id=org_id, project_id=experiment.project_id, experiment=experiment.key
    )
    return Design(
        scope=scope,
        experiment_id=experiment.id,
        variants=tuple(str(v["key"]) for v in experiment.variants),
        weights=tuple(float(v["weight"]) for v in experiment.variants),
        settings=_analysis_settings(pinned),
        metrics=specs,
        segment=segment,
        unit_filter=segments.unit_filter(session, experiment, segment),
        attribute_keys=tuple(
            ingestion_repository.attribute_keys(session, experiment.project_id, experiment.key)
        ),
    )


def metric_names(session: Session, pinned: dict[str, Any]) -> dict[str, str]:
    """The names of a plan's metrics by id: the metrics ``load_design`` analyses (those of
    the known roles that still exist), in one query, for a page that only names them."""
    roles: dict[str, list[str]] = pinned.get("metrics") or {}
    ids = {metric_id for role in _ROLES for metric_id in roles.get(role, [])}
    return metric_repository.names(session, ids)


def unit_rules(store: EventStore, design: Design, config: Settings) -> UnitRules:
    """The read-time rules: exclusions, the bot rule, the slice. The bots are found once
    (``BotsPlan``) and handed to every later query instead of each one finding them again;
    past ``MAX_KNOWN_BOTS`` each query applies the rule itself."""
    if config.bot_p99_multiple is None and config.bot_max_events is None:
        return UnitRules(bot_rule=None, unit_filter=design.unit_filter)
    rule = BotRule(p99_multiple=config.bot_p99_multiple, max_events=config.bot_max_events)
    rules = UnitRules(bot_rule=rule, unit_filter=design.unit_filter)
    bots = store.query(BotsPlan(scope=design.scope, rules=rules, limit=MAX_KNOWN_BOTS + 1))
    if len(bots) > MAX_KNOWN_BOTS:
        return rules
    return replace(rules, bot_units=tuple(str(row[0]) for row in bots))


@dataclass(frozen=True, slots=True)
class Inputs:
    """Whether the experiment has ingested covariates and strata."""

    covariates: bool
    strata: bool


def experiment_inputs(store: EventStore, design: Design) -> Inputs:
    ((covariates, strata),) = store.query(experiment_inputs_sql(design.scope, store.dialect))
    return Inputs(covariates=bool(covariates), strata=bool(strata))


def _covariate(spec: MetricSpec, settings: AnalysisSettings, inputs: Inputs) -> Covariate | None:
    """The CUPED covariate: ingested when the experiment has any, else the metric's own
    pre-period; ratio and mean metrics always use their pre-period numerator and denominator."""
    if not settings.cuped:
        return None
    if inputs.covariates and readout.stats_kind(spec.definition) != "ratio":
        return "ingested"
    return "pre_period"


_SOURCES: dict[Covariate | None, CupedSource] = {
    None: CupedSource.NONE,
    "ingested": CupedSource.INGESTED,
    "pre_period": CupedSource.PRE_PERIOD,
}


def daily_stats(
    store: EventStore, design: Design, rules: UnitRules, inputs: Inputs
) -> dict[str, DailyStats]:
    """Per metric, its sufficient statistics by variant, first-exposure day and stratum (when
    the experiment has strata): one query for all of them (one scan of the events)."""
    if not design.metrics:
        return {}
    covariates = [_covariate(spec, design.settings, inputs) for spec in design.metrics]
    shared = MetricsPlan(
        tuple(
            AnalysisPlan(
                scope=design.scope,
                metric=spec.definition,
                group_by=GroupBy.DAY,
                cuped=_SOURCES[covariate],
                rules=rules,
                by_stratum=inputs.strata,
            )
            for spec, covariate in zip(design.metrics, covariates, strict=True)
        )
    )
    per_metric = shared.split(store.query(shared))
    return {
        spec.id: DailyStats.from_rows(rows, inputs.strata, covariate)
        for spec, rows, covariate in zip(design.metrics, per_metric, covariates, strict=True)
    }


def _units_by_day(
    store: EventStore, design: Design, rules: UnitRules, stats: dict[str, DailyStats]
) -> dict[str, dict[int, int]]:
    """Analysed units per variant and day: from any metric's rows, else one SRM query."""
    if stats:
        first = next(iter(stats.values()))
        return {key: first.units(key) for key in (*design.variants, HOLDOUT_VARIANT)}
    rows = store.query(SrmPlan(scope=design.scope, group_by=GroupBy.DAY, rules=rules))
    found: dict[str, dict[int, int]] = {}
    for variant, day, n in rows:
        found.setdefault(str(variant), {})[cast(int, day)] = cast(int, n)
    return found


def _diagnosis(
    store: EventStore, design: Design, rules: UnitRules, by_day: dict[str, dict[int, int]]
) -> schemas.SrmDiagnosis:
    """Where a mismatch comes from: the days and attribute values most out of line."""
    days = sorted({day for key in design.variants for day in by_day.get(key, {})})
    day_groups = {
        readout.day_of(day).isoformat(): [
            by_day.get(key, {}).get(day, 0) for key in design.variants
        ]
        for day in days
    }
    by_attribute = {}
    for key in design.attribute_keys[:MAX_DIAGNOSED_KEYS]:
        plan = SrmPlan(
            scope=design.scope, group_by=GroupBy.ATTRIBUTE, attribute_key=key, rules=rules
        )
        groups: dict[str, list[int]] = {}
        for variant, value, n in store.query(plan):
            if str(variant) in design.variants:
                counts = groups.setdefault(
                    "(missing)" if value is None else str(value), [0] * len(design.variants)
                )
                counts[design.variants.index(str(variant))] = cast(int, n)
        by_attribute[key] = health.worst_cells(groups, design.weights)
    return schemas.SrmDiagnosis(
        by_day=health.worst_cells(day_groups, design.weights), by_attribute=by_attribute
    )


def _unit_counts(
    store: EventStore, design: Design, rules: UnitRules, config: Settings
) -> health.UnitCounts:
    (row,) = store.query(HealthPlan(scope=design.scope, rules=rules))
    names = [spec.definition.event_name for spec in design.metrics]
    names += [s.definition.denominator_event_name or "" for s in design.metrics]
    late_sql = late_events_sql(
        design.scope, [n for n in names if n], config.late_event_hours, store.dialect
    )
    ((events, late),) = store.query(late_sql)
    assigned, multiple, excluded, bots, analysed = (cast(int, v or 0) for v in row)
    return health.UnitCounts(
        assigned=int(assigned),
        multiple_variants=int(multiple),
        excluded=int(excluded),
        bots=int(bots),
        analysed=int(analysed),
        events=int(cast(int, events or 0)),
        late_events=int(cast(int, late or 0)),
    )


@dataclass(frozen=True, slots=True)
class Computed:
    """A results answer and what the decision readout needs besides it."""

    out: schemas.ResultsOut
    readouts: tuple[Readout, ...]
    srm: health.Srm
    design: Design
    power: dict[str, list[schemas.PowerOut]]  # primary metrics' power so far, by metric id


def _readouts(design: Design, stats: dict[str, DailyStats], extra: kinds.Extra) -> list[Readout]:
    """Every metric analysed; primary and secondary metrics corrected as two families."""
    prepared = [
        kinds.refine(
            readout.prepare(
                spec,
                kinds.arms(spec, stats[spec.id], design.variants),
                kinds.options(spec, readout.options_for(spec, design.settings, design.weights)),
                None if kinds.own_analysis(spec.definition) else stats[spec.id].covariate,
            ),
            extra,
            design.variants,
        )
        for spec in design.metrics
    ]
    corrected: list[Readout] = []
    for role in _ROLES:
        members = [r for r in prepared if r.spec.role == role]
        if role == "guardrail":
            corrected += members
        else:
            corrected += kinds.correct_family(members, role, design.settings)
    return corrected


def _holdout(
    design: Design, stats: dict[str, DailyStats], readouts: list[Readout], units: int
) -> schemas.HoldoutOut | None:
    if units == 0:
        return None
    metrics = [readout.holdout_out(r, stats[r.spec.id], design.variants) for r in readouts]
    return schemas.HoldoutOut(units=units, metrics=metrics)


def _target(settings: AnalysisSettings) -> progress.Target:
    return progress.Target(
        alpha=settings.alpha,
        power=settings.power,
        two_sided=settings.two_sided,
        mde_pct=settings.mde_pct,
        planned_per_variant=settings.planned_per_variant,
    )


def _power(
    design: Design, readouts: list[Readout], by_day: dict[str, dict[int, int]]
) -> dict[str, list[schemas.PowerOut]]:
    """Power so far of every primary metric, keyed by metric id."""
    days = sorted({day for key in design.variants for day in by_day.get(key, {})})
    units = sum(sum(by_day.get(key, {}).values()) for key in design.variants)
    per_day = progress.daily_units(units, days)
    target = _target(design.settings)
    return {
        r.spec.id: progress.power_so_far(r, design.variants, target, per_day)
        for r in readouts
        if r.spec.role == "primary"
    }


def compute(store: EventStore, design: Design, config: Settings) -> Computed:
    """The whole results answer: a few aggregation queries, then statistics on their rows."""
    rules = unit_rules(store, design, config)
    stats = daily_stats(store, design, rules, experiment_inputs(store, design))
    by_day = _units_by_day(store, design, rules, stats)
    counts = [sum(by_day.get(key, {}).values()) for key in design.variants]
    found_srm = health.srm(counts, design.weights, design.settings.method)
    diagnosis = _diagnosis(store, design, rules, by_day) if found_srm.out.srm_detected else None
    extra = kinds.query(
        store, kinds.Scope(design.scope, design.variants, rules, design.settings), design.metrics
    )
    readouts = _readouts(design, stats, extra)
    powers = _power(design, readouts, by_day)
    unit_counts = _unit_counts(store, design, rules, config)
    out = schemas.ResultsOut(
        experiment_id=design.experiment_id,
        experiment_key=design.scope.experiment,
        computed_at=datetime.now(UTC),
        segment=design.segment,
        method=design.settings.method,
        alpha=design.settings.alpha,
        sequential_tuning_parameter=design.settings.tuning_parameter
        if design.settings.method == "sequential"
        else None,
        srm=found_srm.out,
        metrics=[
            kinds.present(readout.metric_out(r, design.variants, powers.get(r.spec.id)), extra)
            for r in readouts
        ],
        holdout=_holdout(
            design,
            stats,
            [r for r in readouts if kinds.has_mean_series(r.spec.definition)],
            sum(by_day.get(HOLDOUT_VARIANT, {}).values()),
        ),
        health=health.health(
            unit_counts, health.srm_check(found_srm, diagnosis), config.late_event_hours
        ),
    )
    computed = Computed(out, tuple(readouts), found_srm, design, powers)
    if design.segment is not None:
        return computed
    readout_out = decision_out(decision(computed), out.computed_at)
    return replace(computed, out=out.model_copy(update={"decision": readout_out}))


def decision_out(found: Decision, computed_at: datetime) -> schemas.DecisionOut:
    reasons = [
        schemas.ReasonOut(code=r.code, message=r.message, metric=r.metric, variant=r.variant)
        for r in found.reasons
    ]
    return schemas.DecisionOut(
        decision=found.decision, variant=found.variant, reasons=reasons, computed_at=computed_at
    )


def timeseries(store: EventStore, design: Design, config: Settings) -> schemas.TimeseriesOut:
    """Per metric, the cumulative estimate and interval at the end of each exposure day."""
    rules = unit_rules(store, design, config)
    stats = daily_stats(store, design, rules, experiment_inputs(store, design))
    out = []
    for spec in design.metrics:
        options = kinds.options(spec, readout.options_for(spec, design.settings, design.weights))
        points = (
            readout.series(spec, options, stats[spec.id], design.variants)
            if kinds.has_mean_series(spec.definition)
            else []
        )
        out.append(
            schemas.MetricSeries(metric_id=spec.id, key=spec.key, role=spec.role, points=points)
        )
    return schemas.TimeseriesOut(
        experiment_id=design.experiment_id,
        computed_at=datetime.now(UTC),
        segment=design.segment,
        metrics=out,
    )


def _metric_result(r: Readout) -> MetricResult | None:
    if r.analysis is None:
        return None
    lower = r.spec.definition.lower_is_better
    return MetricResult(r.spec.key, r.analysis.comparisons, lower_is_better=lower)


def decision(computed: Computed) -> Decision:
    """The ship / no_ship / keep_running readout of ``avsb.stats.decide``."""
    design = computed.design
    primary = next((r for r in computed.readouts if r.spec.role == "primary"), None)
    if primary is None:
        reason = Reason("no_primary_metric", "The experiment has no primary metric to decide on.")
        return Decision("keep_running", None, (reason,))
    result = _metric_result(primary)
    if result is None or computed.srm.result is None:
        message = primary.error.message if primary.error else "No units analysed yet."
        return Decision(
            "keep_running", None, (Reason("insufficient_data", message, primary.spec.key),)
        )
    settings = design.settings
    planned = settings.planned_per_variant
    stopping = StoppingRule(
        kind=settings.stopping_rule,
        planned_sample_size=None if planned is None else planned * len(design.variants),
        current_sample_size=sum(computed.srm.out.observed),
    )
    guardrails = tuple(
        found
        for r in computed.readouts
        if r.spec.role == "guardrail" and (found := _metric_result(r)) is not None
    )
    verdict = decide(
        DecisionInput(design.variants, result, computed.srm.result, stopping, guardrails)
    )
    if verdict.decision != "keep_running":
        return verdict
    return replace(verdict, reasons=(*verdict.reasons, *_power_reasons(computed, primary)))


def _power_reasons(computed: Computed, primary: Readout) -> tuple[Reason, ...]:
    """Why keep running, in numbers: each comparison of the first primary metric still short
    of the plan's power, with its power so far and the days it still needs."""
    return tuple(
        Reason("underpowered", found.message, primary.spec.key, found.variant)
        for found in computed.power.get(primary.spec.id, [])
        if found.power is not None and found.power < found.target_power
    )
