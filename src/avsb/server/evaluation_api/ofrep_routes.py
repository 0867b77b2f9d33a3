"""The OpenFeature Remote Evaluation Protocol: `POST /ofrep/v1/evaluate/flags/{key}` and the
bulk `POST /ofrep/v1/evaluate/flags` (with `ETag` / `If-None-Match` -> 304), as the official
OpenAPI document reads (tests/integration/evaluation_api/ofrep_openapi.yaml).

A success is `{key, value, reason, variant, metadata}` with a reason of the spec's
(STATIC, TARGETING_MATCH, SPLIT, DISABLED: the core's DEFAULT, a fallback after rules or an
experiment were evaluated, is TARGETING_MATCH with variant `default`); a null value is the
spec's code-default answer (no `value`: the client uses its code default); an array value,
which the spec has no type for, is a GENERAL failure. A failure is `{key, errorCode,
errorDetails}`: 404 FLAG_NOT_FOUND, 400 PARSE_ERROR (body not JSON; a variant param that
does not convert to the flag's type), INVALID_CONTEXT, TARGETING_KEY_MISSING (only where a
rollout or an experiment must bucket the unit), GENERAL; 401 / 403 / 429 (with `Retry-After`
in seconds) / 500 / 503 (the key's project has no compiled config yet, with `Retry-After`)
carry `{errorDetails}`. `metadata.revision` is the flag's fingerprint: it changes only when
something the flag's answers depend on changes, and so does the bulk ETag.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from avsb.server.errors import AvsbError
from avsb.server.evaluation_api.asgi import (
    EvalRequest,
    HeaderList,
    error_headers,
    not_modified,
    rate_headers,
    read_body,
    respond,
)
from avsb.server.evaluation_api.cache import (
    MAX_PARTS,
    NOT_READY,
    RETRY,
    CompiledProject,
    Remembered,
    remembered,
)
from avsb.server.evaluation_api.state import EvaluationRuntime
from avsb.server.kit.etags import if_none_match_hits
from avsb_sdk.evaluation import (
    ErrorCode,
    FlagValue,
    Reason,
    evaluate_flags,
    evaluate_flags_anonymous,
)

log = logging.getLogger("avsb.server.evaluation")

Json = dict[str, object]


class OfrepError(Exception):
    def __init__(self, status: int, code: str | None, details: str) -> None:
        super().__init__(details)
        self.status, self.code, self.details = status, code, details
        self.headers: HeaderList = []

    def body(self, key: str | None) -> bytes:
        if self.code is None:
            return orjson.dumps({"errorDetails": self.details})
        failure: Json = {"errorCode": self.code, "errorDetails": self.details}
        return orjson.dumps(failure if key is None else {"key": key, **failure})


def _context(raw: bytes) -> tuple[str | None, dict[str, object]]:
    """(targeting key or None when absent or empty, attributes) of an OFREP request body."""
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        raise OfrepError(400, "PARSE_ERROR", "The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise OfrepError(400, "INVALID_CONTEXT", "The body must be a JSON object.")
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise OfrepError(400, "INVALID_CONTEXT", "context must be an object.")
    key = context.pop("targetingKey", None)  # the parsed body's own dict: the rest are attributes
    if key is not None and not isinstance(key, str):
        raise OfrepError(400, "INVALID_CONTEXT", "context.targetingKey must be a string.")
    return key or None, context


# The spec's reasons; DEFAULT (no rule matched, or the unit is not in the bound experiment)
# is the outcome of evaluating the flag's targeting, with variant "default".
_REASONS = {Reason.DEFAULT: Reason.TARGETING_MATCH}
# The spec's error codes of an evaluation failure: a param that does not convert is a parse
# error of the value.
_ERROR_CODES = {ErrorCode.TYPE_MISMATCH: ErrorCode.PARSE_ERROR}


def _success(project: CompiledProject, flag: FlagValue) -> Json:
    metadata: Json = {"revision": project.flag_revisions.get(flag.key, "")}
    if flag.experiment is not None:
        metadata.update(experiment_key=flag.experiment.experiment_key)
        metadata.update(group_id=flag.experiment.group_id)
    answer: Json = {
        "key": flag.key,
        "reason": _REASONS.get(flag.reason, flag.reason),
        "variant": flag.variant or "default",
        "metadata": metadata,
    }
    if flag.value is not None:  # null: the spec's code default (no value)
        answer["value"] = flag.value
    return answer


def _failure(flag: FlagValue) -> OfrepError:
    if flag.error_code == ErrorCode.FLAG_NOT_FOUND:
        return OfrepError(404, ErrorCode.FLAG_NOT_FOUND, f"No flag {flag.key!r} in this project.")
    if flag.error_code == ErrorCode.TARGETING_KEY_MISSING:
        details = (
            f"Flag {flag.key!r} buckets units (a rollout or an experiment): send targetingKey."
        )
        return OfrepError(400, ErrorCode.TARGETING_KEY_MISSING, details)
    if flag.error_code is None:  # an array value: the spec has no type for it
        details = f"Flag {flag.key!r} has an array value, which OFREP cannot carry."
        return OfrepError(400, "GENERAL", details)
    code = _ERROR_CODES.get(flag.error_code, flag.error_code)
    return OfrepError(400, code, f"The value of flag {flag.key!r} does not convert to its type.")


def _evaluate(
    project: CompiledProject,
    unit_id: str | None,
    attributes: dict[str, object],
    names: tuple[str, ...] | None = None,
) -> dict[str, FlagValue]:
    if unit_id is None:
        return evaluate_flags_anonymous(project.compiled, attributes, names)
    return evaluate_flags(project.compiled, unit_id, attributes, names)


def _answerable(flag: FlagValue) -> bool:
    return flag.error_code is None and not isinstance(flag.value, list)


class _OfrepEndpoint(ABC):
    """An OFREP route as a plain ASGI app: authentication, errors, then `_handle`."""

    def __init__(self, ev: EvaluationRuntime) -> None:
        self.ev = ev

    async def _caller(self, request: EvalRequest) -> tuple[CompiledProject | None, HeaderList, str]:
        gate = self.ev.gate
        try:
            principal, decision = await gate.admitted(request.token(), request.ip)
        except AvsbError as exc:
            error = OfrepError(exc.status_code, None, exc.message)
            error.headers = error_headers(exc)
            raise error from None
        own = principal.project_id or ""
        project, pending = self.ev.cache.get(own), False
        if project is None:
            project, pending = await run_in_threadpool(self.ev.cache.lookup, own)
        if pending:
            # Not "flag not found" / "no flags": a client would take the defaults for answers.
            error = OfrepError(503, None, NOT_READY)
            error.headers = [(b"retry-after", RETRY["Retry-After"].encode())]
            raise error
        return project, rate_headers(decision), principal.token_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = EvalRequest(scope)
        key = request.path_param("key") or None
        try:
            await self._handle(request, receive, send)
        except OfrepError as exc:
            await respond(send, exc.status, exc.body(key), exc.headers)
        except AvsbError as exc:  # reading the body: a chunked body over the size limit
            error = OfrepError(exc.status_code, None, exc.message)
            await respond(send, exc.status_code, error.body(key), error_headers(exc))
        except Exception:
            log.exception("OFREP request failed")
            await respond(send, 500, OfrepError(500, None, "An internal error occurred.").body(key))

    @abstractmethod
    async def _handle(self, request: EvalRequest, receive: Receive, send: Send) -> None: ...


class OfrepFlag(_OfrepEndpoint):
    """`POST /ofrep/v1/evaluate/flags/{key}`: one flag; logs an exposure when an experiment
    chose its value."""

    async def _handle(self, request: EvalRequest, receive: Receive, send: Send) -> None:
        project, headers, _key_id = await self._caller(request)
        raw = await read_body(receive)
        key = request.path_param("key")
        if project is None:
            _context(raw)  # a malformed body is still refused as such
            raise OfrepError(404, ErrorCode.FLAG_NOT_FOUND, f"No flag {key!r} in this project.")

        def compute() -> Remembered:
            unit_id, attributes = _context(raw)
            flag = _evaluate(project, unit_id, attributes, (key,))[key]
            if not _answerable(flag):
                raise _failure(flag)
            logged = (flag.experiment,) if flag.experiment and unit_id is not None else ()
            return remembered(entry_json(project, flag), unit_id or "", attributes, logged)

        await respond(send, 200, self.ev.answer(project, "ofrep:" + key, raw, compute), headers)


class OfrepBulk(_OfrepEndpoint):
    """`POST /ofrep/v1/evaluate/flags`: every flag of the project for one context.

    Bulk answers prefetch values a client may never show, so they log no exposures.
    """

    async def _handle(self, request: EvalRequest, receive: Receive, send: Send) -> None:
        project, headers, key_id = await self._caller(request)
        raw = await read_body(receive)
        if project is None:
            _context(raw)  # a malformed body is still refused as such
            await respond(send, 200, b'{"flags":[]}', headers)
            return

        def compute() -> Remembered:
            unit_id, attributes = _context(raw)
            values = tuple(_evaluate(project, unit_id, attributes).values())
            joined = project.bulk_answers
            key = (key_id, *map(id, values))  # by key: its answers carry its stream link
            body = joined.get(key)
            if body is None:
                body = bulk_json(project, values, self._link(project, key_id))
                joined.put(key, values, body)
            return remembered(body)

        body = self.ev.answer(project, "bulk:" + key_id, raw, compute)
        etag = project.bulk_answers.etag(body)
        if if_none_match_hits(request.header(b"if-none-match"), etag):
            await not_modified(send, etag, headers)
            return
        await respond(send, 200, body, [(b"etag", etag.encode()), *headers])

    def _link(self, project: CompiledProject, key_id: str) -> bytes | None:
        """The `eventStreams` JSON of the key's answers (OFREP ADR 0008: where to hear of
        changes), signed once per key and config; None when streams are off."""
        streams = self.ev.streams
        if streams is None:
            return None
        link = project.stream_links.get(key_id)
        if link is None:
            link = orjson.dumps(streams.ofrep_link(key_id, project.project_id))
            if len(project.stream_links) < MAX_PARTS:
                project.stream_links[key_id] = link
        return link


def _entry(project: CompiledProject, flag: FlagValue) -> Mapping[str, object]:
    if _answerable(flag):
        return _success(project, flag)
    error = _failure(flag)
    return {"key": flag.key, "errorCode": error.code, "errorDetails": error.details}


def entry_json(project: CompiledProject, flag: FlagValue) -> bytes:
    """`orjson.dumps(_entry(project, flag))`, encoded once per config: a flag's answer is one
    of the few objects its compiled form holds (a rule's value, a variant's, the default), so
    answers differ only in which ones they join. An entry holds its answer, so its id cannot
    be reused by another object while the entry lives."""
    parts = project.ofrep_parts
    known = parts.get(id(flag))
    if known is not None and known[0] is flag:
        return known[1]
    piece = orjson.dumps(_entry(project, flag))
    if len(parts) < MAX_PARTS:
        parts[id(flag)] = (flag, piece)
    return piece


def bulk_json(project: CompiledProject, flags: Iterable[FlagValue], link: bytes | None) -> bytes:
    """The bulk answer `{"flags": [...], "eventStreams": link}` as orjson writes it, byte for
    byte, from each flag's answer encoded once (`entry_json`)."""
    entries = b",".join([entry_json(project, flag) for flag in flags])
    if link is None:
        return b'{"flags":[' + entries + b"]}"
    return b'{"flags":[' + entries + b'],"eventStreams":' + link + b"}"
