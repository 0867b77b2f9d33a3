"""Design review of a stored experiment or a draft, and hypothesis suggestions."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import require
from avsb.server.kit.http import one
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope
from avsb.server.review import schemas
from avsb.server.review import service as review_service
from avsb.server.runtime import runtime_of

router = AvsbRouter(responses=ERROR_RESPONSES)
ExperimentsRead = Annotated[Principal, Depends(require("experiments:read"))]
AnyToken = Annotated[Principal, Depends(require(None, family="tools"))]


@router.post(
    "/api/orgs/{org_id}/experiments/{experiment_id}/review",
    response_model=Envelope[schemas.ReviewOut],
    tags=["review"],
    summary="Review a stored experiment's design (a read: nothing is stored)",
)
async def review_experiment(
    org_id: str,
    experiment_id: str,
    _principal: ExperimentsRead,
    request: Request,
    body: Annotated[schemas.ExperimentReviewBody | None, Body()] = None,
) -> Response:
    facts = body or schemas.ExperimentReviewBody()
    runtime = runtime_of(request)
    design = await run_in_threadpool(
        review_service.review_stored, runtime.db, org_id, experiment_id, facts
    )
    out = await review_service.answer_review(
        runtime.settings, design, use_llm=facts.use_llm, experiment_id=experiment_id
    )
    return one(request, out)


@router.post(
    "/api/tools/review",
    response_model=Envelope[schemas.ReviewOut],
    tags=["tools"],
    summary="Review a draft experiment design",
)
async def review_draft(body: schemas.DraftDesign, _p: AnyToken, request: Request) -> Response:
    design = review_service.draft_design(body)
    settings = runtime_of(request).settings
    return one(request, await review_service.answer_review(settings, design, use_llm=body.use_llm))


@router.post(
    "/api/tools/hypotheses",
    response_model=Envelope[schemas.HypothesesOut],
    tags=["tools"],
    summary="Hypothesis suggestions for a goal",
)
async def suggest_hypotheses(
    body: schemas.HypothesesRequest, _p: AnyToken, request: Request
) -> Response:
    return one(request, await review_service.suggest(runtime_of(request).settings, body))
