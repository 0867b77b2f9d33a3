"""The event ingestion routes on the management app.

The process's front door answers their POSTs itself (`hotpath.ingest`, the same gate through
`auth.access` and the same ingestor); these routes document them in OpenAPI, answer a request
under a `root_path`, and give the 405 with `Allow` of any other method.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, require
from avsb.server.experiments import service as experiment_service
from avsb.server.ingestion import schemas
from avsb.server.ingestion import service as ingestion_service
from avsb.server.ingestion.parse import Target
from avsb.server.kit.http import one
from avsb.server.kit.routing import AvsbRoute
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope
from avsb.server.runtime import Runtime, runtime_of

router = APIRouter(
    prefix="/api/orgs/{org_id}",
    route_class=AvsbRoute,
    tags=["events"],
    responses=ERROR_RESPONSES,
)
EventsWrite = Annotated[Principal, Depends(require("events:write"))]
EventsRead = Annotated[Principal, Depends(require("events:read"))]


def ingestor_of(app: FastAPI) -> ingestion_service.Ingestor:
    """The process's ingestor (it holds caches and buffered counts): on the runtime."""
    rt: Runtime = app.state.runtime
    return rt.ingestor


def _answer(request: Request, outcome: ingestion_service.Outcome) -> Response:
    rejected = [schemas.RejectionOut(index=r.index, code=r.code, message=r.message)
                for r in outcome.rejected]  # fmt: skip
    result = schemas.IngestResult(
        accepted=outcome.accepted, duplicates=outcome.duplicates, rejected=rejected
    )
    return one(request, result)


@router.post(
    "/projects/{project_id}/events",
    response_model=Envelope[schemas.IngestResult],
    openapi_extra=schemas.EVENTS_BODY,
    summary="Ingest a batch of typed events (exactly-once effect)",
)
async def ingest_events(
    org_id: str, project_id: str, _principal: EventsWrite, request: Request
) -> Response:
    body = await request.body()
    ingest = ingestor_of(request.app).ingest
    outcome = await run_in_threadpool(ingest, org_id, project_id, Target(), body)
    return _answer(request, outcome)


Endpoint = Callable[[str, str, Principal, Request], Coroutine[Any, Any, Response]]


def _per_experiment(route: str) -> Endpoint:
    async def ingest_for_experiment(
        org_id: str, experiment_id: str, _principal: EventsWrite, request: Request
    ) -> Response:
        body = await request.body()
        ingest = ingestor_of(request.app).ingest_for_experiment
        outcome = await run_in_threadpool(ingest, org_id, experiment_id, route, body)
        return _answer(request, outcome)

    return ingest_for_experiment


for _route, _kind in ingestion_service.EXPERIMENT_ROUTES.items():
    router.add_api_route(
        f"/experiments/{{experiment_id}}/{_route}",
        _per_experiment(_route),
        methods=["POST"],
        response_model=Envelope[schemas.IngestResult],
        openapi_extra=schemas.EVENTS_BODY,
        name=f"ingest_{_route.replace('-', '_')}",
        summary=f"Ingest {_kind.value} events of this experiment",
    )


@router.get(
    "/experiments/{experiment_id}/ingestion",
    response_model=Envelope[schemas.IngestionSummaryOut],
)
def get_ingestion_summary(
    org_id: str, experiment_id: str, _principal: EventsRead, session: SessionDep, request: Request
) -> Response:
    ingestor_of(request.app).counts.flush()  # before this session's snapshot begins
    experiment = experiment_service.get(session, org_id, experiment_id)
    store = runtime_of(request).events.get()
    return one(request, ingestion_service.summary(session, store, experiment))
