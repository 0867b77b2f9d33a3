"""Report routes: experiment and project reports, project history, comparisons.

Plain ``def`` routes: FastAPI runs them in worker threads while results are computed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.ingestion.endpoints import ingestor_of
from avsb.server.kit.http import one
from avsb.server.kit.routing import AvsbRoute
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope
from avsb.server.reports import schemas, service
from avsb.server.runtime import runtime_of

router = APIRouter(
    prefix="/api/orgs/{org_id}", route_class=AvsbRoute, tags=["reports"], responses=ERROR_RESPONSES
)
ResultsRead = Annotated[Principal, Depends(require("results:read"))]
_REPORT = {200: {"description": "The report file", "content": {
    t.split(";")[0]: {} for t in service.MEDIA_TYPES.values()}}}  # fmt: skip
Limit = Annotated[int, Query(ge=1, le=100)]


# The HTML report's own inline style may apply when a browser shows it from the server;
# nothing else may load or run (no script at all, whatever a report contains).
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


def _file(fmt: str, body: bytes, name: str) -> Response:
    disposition = "inline" if fmt in ("html", "json") else "attachment"
    headers = {"Content-Disposition": f'{disposition}; filename="{name}.{fmt}"'}
    if fmt == "html":
        headers["Content-Security-Policy"] = _REPORT_CSP
    return Response(body, media_type=service.MEDIA_TYPES[fmt], headers=headers)


def _actor(principal: Principal) -> str:
    return principal.actor.name


@router.get("/experiments/{experiment_id}/report", responses=_REPORT)  # type: ignore[arg-type]
def experiment_report(
    org_id: str,
    experiment_id: str,
    principal: ResultsRead,
    session: SessionDep,
    request: Request,
    fmt: Annotated[Literal["html", "md", "csv", "xlsx", "pdf"], Query(alias="format")] = "html",
) -> Response:
    """The experiment's report from a fresh results snapshot; the export is recorded."""
    rt = runtime_of(request)
    ingestor_of(request.app).counts.flush()
    loaded = service.load_experiment(session, org_id, experiment_id)
    session.close()
    section = service.compute_section(rt.events.get(), rt.db, rt.settings, org_id, loaded)
    found = service.report(f"Experiment report: {loaded.name}", "experiment", _actor(principal),
                           [section])  # fmt: skip
    body = service.render(found, fmt)
    ctx = change_context(request, principal, org_id)
    service.record_export(rt.db, ctx, found, fmt, body, loaded.project_id, loaded.experiment_id)
    return _file(fmt, body, f"report-{loaded.key}")


@router.get("/projects/{project_id}/report", responses=_REPORT)  # type: ignore[arg-type]
def project_report(
    org_id: str,
    project_id: str,
    principal: ResultsRead,
    session: SessionDep,
    request: Request,
    fmt: Annotated[Literal["html", "csv", "xlsx", "pdf"], Query(alias="format")] = "html",
) -> Response:
    """Every experiment of the project, each from a fresh results snapshot."""
    rt = runtime_of(request)
    ingestor_of(request.app).counts.flush()
    project, loaded = service.load_project(session, org_id, project_id)
    name, key = project.name, project.key
    session.close()
    store = rt.events.get()
    sections = [service.compute_section(store, rt.db, rt.settings, org_id, item) for item in loaded]
    found = service.report(f"Project report: {name}", "project", _actor(principal), sections)
    body = service.render(found, fmt)
    ctx = change_context(request, principal, org_id)
    service.record_export(rt.db, ctx, found, fmt, body, project_id)
    return _file(fmt, body, f"project-{key}")


@router.get("/projects/{project_id}/history", response_model=Envelope[schemas.HistoryOut])
def project_history(
    org_id: str,
    project_id: str,
    _principal: ResultsRead,
    session: SessionDep,
    request: Request,
    analysis_limit: Limit = 10,
    export_limit: Limit = 10,
) -> Response:
    """The project's latest analyses (results snapshots) and report exports, newest first."""
    analyses, exports = service.history(session, org_id, project_id, analysis_limit, export_limit)
    out = schemas.HistoryOut(
        project_id=project_id,
        analyses=[
            schemas.AnalysisOut(
                id=a.id,
                experiment_id=a.experiment_id,
                computed_at=a.computed_at,
                segment=a.segment or None,
                srm_detected=a.srm_detected,
                significant=list(a.significant),
            )
            for a in analyses
        ],
        exports=[
            schemas.ExportOut(
                id=e.id,
                kind=e.kind,
                format=e.format,
                experiment_id=e.experiment_id,
                snapshot_id=e.snapshot_id,
                size_bytes=e.size_bytes,
                sha256=e.sha256,
                actor_type=e.actor_type,
                actor_id=e.actor_id,
                actor_name=e.actor_name,
                created_at=e.created_at,
            )
            for e in exports
        ],
    )
    return one(request, out)


@router.post("/compare", responses=_REPORT)  # type: ignore[arg-type]
def compare(
    org_id: str,
    body: schemas.CompareRequest,
    principal: ResultsRead,
    session: SessionDep,
    request: Request,
    fmt: Annotated[Literal["json", "html", "md"], Query(alias="format")] = "json",
) -> Response:
    """Design differences, results on shared metrics and the combined report."""
    rt = runtime_of(request)
    ingestor_of(request.app).counts.flush()
    loaded = service.load_compared(
        session, org_id, body.experiment_ids or [], body.project_ids or []
    )
    session.close()
    store = rt.events.get()
    sections = [service.compute_section(store, rt.db, rt.settings, org_id, item) for item in loaded]
    title = "Comparison: " + ", ".join(item.key for item in loaded)
    found = service.report(title, "compare", _actor(principal), sections, loaded)
    rendered = service.render(found, fmt)
    ctx = change_context(request, principal, org_id)
    projects = {item.project_id for item in loaded}
    service.record_export(
        rt.db, ctx, found, fmt, rendered, projects.pop() if len(projects) == 1 else None
    )
    return _file(fmt, rendered, "comparison")
