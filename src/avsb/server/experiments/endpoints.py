from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Body, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import SessionDep, change_context, require
from avsb.server.design.crud import CrudSpec, Schemas, answer, design_router, load_for_write
from avsb.server.experiments import lifecycle, repository
from avsb.server.experiments import service as experiment_service
from avsb.server.experiments.schemas import (
    ExperimentCreate,
    ExperimentFilters,
    ExperimentOut,
    ExperimentPatch,
    PlanOut,
    StopBody,
)
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.http import PageDep, many
from avsb.server.kit.schemas import Envelope, ListEnvelope
from avsb.server.models import Experiment, ExperimentPlan

schemas = Schemas(ExperimentCreate, ExperimentPatch, ExperimentOut, ExperimentFilters)
router = design_router(
    "experiments", CrudSpec(Experiment, "experiments", schemas, experiment_service)
)
ExperimentsRead = Annotated[Principal, Depends(require("experiments:read"))]
ExperimentsWrite = Annotated[Principal, Depends(require("experiments:write"))]
Transition = Callable[[Session, ChangeContext, Experiment], Experiment]


def _add_transition(action: str, transition: Transition, summary: str) -> None:
    def change_status(
        org_id: str,
        resource_id: str,
        principal: ExperimentsWrite,
        session: SessionDep,
        request: Request,
    ) -> Response:
        experiment = load_for_write(session, request, Experiment, (org_id, resource_id))
        transition(session, change_context(request, principal, org_id), experiment)
        return answer(request, experiment_service.present(experiment), experiment)

    router.add_api_route(
        f"/{{resource_id}}/{action}",
        change_status,
        methods=["POST"],
        response_model=Envelope[ExperimentOut],
        name=f"{action}_experiment",
        summary=summary,
    )


_add_transition("start", lifecycle.start, "Start a draft or resume a paused experiment")
_add_transition("pause", lifecycle.pause, "Pause a running experiment")
_add_transition("archive", lifecycle.archive, "Archive a draft or stopped experiment")


@router.post("/{resource_id}/stop", response_model=Envelope[ExperimentOut])
def stop_experiment(
    org_id: str,
    resource_id: str,
    principal: ExperimentsWrite,
    session: SessionDep,
    request: Request,
    body: Annotated[StopBody | None, Body()] = None,
) -> Response:
    experiment = load_for_write(session, request, Experiment, (org_id, resource_id))
    ctx = change_context(request, principal, org_id)
    lifecycle.stop(session, ctx, experiment, body or StopBody())
    return answer(request, experiment_service.present(experiment), experiment)


@router.get("/{resource_id}/plans", response_model=ListEnvelope[PlanOut])
def list_experiment_plans(
    org_id: str,
    resource_id: str,
    _principal: ExperimentsRead,
    session: SessionDep,
    page: PageDep,
    request: Request,
) -> Response:
    experiment = experiment_service.get(session, org_id, resource_id)
    result = page.paginate(session, repository.plans_stmt(experiment.id), ExperimentPlan.id)
    return many(request, [PlanOut.model_validate(p) for p in result.items], result.next_cursor)
