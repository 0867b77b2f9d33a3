"""Reports from results snapshots: build the report model, render it, record the export.

An experiment's section is built from the results answer that was just computed and kept
as a snapshot (the same answer ``GET .../results`` gives for the same data), so a report's
numbers are the results API's numbers; the snapshot id is printed in the report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.errors import BadRequest
from avsb.server.events import EventStore
from avsb.server.experiments import service as experiment_service
from avsb.server.kit import audit
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.metrics import repository as metric_repository
from avsb.server.models import Experiment, Project, ReportExport, ResultsSnapshot
from avsb.server.projects import service as project_service
from avsb.server.reports import render_binary, render_text
from avsb.server.reports.model import (
    CategoricalSection,
    CategoryRow,
    ComparisonSection,
    Decision,
    Difference,
    ExperimentSection,
    Kind,
    MetricSection,
    Report,
    SharedResult,
    TrafficRow,
    VariantDesign,
    VariantRow,
    number,
)
from avsb.server.results import repository as results_repository
from avsb.server.results import schemas as results_schemas
from avsb.server.results import service as results_service
from avsb.server.results import snapshots
from avsb.stats import Decision as StatsDecision

Format = Literal["html", "md", "csv", "xlsx", "pdf", "json"]
MEDIA_TYPES: dict[str, str] = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "json": "application/json",
}
MAX_COMPARED = 20
_ROLES = ("primary", "secondary", "guardrail")


@dataclass(frozen=True, slots=True)
class Loaded:
    """What an experiment's section needs from the metadata, read before computing."""

    experiment_id: str
    key: str
    name: str
    project_id: str
    project_name: str
    status: str
    hypothesis: str
    variants: tuple[VariantDesign, ...]
    design: tuple[tuple[str, str], ...]
    design_fields: dict[str, str]
    results: results_service.Design


def _metric_names(session: Session, metrics: dict[str, list[str]]) -> dict[str, str]:
    found = metric_repository.get_many(session, {i for ids in metrics.values() for i in ids})
    return {metric_id: f"{m.key} ({m.name})" for metric_id, m in found.items()}


def _load(session: Session, experiment: Experiment, project: Project) -> Loaded:
    names = _metric_names(session, experiment.metrics or {})
    design = results_service.load_design(session, experiment.org_id, experiment.id, None)
    settings = design.settings
    fields = {
        "project": f"{project.name} ({project.key})",
        "traffic percent": number(float(experiment.traffic_percent)),
        "audience": experiment.audience_id or "all units",
        "exclusion group": experiment.exclusion_group_id or "none",
        "variants": ", ".join(
            f"{v['key']}:{number(float(v['weight']))}" for v in experiment.variants
        ),
        **{
            f"{role} metrics": ", ".join(
                names.get(i, i) for i in (experiment.metrics or {}).get(role, [])
            )
            or "none"
            for role in _ROLES
        },
        "method": settings.method,
        "alpha": number(settings.alpha),
        "two sided": "yes" if settings.two_sided else "no",
        "power": number(settings.power),
        "mde percent": number(settings.mde_pct),
        "planned units per variant": number(settings.planned_per_variant),
        "cuped": "yes" if settings.cuped else "no",
        "correction": settings.correction,
        "stopping rule": settings.stopping_rule,
        "hypothesis": experiment.hypothesis or "",
    }
    design_labels = ("traffic percent", "audience", "exclusion group",
                     *(f"{role} metrics" for role in _ROLES))  # fmt: skip
    variants = tuple(
        VariantDesign(
            str(v["key"]), float(v["weight"]), json.dumps(v.get("params") or {}, sort_keys=True)
        )
        for v in experiment.variants
    )
    return Loaded(
        experiment_id=experiment.id,
        key=experiment.key,
        name=experiment.name,
        project_id=project.id,
        project_name=project.name,
        status=experiment.status,
        hypothesis=experiment.hypothesis or "",
        variants=variants,
        design=tuple((label, fields[label]) for label in design_labels),
        design_fields=fields,
        results=design,
    )


_PLAN_LABELS = ("method", "alpha", "two sided", "power", "mde percent",
                "planned units per variant", "cuped", "correction", "stopping rule")  # fmt: skip


def load_experiment(session: Session, org_id: str, experiment_id: str) -> Loaded:
    experiment = experiment_service.get(session, org_id, experiment_id)
    project = project_service.get(session, org_id, experiment.project_id)
    return _load(session, experiment, project)


def load_project(session: Session, org_id: str, project_id: str) -> tuple[Project, list[Loaded]]:
    project = project_service.get(session, org_id, project_id)
    stmt = (
        select(Experiment)
        .where(Experiment.org_id == org_id, Experiment.project_id == project.id)
        .order_by(Experiment.id)
    )
    return project, [_load(session, e, project) for e in session.scalars(stmt)]


def _rows(metric: results_schemas.MetricResultOut) -> tuple[VariantRow, ...]:
    by_variant = {c.variant: c for c in metric.comparisons}
    rows = []
    for v in metric.variants:
        c = by_variant.get(v.key)
        if c is None:
            rows.append(VariantRow(v.key, v.n, v.mean))
            continue
        rows.append(
            VariantRow(
                v.key,
                v.n,
                v.mean,
                c.estimate,
                c.ci[0],
                c.ci[1],
                c.p_value,
                c.adjusted_p_value,
                c.chance_to_win,
                c.significant,
                c.difference_type,
            )
        )
    return tuple(rows)


def _categorical(metric: results_schemas.MetricResultOut) -> CategoricalSection | None:
    found = metric.kind.categorical if metric.kind is not None else None
    if found is None:
        return None
    lifts = {c.variant: {lift.category: lift for lift in c.lifts} for c in found.comparisons}
    rows = []
    for variant in found.variants:
        for category, count, share in zip(
            found.categories, variant.counts, variant.shares, strict=True
        ):
            lift = lifts.get(variant.key, {}).get(category)
            rows.append(
                CategoryRow(
                    variant.key,
                    category,
                    count,
                    share,
                    None if lift is None else lift.difference,
                    None if lift is None else lift.ci[0],
                    None if lift is None else lift.ci[1],
                    None if lift is None else lift.p_value,
                )
            )
    chi = found.chi_square
    return CategoricalSection(
        tuple(found.categories), tuple(rows),
        None if chi is None else chi.chi2, None if chi is None else chi.df,
        None if chi is None else chi.p_value,
    )  # fmt: skip


def section(
    loaded: Loaded,
    out: results_schemas.ResultsOut,
    decision: StatsDecision,
    snapshot_id: str | None,
) -> ExperimentSection:
    """One experiment's report section from its results answer (pure)."""
    design = loaded.results
    traffic = tuple(
        TrafficRow(key, weight, expected, observed)
        for key, weight, expected, observed in zip(
            design.variants,
            out.srm.weights or design.weights,
            out.srm.expected,
            out.srm.observed,
            strict=False,
        )
    )
    metrics = tuple(
        MetricSection(
            key=m.key,
            name=m.name,
            role=m.role,
            type=m.type,
            lower_is_better=m.lower_is_better,
            rows=_rows(m),
            error=None if m.error is None else m.error.message,
            categorical=_categorical(m),
        )
        for m in out.metrics
    )
    return ExperimentSection(
        experiment_id=loaded.experiment_id,
        key=loaded.key,
        name=loaded.name,
        project_id=loaded.project_id,
        project_name=loaded.project_name,
        status=loaded.status,
        hypothesis=loaded.hypothesis,
        variants=loaded.variants,
        design=loaded.design,
        plan=tuple((label, loaded.design_fields[label]) for label in _PLAN_LABELS),
        traffic=traffic,
        srm_p_value=out.srm.p_value,
        srm_detected=out.srm.srm_detected,
        metrics=metrics,
        decision=Decision(
            decision.decision, decision.variant, tuple(r.message for r in decision.reasons)
        ),
        computed_at=out.computed_at,
        snapshot_id=snapshot_id,
    )


def compute_section(
    store: EventStore, db: Database, config: Settings, org_id: str, loaded: Loaded
) -> ExperimentSection:
    """Compute the experiment's results, keep them as a snapshot, and build its section
    from that snapshot's answer."""
    computed = results_service.compute(store, loaded.results, config)
    snapshots.record(db, loaded.project_id, org_id, computed.out)
    with db.transaction() as session:
        latest = results_repository.latest_snapshot(session, loaded.experiment_id, "")
        snapshot_id = latest.id if latest is not None else None
    return section(loaded, computed.out, results_service.decision(computed), snapshot_id)


def report(
    title: str,
    kind: Kind,
    generated_by: str,
    sections: Sequence[ExperimentSection],
    loaded: Sequence[Loaded] = (),
) -> Report:
    comparison = _comparison(sections, loaded) if kind == "compare" else None
    return Report(title, kind, datetime.now(UTC), generated_by, tuple(sections), comparison)


def _comparison(
    sections: Sequence[ExperimentSection], loaded: Sequence[Loaded]
) -> ComparisonSection:
    differences = []
    for name in loaded[0].design_fields if loaded else ():
        values = tuple(item.design_fields[name] for item in loaded)
        if len(set(values)) > 1:
            differences.append(Difference(name, values))
    keys = [{m.key for m in s.metrics} for s in sections]
    shared = tuple(
        m.key for m in (sections[0].metrics if sections else ()) if all(m.key in k for k in keys)
    )
    results = tuple(
        SharedResult(key, s.key, row)
        for key in shared
        for s in sections
        for m in s.metrics
        if m.key == key
        for row in m.rows
    )
    return ComparisonSection(tuple(differences), shared, results)


def render(found: Report, fmt: str) -> bytes:
    if fmt == "html":
        return render_text.html(found).encode()
    if fmt == "md":
        return render_text.markdown(found).encode()
    if fmt == "csv":
        return render_text.csv_text(found).encode()
    if fmt == "xlsx":
        return render_binary.xlsx(found)
    if fmt == "pdf":
        return render_binary.pdf(found)
    return json.dumps({"data": _plain(found)}, default=str).encode()


def _plain(value: Any) -> Any:
    """The report as JSON-ready values (dataclasses to objects, tuples to lists)."""
    if hasattr(value, "__dataclass_fields__"):
        return {name: _plain(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def record_export(  # noqa: PLR0913
    db: Database,
    ctx: ChangeContext,
    found: Report,
    fmt: str,
    body: bytes,
    project_id: str | None,
    experiment_id: str | None = None,
) -> ReportExport:
    """Keep who exported what and when, with an ``report.exported`` audit event."""
    export = ReportExport(
        id=new_id("rpt"),
        org_id=ctx.org_id,
        project_id=project_id,
        experiment_id=experiment_id,
        kind=found.kind,
        format=fmt,
        snapshot_id=found.experiments[0].snapshot_id if found.kind == "experiment" else None,
        size_bytes=len(body),
        sha256=hashlib.sha256(body).hexdigest(),
        actor_type=ctx.actor.type,
        actor_id=ctx.actor.id,
        actor_name=ctx.actor.name,
        created_at=datetime.now(UTC),
    )
    with db.transaction() as session:
        session.add(export)
        resource = ("experiment", experiment_id) if experiment_id else ("project", project_id or "")
        changes = {
            "export_id": export.id,
            "kind": found.kind,
            "format": fmt,
            "snapshot_id": export.snapshot_id,
            "experiments": [e.experiment_id for e in found.experiments],
            "size_bytes": export.size_bytes,
            "sha256": export.sha256,
        }
        audit.record(session, ctx, "report.exported", resource, changes)
    return export


def load_compared(
    session: Session, org_id: str, experiment_ids: Sequence[str], project_ids: Sequence[str]
) -> list[Loaded]:
    """The experiments named, or every experiment of the projects named (in that order)."""
    loaded: list[Loaded] = []
    for experiment_id in experiment_ids:
        loaded.append(load_experiment(session, org_id, experiment_id))
    for project_id in project_ids:
        loaded += load_project(session, org_id, project_id)[1]
    if len(loaded) < 2 or len(loaded) > MAX_COMPARED:
        raise BadRequest(
            f"A comparison needs 2 to {MAX_COMPARED} experiments; these ids name {len(loaded)}.",
            code="invalid_comparison",
            details={"experiments": len(loaded)},
        )
    return loaded


def history(
    session: Session, org_id: str, project_id: str, analysis_limit: int, export_limit: int
) -> tuple[list[ResultsSnapshot], list[ReportExport]]:
    """The project's most recent results snapshots (analyses) and report exports."""
    project = project_service.get(session, org_id, project_id)
    analyses = session.scalars(
        select(ResultsSnapshot)
        .where(ResultsSnapshot.org_id == org_id, ResultsSnapshot.project_id == project.id)
        .order_by(ResultsSnapshot.id.desc())
        .limit(analysis_limit)
    ).all()
    exports = session.scalars(
        select(ReportExport)
        .where(ReportExport.org_id == org_id, ReportExport.project_id == project.id)
        .order_by(ReportExport.id.desc())
        .limit(export_limit)
    ).all()
    return list(analyses), list(exports)
