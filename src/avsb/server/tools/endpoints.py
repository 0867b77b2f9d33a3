"""The stateless tools: summary statistics in, results out (any valid token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import require
from avsb.server.kit.http import one
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope
from avsb.server.tools import kinds_schemas, kinds_service, schemas
from avsb.server.tools import service as tool_service

router = AvsbRouter(tags=["tools"], responses=ERROR_RESPONSES)
AnyToken = Annotated[Principal, Depends(require(None, family="tools"))]


@router.post("/api/tools/analyze", response_model=Envelope[schemas.AnalyzeResult])
def analyze(body: schemas.AnalyzeRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, tool_service.analyze(body))


@router.post("/api/tools/sample-size", response_model=Envelope[schemas.SampleSizeResult])
def sample_size(body: schemas.SampleSizeRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, tool_service.sample_size(body))


@router.post(
    "/api/v1/calculate",
    response_model=Envelope[schemas.SampleSizeResult],
    summary="Sample size and duration (the seed body of /api/tools/sample-size)",
)
def calculate(body: schemas.CalculateRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, tool_service.sample_size(body))


@router.post("/api/tools/srm", response_model=Envelope[schemas.SrmResult])
def srm(body: schemas.SrmRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, tool_service.srm(body))


@router.post("/api/tools/multiple-testing", response_model=Envelope[schemas.MultipleTestingResult])
def multiple_testing(
    body: schemas.MultipleTestingRequest, _p: AnyToken, request: Request
) -> Response:
    return one(request, tool_service.multiple_testing(body))


@router.post("/api/tools/sensitivity", response_model=Envelope[schemas.SensitivityResult])
def sensitivity(body: schemas.SensitivityRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, tool_service.sensitivity(body))


@router.post(
    "/api/tools/bandit-simulation", response_model=Envelope[schemas.BanditSimulationResult]
)
def bandit_simulation(
    body: schemas.BanditSimulationRequest, _p: AnyToken, request: Request
) -> Response:
    return one(request, tool_service.bandit_simulation(body))


# --- per-unit tools and the categorical readout (tools/kinds_*.py) ---------------------------


@router.post("/api/tools/quantile", response_model=Envelope[kinds_schemas.QuantileResult])
def quantile(body: kinds_schemas.QuantileRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, kinds_service.quantile_tool(body))


@router.post("/api/tools/rank-test", response_model=Envelope[kinds_schemas.RankTestResult])
def rank_test(body: kinds_schemas.RankTestRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, kinds_service.rank_test(body))


@router.post("/api/tools/bootstrap", response_model=Envelope[kinds_schemas.BootstrapResult])
def bootstrap(body: kinds_schemas.BootstrapRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, kinds_service.bootstrap_tool(body))


@router.post("/api/tools/categorical", response_model=Envelope[kinds_schemas.CategoricalResult])
def categorical(body: kinds_schemas.CategoricalRequest, _p: AnyToken, request: Request) -> Response:
    return one(request, kinds_service.categorical_tool(body))
