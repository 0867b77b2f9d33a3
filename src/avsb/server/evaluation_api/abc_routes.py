"""`POST /abc/get_experiments` and `POST /abc/get_feature_flags`, as seed 002 specifies.

Every answer is `{"ret_code", "msg", ...}`: 100 success, 101 no permission (bad signature,
unknown or revoked key, or a project that is not the key's), 102 traffic limit, 103 no
`project_id`, 104 server error (an unexpected failure), 105 server error (the key's project
has no compiled config yet: retry, as the seed advises for 104 and 105); HTTP 200 throughout,
except a body that is not a JSON object of the documented fields: HTTP 400 with ret_code 0
(unknown) and `field`, the path of the faulty field.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from avsb.server.errors import AvsbError, RateLimited
from avsb.server.evaluation_api.asgi import (
    EvalRequest,
    HeaderList,
    error_headers,
    rate_headers,
    read_body,
    respond,
)
from avsb.server.evaluation_api.cache import (
    MAX_PARTS,
    NOT_READY,
    CompiledProject,
    Remembered,
    remembered,
)
from avsb.server.evaluation_api.state import EvaluationRuntime
from avsb_sdk.evaluation import (
    Assignment,
    assign_experiments,
    evaluate_flags,
)
from avsb_sdk.evaluation.answers import abc_assignment, abc_flags

log = logging.getLogger("avsb.server.evaluation")

SUCCESS = 100
NO_PERMISSION = 101
TRAFFIC_LIMIT = 102
NO_PROJECT_ID = 103
SERVER_ERROR = 104
CONFIG_NOT_READY = 105
UNKNOWN = 0


class AbcError(Exception):
    """An ABC failure answer: a ret_code, its message and the HTTP status to send it with."""

    def __init__(self, ret_code: int, msg: str, status: int = 200) -> None:
        super().__init__(msg)
        self.ret_code, self.msg, self.status = ret_code, msg, status
        self.headers: HeaderList = []
        self.field: str | None = None

    def body(self) -> bytes:
        failure: dict[str, object] = {"ret_code": self.ret_code, "msg": self.msg}
        if self.field is not None:
            failure["field"] = self.field
        return orjson.dumps(failure)


def _bad_request(msg: str, field: str | None = None) -> AbcError:
    error = AbcError(UNKNOWN, msg, status=400)
    error.field = field
    return error


@dataclass(frozen=True, slots=True)
class AbcCall:
    """A parsed, authorised ABC request for one unit of one project."""

    project: CompiledProject
    unit_id: str
    attributes: dict[str, object]
    body: Mapping[str, object]


def _string_list(value: object, name: str, *, required: bool = False) -> list[str] | None:
    if value is None and not required:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad_request(f"{name} must be a list of strings.", name)
    return value


def _profiles(profiles: object) -> dict[str, object]:
    """The attributes of `profiles` (`{attr: {"user_attrs": [strings]}}`); a malformed one is
    refused with its path, never dropped (a dropped attribute silently changes targeting).
    One pass over plain dicts and lists (a parsed body holds nothing else), as
    `attributes_from_profiles` reads them, without its `Mapping` checks."""
    if profiles is None:
        return {}
    if type(profiles) is not dict:
        raise _bad_request("profiles must be an object of {attr: {user_attrs: [...]}}.", "profiles")
    attributes: dict[str, object] = {}
    for name, profile in profiles.items():
        if type(profile) is not dict:
            where = f"profiles.{name}"
            raise _bad_request(f"{where} must be an object with user_attrs.", where)
        values = profile.get("user_attrs")
        if values is None:
            continue
        if type(values) is not list or not all(type(v) is str for v in values):
            where = f"profiles.{name}.user_attrs"
            message = f"{where} must be a list of strings (convert numbers first)."
            raise _bad_request(message, where)
        attributes[name] = values
    return attributes


def _parse(raw: bytes) -> Mapping[str, object]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad_request("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise _bad_request("The body must be a JSON object.")
    return body


def _named_project(raw: bytes) -> tuple[Mapping[str, object], str]:
    """The parsed body and the `project_id` it names (a number is taken as its digits)."""
    body = _parse(raw)
    project = body.get("project_id")
    if isinstance(project, int) and not isinstance(project, bool):
        project = str(project)
    if not isinstance(project, str) or not project:
        raise AbcError(NO_PROJECT_ID, "project_id is required.")
    return body, project


def _no_access(project: str) -> AbcError:
    return AbcError(NO_PERMISSION, f"This key has no access to project {project!r}.")


def _experiments(call: AbcCall) -> Remembered:
    options = call.body.get("filter_options")
    if options is not None and not isinstance(options, dict):
        raise _bad_request("filter_options must be an object.", "filter_options")
    options = options or {}
    assignments = assign_experiments(
        call.project.compiled,
        call.unit_id,
        call.attributes,
        layer_keys=_string_list(options.get("layer_keys"), "filter_options.layer_keys"),
        experiment_keys=_string_list(
            options.get("experiment_keys"), "filter_options.experiment_keys"
        ),
    )
    body = experiments_body(call.project, assignments)
    return remembered(body, call.unit_id, call.attributes, assignments.values())


_EXPERIMENTS_HEAD = b'{"ret_code":%d,"msg":"","exp_data":{' % SUCCESS


def experiments_body(project: CompiledProject, assignments: Mapping[str, Assignment]) -> bytes:
    """`{"ret_code": 100, "msg": "", "exp_data": abc_experiments(assignments)}` as orjson
    writes it, byte for byte, from each layer's answer encoded once per config: a layer's
    assignment is one of a few objects the compiled config holds (a variant, or a default),
    so the answers differ only in which ones they join. An entry holds its assignment, so
    its id cannot be reused by another object while the entry lives."""
    parts = project.abc_parts
    pieces: list[bytes] = []
    for layer, assignment in assignments.items():
        known = parts.get(id(assignment))
        if known is not None and known[0] is assignment and known[1] == layer:
            pieces.append(known[2])
            continue
        piece = orjson.dumps({layer: abc_assignment(assignment)})[1:-1]
        if len(parts) < MAX_PARTS:
            parts[id(assignment)] = (assignment, layer, piece)
        pieces.append(piece)
    return _EXPERIMENTS_HEAD + b",".join(pieces) + b"}}"


def _feature_flags(call: AbcCall) -> Remembered:
    names = _string_list(call.body.get("feature_names"), "feature_names", required=True)
    values = evaluate_flags(call.project.compiled, call.unit_id, call.attributes, names)
    chosen = [v.experiment for v in values.values() if v.experiment is not None]
    body = orjson.dumps({"ret_code": SUCCESS, "msg": "", "data": abc_flags(values)})
    return remembered(body, call.unit_id, call.attributes, chosen)


Answer = Callable[[AbcCall], Remembered]
ANSWERS: dict[str, Answer] = {"get_experiments": _experiments, "get_feature_flags": _feature_flags}


class AbcEndpoint:
    """One ABC route as a plain ASGI app."""

    def __init__(self, ev: EvaluationRuntime, name: str, answer: Answer) -> None:
        self.ev = ev
        self.name = name  # the answer's key in a project's memo
        self.answer = answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            body, headers = await self._handle(EvalRequest(scope), receive)
            await respond(send, 200, body, headers)
        except AbcError as exc:
            await respond(send, exc.status, exc.body(), exc.headers)
        except AvsbError as exc:  # reading the body: a chunked body over the size limit
            failure = {"ret_code": UNKNOWN, "msg": exc.message}
            await respond(send, exc.status_code, orjson.dumps(failure), error_headers(exc))
        except Exception:
            log.exception("ABC request failed")
            failure = {"ret_code": SERVER_ERROR, "msg": "Server error."}
            await respond(send, 200, orjson.dumps(failure))

    async def _handle(self, request: EvalRequest, receive: Receive) -> tuple[bytes, HeaderList]:
        gate = self.ev.gate
        try:
            ak, et, es = request.header(b"x-ak"), request.header(b"x-et"), request.header(b"x-es")
            principal, decision = await gate.signed_admitted(ak, et, es, request.ip)
        except RateLimited as exc:
            error = AbcError(TRAFFIC_LIMIT, exc.message)
            error.headers = error_headers(exc)
            raise error from None
        except AvsbError as exc:
            raise AbcError(NO_PERMISSION, exc.message) from None
        raw = await read_body(receive)
        own = principal.project_id or ""
        compiled = self.ev.cache.get(own)
        if compiled is None:
            _body, project = _named_project(raw)
            compiled, pending = await run_in_threadpool(self.ev.cache.lookup, own)
            if pending:
                raise AbcError(CONFIG_NOT_READY, NOT_READY)
            if compiled is None:
                raise _no_access(project)

        def compute() -> Remembered:
            body, project = _named_project(raw)
            if not compiled.is_named(project):
                raise _no_access(project)
            unit_id = body.get("unit_id")
            if not isinstance(unit_id, str) or not unit_id:
                raise _bad_request("unit_id must be a non-empty string.", "unit_id")
            attributes = _profiles(body.get("profiles"))
            return self.answer(AbcCall(compiled, unit_id, attributes, body))

        return self.ev.answer(compiled, self.name, raw, compute), rate_headers(decision)
