"""The stateless tools: summary statistics in, results out (any valid token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from avsb.server.auth.principal import Principal
from avsb.server.deps import require
from avsb.server.errors import BadRequest
from avsb.server.kit.http import one
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope
from avsb.server.runtime import runtime_of
from avsb.server.tools import (
    file_analysis,
    file_schemas,
    kinds_schemas,
    kinds_service,
    schemas,
    upload,
)
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


# --- a per-unit file analysed like an experiment's results (tools/file_analysis.py) ----------

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "example": {
                    "file": "units.csv",
                    "unit_column": "user_id",
                    "variant_column": "variant",
                    "metric_columns": "revenue,converted",
                    "control": "control",
                },
                "schema": {
                    "type": "object",
                    "required": ["file", "unit_column", "variant_column", "metric_columns",
                                 "control"],
                    "properties": {
                        "file": {"type": "string", "format": "binary",
                                 "description": "CSV with a header row, or Parquet"},
                        "unit_column": {"type": "string"},
                        "variant_column": {"type": "string"},
                        "metric_columns": {"type": "string", "description": "comma-separated"},
                        "control": {"type": "string"},
                        "covariate_column": {"type": "string"},
                        "stratum_column": {"type": "string"},
                        "method": {"type": "string", "enum": ["frequentist", "bayesian",
                                                              "sequential"]},
                        "alpha": {"type": "number"},
                        "correction": {"type": "string",
                                       "enum": ["none", "holm", "bh", "bonferroni"]},
                    },
                }
            }
        },
    }
}  # fmt: skip


@router.post(
    "/api/tools/analyze-file",
    response_model=Envelope[file_schemas.AnalyzeFileResult],
    openapi_extra=_UPLOAD_BODY,
)
async def analyze_file(_p: AnyToken, request: Request) -> Response:
    """A per-unit CSV or Parquet file, streamed to a temporary file and aggregated in
    DuckDB, analysed as an experiment's results are."""
    limit = runtime_of(request).settings.analyze_file_max_bytes
    async with upload.receive_upload(request, limit) as received:
        if received.path is None or received.size == 0:
            raise BadRequest("Send the data as a non-empty multipart part named 'file'.",
                             code="file_missing")  # fmt: skip
        found = file_analysis.request_of(received.fields)
        out = await run_in_threadpool(file_analysis.analyze_file, received.path, found)
    return one(request, out)
