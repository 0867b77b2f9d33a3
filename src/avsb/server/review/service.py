"""The review of a draft or of a stored experiment, and hypothesis suggestions.

A stored experiment's design is read in its own short read transaction, so the optional
language-model call (up to ``AVSB_LLM_TIMEOUT_SECONDS``) holds no database connection.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy.orm import Session

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.errors import field_error
from avsb.server.experiments import repository as experiment_repository
from avsb.server.experiments import service as experiment_service
from avsb.server.models import Experiment, Metric
from avsb.server.review import hypotheses, llm, rules
from avsb.server.review.schemas import (
    DraftDesign,
    ExperimentReviewBody,
    FindingOut,
    HypothesesOut,
    HypothesesRequest,
    LlmOut,
    ReviewOut,
    SuggestionOut,
    SummaryOut,
)

LIVE = ("running", "paused")
_ROLES: tuple[rules.Role, ...] = ("primary", "secondary", "guardrail")


def draft_design(body: DraftDesign) -> rules.Design:
    """The rules' view of a draft body."""
    a = body.analysis
    return rules.Design(
        hypothesis=body.hypothesis,
        variants=tuple(rules.VariantPlan(v.key, v.weight, dict(v.params)) for v in body.variants),
        metrics=tuple(
            rules.MetricPlan(
                key=m.key,
                role=m.role,
                metric_type=m.type,
                path=f"metrics.{i}",
                name=m.name,
                lower_is_better=m.lower_is_better,
                baseline_value=m.baseline_value,
                std_dev=m.std_dev,
                expected_direction=m.expected_direction,
            )
            for i, m in enumerate(body.metrics)
        ),
        analysis=rules.AnalysisPlan(
            method=a.method,
            stopping_rule=a.stopping_rule or "fixed_horizon",
            alpha=a.alpha,
            power=a.power,
            two_sided=a.two_sided,
            mde_pct=a.mde_pct,
            planned_sample_size=a.planned_sample_size,
            planned_looks=a.planned_looks,
        ),
        traffic_percent=body.traffic_percent,
        expected_daily_units=body.expected_daily_units,
        planned_duration_days=body.planned_duration_days,
        exclusion_group_id=body.exclusion_group_id,
        audience_id=body.audience_id,
        running=tuple(
            rules.Neighbour(
                key=n.key,
                exclusion_group_id=n.exclusion_group_id,
                audience_id=n.audience_id,
                traffic_percent=n.traffic_percent,
                param_keys=frozenset(n.params),
                path=f"running_experiments.{i}",
            )
            for i, n in enumerate(body.running_experiments)
        ),
    )


def stored_design(
    session: Session, org_id: str, experiment_id: str, body: ExperimentReviewBody
) -> rules.Design:
    """The rules' view of a stored experiment, its metrics and the live experiments beside it."""
    experiment = experiment_service.get(session, org_id, experiment_id)
    metrics = _metric_plans(session, experiment, body)
    a = experiment.analysis
    return rules.Design(
        hypothesis=experiment.hypothesis,
        variants=tuple(
            rules.VariantPlan(v["key"], float(v["weight"]), dict(v["params"]))
            for v in experiment.variants
        ),
        metrics=metrics,
        analysis=rules.AnalysisPlan(
            method=a["method"],
            stopping_rule=a.get("stopping_rule") or "fixed_horizon",
            alpha=a["alpha"],
            power=a["power"],
            two_sided=a.get("two_sided", True),
            mde_pct=a.get("mde_pct"),
            planned_sample_size=a.get("planned_sample_size"),
            planned_looks=body.planned_looks,
        ),
        traffic_percent=experiment.traffic_percent,
        expected_daily_units=body.expected_daily_units,
        planned_duration_days=body.planned_duration_days,
        exclusion_group_id=experiment.exclusion_group_id,
        audience_id=experiment.audience_id,
        running=_neighbours(session, experiment),
    )


def _metric_plans(
    session: Session, experiment: Experiment, body: ExperimentReviewBody
) -> tuple[rules.MetricPlan, ...]:
    plans: list[rules.MetricPlan] = []
    listed = {mid for role in _ROLES for mid in experiment.metrics.get(role, [])}
    for metric_id in body.baselines:
        if metric_id not in listed:
            raise field_error(f"baselines.{metric_id}", "Not a metric of this experiment.")
    for role in _ROLES:
        for i, metric_id in enumerate(experiment.metrics.get(role, [])):
            metric = session.get(Metric, metric_id)
            if metric is None:
                continue  # deleting a metric in use is refused; nothing to review if it raced
            baseline = body.baselines.get(metric_id)
            if baseline is not None and metric.type == "binary":
                if not 0 < baseline.baseline_value < 1:
                    raise field_error(
                        f"baselines.{metric_id}.baseline_value",
                        "The baseline of a binary metric is a rate in (0, 1).",
                    )
            elif baseline is not None and baseline.baseline_value <= 0:
                raise field_error(
                    f"baselines.{metric_id}.baseline_value",
                    "The baseline must be > 0: the effect is relative to it.",
                )
            plans.append(
                rules.MetricPlan(
                    key=metric.key,
                    role=role,
                    metric_type=metric.type,
                    path=f"metrics.{role}.{i}",
                    name=metric.name,
                    lower_is_better=metric.lower_is_better,
                    baseline_value=None if baseline is None else baseline.baseline_value,
                    std_dev=None if baseline is None else baseline.std_dev,
                    expected_direction=body.expected_direction if role == "primary" else None,
                )
            )
    return tuple(plans)


def _neighbours(session: Session, experiment: Experiment) -> tuple[rules.Neighbour, ...]:
    live = experiment_repository.in_project(session, experiment.project_id, LIVE)
    return tuple(
        rules.Neighbour(
            key=other.key,
            exclusion_group_id=other.exclusion_group_id,
            audience_id=other.audience_id,
            traffic_percent=other.traffic_percent,
            param_keys=frozenset(k for v in other.variants for k in v["params"]),
            path=other.id,
            id=other.id,
        )
        for other in live
        if other.id != experiment.id
    )


def review_stored(
    db: Database, org_id: str, experiment_id: str, body: ExperimentReviewBody
) -> rules.Design:
    """Read the stored design in one read transaction (for a thread, not the event loop)."""
    with contextlib.closing(db.session(write=False)) as session:
        return stored_design(session, org_id, experiment_id, body)


async def answer_review(
    settings: Settings, design: rules.Design, *, use_llm: bool, experiment_id: str | None = None
) -> ReviewOut:
    """The rule-based review, plus the language model's notes when one is configured."""
    result = rules.review(design)
    findings = [
        FindingOut(
            code=f.code, severity=f.severity, message=f.message, field=f.field,
            details=dict(f.details),
        )
        for f in result.findings
    ]  # fmt: skip
    counts = result.counts
    summary = SummaryOut(
        status=result.status,
        errors=counts["error"],
        warnings=counts["warning"],
        infos=counts["info"],
    )
    config = llm.config_of(settings) if use_llm else None
    notes = None
    if config is not None:
        payload = {
            "design": design_payload(design),
            "findings": [f.model_dump() for f in findings],
        }
        notes = LlmOut(**await llm.advise(config, llm.REVIEW_PROMPT, payload))
    return ReviewOut(experiment_id=experiment_id, summary=summary, findings=findings, llm=notes)


async def suggest(settings: Settings, body: HypothesesRequest) -> HypothesesOut:
    """Template suggestions for the goal, plus the language model's when one is configured."""
    found = hypotheses.suggest(body.goal, body.context, body.metric, body.count)
    suggestions = [
        SuggestionOut(
            hypothesis=s.hypothesis, change=s.change, metric=s.metric, direction=s.direction,
            reason=s.reason, primary_metric=s.primary_metric, lower_is_better=s.lower_is_better,
            guardrail_metrics=list(s.guardrail_metrics),
        )
        for s in found
    ]  # fmt: skip
    config = llm.config_of(settings) if body.use_llm else None
    notes = None
    if config is not None:
        payload = {
            "goal": body.goal,
            "context": body.context,
            "metric": body.metric,
            "suggestions": [s.hypothesis for s in suggestions],
        }
        notes = LlmOut(**await llm.advise(config, llm.HYPOTHESES_PROMPT, payload))
    return HypothesesOut(goal=body.goal, suggestions=suggestions, llm=notes)


def design_payload(design: rules.Design) -> dict[str, Any]:
    """The design as plain JSON, for the language model."""
    return {
        "hypothesis": design.hypothesis,
        "variants": [
            {"key": v.key, "weight": v.weight, "params": dict(v.params)} for v in design.variants
        ],
        "metrics": [
            {
                "key": m.key, "name": m.name, "role": m.role, "type": m.metric_type,
                "lower_is_better": m.lower_is_better, "baseline_value": m.baseline_value,
                "std_dev": m.std_dev,
            }
            for m in design.metrics
        ],
        "analysis": {
            "method": design.analysis.method, "stopping_rule": design.analysis.stopping_rule,
            "alpha": design.analysis.alpha, "power": design.analysis.power,
            "two_sided": design.analysis.two_sided, "mde_pct": design.analysis.mde_pct,
            "planned_sample_size": design.analysis.planned_sample_size,
            "planned_looks": design.analysis.planned_looks,
        },
        "traffic_percent": design.traffic_percent,
        "expected_daily_units": design.expected_daily_units,
        "planned_duration_days": design.planned_duration_days,
        "running_experiments": len(design.running),
    }  # fmt: skip
