"""Results, their daily series, their history and the decision readout of an experiment.

The routes are plain ``def``: FastAPI runs them in worker threads, so the aggregation
queries never block the event loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, require
from avsb.server.experiments import service as experiment_service
from avsb.server.ingestion.endpoints import ingestor_of
from avsb.server.kit.http import PageDep, many, one
from avsb.server.kit.routing import AvsbRoute
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope, ListEnvelope
from avsb.server.models import ResultsSnapshot
from avsb.server.results import repository, schemas, snapshots
from avsb.server.results import service as results_service
from avsb.server.runtime import runtime_of
from avsb.server.slack import outbox as slack_outbox

router = APIRouter(
    prefix="/api/orgs/{org_id}/experiments/{experiment_id}",
    route_class=AvsbRoute,
    tags=["results"],
    responses=ERROR_RESPONSES,
)
ResultsRead = Annotated[Principal, Depends(require("results:read"))]
SegmentQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=300,
        description="A segment id (seg_...), or an exposure attribute as key=value",
    ),
]


@dataclass(frozen=True, slots=True)
class Asked:
    """Which experiment (its org and id from the path) and which slice of it."""

    org_id: str
    experiment_id: str
    segment: str | None


def _asked(org_id: str, experiment_id: str, segment: SegmentQuery = None) -> Asked:
    return Asked(org_id, experiment_id, segment)


AskedDep = Annotated[Asked, Depends(_asked)]


def _design(session: SessionDep, request: Request, asked: Asked) -> results_service.Design:
    # This process's buffered ingestion bookkeeping (the attribute keys SRM diagnosis reads)
    # is written first, before this session's snapshot begins.
    ingestor_of(request.app).counts.flush()
    design = results_service.load_design(session, asked.org_id, asked.experiment_id, asked.segment)
    session.close()  # nothing more to read: do not hold a transaction open while computing
    return design


def _computed(session: SessionDep, request: Request, asked: Asked) -> results_service.Computed:
    """Compute the results, keep them as a snapshot (and announce changes), return them."""
    rt = runtime_of(request)
    design = _design(session, request, asked)
    computed = results_service.compute(rt.events.get(), design, rt.settings)
    snapshots.record(rt.db, design.scope.project_id, asked.org_id, computed.out)
    slack_outbox.decision_ready(
        rt.db, asked.org_id, computed.out.experiment_id, lambda: results_service.decision(computed)
    )
    return computed


@router.get("/results", response_model=Envelope[schemas.ResultsOut])
def get_results(
    asked: AskedDep, _principal: ResultsRead, session: SessionDep, request: Request
) -> Response:
    return one(request, _computed(session, request, asked).out)


@router.get("/results/timeseries", response_model=Envelope[schemas.TimeseriesOut])
def get_results_timeseries(
    asked: AskedDep, _principal: ResultsRead, session: SessionDep, request: Request
) -> Response:
    rt = runtime_of(request)
    design = _design(session, request, asked)
    return one(request, results_service.timeseries(rt.events.get(), design, rt.settings))


@router.get("/results/history", response_model=ListEnvelope[schemas.SnapshotOut])
def get_results_history(
    asked: AskedDep, _principal: ResultsRead, session: SessionDep, page: PageDep, request: Request
) -> Response:
    experiment = experiment_service.get(session, asked.org_id, asked.experiment_id)
    stmt = repository.snapshots_stmt(experiment.id, asked.segment or "")
    result = page.paginate(session, stmt, ResultsSnapshot.id)
    return many(request, [snapshots.present(s) for s in result.items], result.next_cursor)


@router.get("/decision", response_model=Envelope[schemas.DecisionOut])
def get_decision(
    org_id: str, experiment_id: str, _principal: ResultsRead, session: SessionDep, request: Request
) -> Response:
    computed = _computed(session, request, Asked(org_id, experiment_id, None))
    found = computed.out.decision
    if found is None:  # unsliced results always carry it
        found = results_service.decision_out(
            results_service.decision(computed), computed.out.computed_at
        )
    return one(request, found)
