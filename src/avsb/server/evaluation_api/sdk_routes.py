"""`GET /api/sdk/config` (the compiled config for in-process SDKs, ETag / 304),
`POST /api/sdk/evaluate` (every experiment and flag for one unit, typed values) and
`POST /api/sdk/exposures` (the exposures of an SDK's in-process assignments).

Errors use the AvsB envelope `{"error": {code, message, details, request_id}}`; 503
`config_not_ready` (with `Retry-After`) while the key's project has no compiled config.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from avsb.server.errors import (
    AvsbError,
    InternalError,
    NotFound,
    ServiceUnavailable,
    ValidationFailed,
)
from avsb.server.evaluation_api.asgi import (
    EvalRequest,
    HeaderList,
    envelope_error,
    not_modified,
    rate_headers,
    read_body,
    respond,
)
from avsb.server.evaluation_api.cache import (
    NOT_READY,
    RETRY,
    CompiledProject,
    Remembered,
    remembered,
)
from avsb.server.evaluation_api.state import EvaluationRuntime
from avsb.server.kit.etags import if_none_match_hits
from avsb_sdk.evaluation import evaluate
from avsb_sdk.evaluation.answers import sdk_evaluation

log = logging.getLogger("avsb.server.evaluation")


def _invalid(path: str, message: str, kind: str) -> ValidationFailed:
    field = {"path": path, "location": "body", "message": message, "type": kind}
    return ValidationFailed("The request is not valid.", [field])


def _evaluate_body(raw: bytes) -> tuple[str, dict[str, object]]:
    """(unit id, attributes) of an evaluate request."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _invalid("body", "The body is not valid JSON.", "json_invalid") from None
    if not isinstance(body, dict):
        raise _invalid("body", "The body must be a JSON object.", "dict_type")
    unknown = sorted(set(body) - {"unit_id", "attributes"})
    if unknown:
        raise _invalid(unknown[0], "Unknown field.", "extra_forbidden")
    unit_id = body.get("unit_id")
    if not isinstance(unit_id, str) or not unit_id:
        raise _invalid("unit_id", "unit_id must be a non-empty string.", "string_type")
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise _invalid("attributes", "attributes must be an object.", "dict_type")
    return unit_id, attributes


class _SdkEndpoint(ABC):
    """An `/api/sdk` route as a plain ASGI app: authentication, errors, then `_answer`."""

    def __init__(self, ev: EvaluationRuntime) -> None:
        self.ev = ev

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = EvalRequest(scope)
        try:
            principal, decision = await self.ev.gate.admitted(request.token(), request.ip)
            headers = rate_headers(decision)
            own = principal.project_id or ""
            project, pending = self.ev.cache.get(own), False
            if project is None:
                project, pending = await run_in_threadpool(self.ev.cache.lookup, own)
            if pending:
                raise ServiceUnavailable(NOT_READY, code="config_not_ready", headers=RETRY)
            if project is None:
                raise NotFound(f"Project {own!r} no longer exists.")
            await self._answer(
                Answering(project, request, headers, principal.token_id), receive, send
            )
        except Exception as exc:
            if not isinstance(exc, AvsbError):
                log.exception("SDK request failed")
                exc = InternalError("An internal error occurred.")
            body, error_headers = envelope_error(request, exc)
            await respond(send, exc.status_code, body, error_headers)

    @abstractmethod
    async def _answer(self, call: Answering, receive: Receive, send: Send) -> None: ...


@dataclass(frozen=True, slots=True)
class Answering:
    """An authorised request: the caller's project, the request, the rate-limit headers and
    the caller's SDK key id."""

    project: CompiledProject
    request: EvalRequest
    headers: HeaderList
    key_id: str = ""


class SdkConfig(_SdkEndpoint):
    """`GET /api/sdk/config`: `{"data": <config JSON>}`, sent from the pre-serialised bytes."""

    async def _answer(self, call: Answering, receive: Receive, send: Send) -> None:
        etag = call.project.etag
        if if_none_match_hits(call.request.header(b"if-none-match"), etag):
            await not_modified(send, etag, call.headers)
            return
        chunks = (b'{"data":', call.project.config_json, b"}")
        await respond(send, 200, chunks, [(b"etag", etag.encode()), *call.headers])


class SdkEvaluate(_SdkEndpoint):
    """`POST /api/sdk/evaluate`: `{"unit_id", "attributes"}` -> every layer and flag."""

    async def _answer(self, call: Answering, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        project = call.project

        def compute() -> Remembered:
            unit_id, attributes = _evaluate_body(raw)
            evaluation = evaluate(project.compiled, unit_id, attributes)
            body = orjson.dumps({"data": sdk_evaluation(evaluation, project.revision)})
            return remembered(body, unit_id, attributes, evaluation.exposures())

        await respond(send, 200, self.ev.answer(project, "sdk", raw, compute), call.headers)


class Rejected(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...


class Ingested(Protocol):
    @property
    def accepted(self) -> int: ...
    @property
    def duplicates(self) -> int: ...
    @property
    def rejected(self) -> Sequence[Rejected]: ...


class ExposureSink(Protocol):
    def __call__(self, org_id: str, project_id: str, body: bytes) -> Ingested:
        """Check and store a `{"exposures": [...]}` body (blocking); raises AvsbError."""
        ...


class SdkExposures(_SdkEndpoint):
    """`POST /api/sdk/exposures`: `{"exposures": [...]}` -> `{"data": {"accepted",
    "duplicates", "rejected"}}`, the events route's answer, for the key's own project."""

    def __init__(self, ev: EvaluationRuntime, sink: ExposureSink) -> None:
        super().__init__(ev)
        self._sink = sink

    async def _answer(self, call: Answering, receive: Receive, send: Send) -> None:
        body = await read_body(receive)
        project = call.project
        outcome = await run_in_threadpool(self._sink, project.org_id, project.project_id, body)
        rejected = [{"index": r.index, "code": r.code, "message": r.message}
                    for r in outcome.rejected]  # fmt: skip
        data = {"accepted": outcome.accepted, "duplicates": outcome.duplicates,
                "rejected": rejected}  # fmt: skip
        await respond(send, 200, orjson.dumps({"data": data}), call.headers)
