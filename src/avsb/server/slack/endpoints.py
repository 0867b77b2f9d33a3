"""Slack over HTTP: the three Slack-signed routes Slack calls, the OAuth install, and the
organisation's Slack settings (status, links, project channels, digest)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl

import orjson
from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, RedirectResponse, Response

from avsb.server.auth.principal import Principal
from avsb.server.auth.scopes import grants
from avsb.server.auth.sessions import SESSION_COOKIE
from avsb.server.deps import SessionDep, change_context, client_ip, require
from avsb.server.errors import AvsbError, BadRequest, Forbidden, NotFound, ScopeMissing
from avsb.server.kit.http import many, one
from avsb.server.kit.routing import AvsbRoute
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope, ErrorEnvelope, ListEnvelope
from avsb.server.runtime import runtime_of
from avsb.server.slack import commands, install, service, signing
from avsb.server.slack.schemas import (
    ChannelOut,
    ChannelPut,
    DigestOut,
    InstallationOut,
    LinkCreate,
    LinkOut,
    SlackStatus,
)

Json = dict[str, Any]


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorEnvelope, "description": "Error"} for code in codes}


# Slack-signed and public: never 401 (kept off the routers that document it); 403 is a request
# Slack did not sign, sign lately, or sent before; 404 a server without a Slack app.
public_router = APIRouter(
    prefix="/api/slack",
    route_class=AvsbRoute,
    tags=["slack"],
    responses=_errors(400, 403, 404, 413, 415, 422, 500),
)
# The install and its callback are browser redirects, not API calls: left out of the OpenAPI
# document like the single sign-on redirects (docs/slack.md describes them).
install_router = APIRouter(prefix="/api/slack", route_class=AvsbRoute, include_in_schema=False)
router = APIRouter(
    prefix="/api/orgs/{org_id}", route_class=AvsbRoute, tags=["slack"], responses=ERROR_RESPONSES
)
Anyone = Annotated[Principal, Depends(require(None))]
SlackRead = Annotated[Principal, Depends(require("webhooks:read"))]
SlackWrite = Annotated[Principal, Depends(require("webhooks:write"))]
MembersRead = Annotated[Principal, Depends(require("members:read"))]
ProjectsRead = Annotated[Principal, Depends(require("projects:read"))]
ProjectsWrite = Annotated[Principal, Depends(require("projects:write"))]


def _form_body(example: Json, properties: dict[str, str]) -> Json:
    schema = {
        "type": "object",
        "properties": {
            name: {"type": "string", "description": d} for name, d in properties.items()
        },
    }
    content = {"application/x-www-form-urlencoded": {"schema": schema, "example": example}}
    return {"requestBody": {"required": True, "content": content}, "parameters": _SIGNED}


_SIGNED = [
    {"name": "X-Slack-Signature", "in": "header", "required": True,
     "schema": {"type": "string"}, "description": "v0= + hex HMAC-SHA256 of v0:timestamp:body"},
    {"name": "X-Slack-Request-Timestamp", "in": "header", "required": True,
     "schema": {"type": "string"}, "description": "Unix seconds; refused when 5 minutes off"},
]  # fmt: skip
_COMMAND_BODY = _form_body(
    {
        "team_id": "T0123ABCD",
        "user_id": "U0123ABCD",
        "command": "/avsb",
        "text": "status checkout_button",
        "channel_id": "C0123ABCD",
    },
    {
        "team_id": "Workspace id",
        "user_id": "Who typed it",
        "command": "/avsb",
        "text": "The words after the command",
        "channel_id": "Where",
    },
)
_INTERACTIVE_BODY = _form_body(
    {
        "payload": '{"type":"block_actions","team":{"id":"T0123ABCD"},"user":{"id":"U0123ABCD"},'
        '"channel":{"id":"C0123ABCD"},"actions":[{"action_id":"avsb_pause",'
        '"value":"exp_01JDXAMPLE0000000000000001"}]}'
    },
    {"payload": "The interaction, JSON"},
)
_EVENTS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object"},
                "example": {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV"},
            }
        },
    },
    "parameters": _SIGNED,
}


async def _verified(request: Request, session: SessionDep) -> bytes:
    """The body of a request Slack signed, not seen before; 403 / 503 otherwise."""
    settings = runtime_of(request).settings
    body = await request.body()
    secret = settings.slack_signing_secret
    max_age = settings.slack_request_max_age_seconds
    signature, timestamp = signing.verify(
        secret.get_secret_value() if secret else None, request.headers, body, max_age
    )
    await run_in_threadpool(signing.remember, session, signature, timestamp, max_age)
    return body


def _form(body: bytes) -> dict[str, str]:
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("The body is not a form.", code="slack_body_invalid") from exc


def _json(raw: str | bytes) -> Json:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("The body is not JSON.", code="slack_body_invalid") from exc
    if not isinstance(value, dict):
        raise BadRequest("The body is not a JSON object.", code="slack_body_invalid")
    return value


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


@public_router.post("/commands", response_model=dict[str, Any], openapi_extra=_COMMAND_BODY)
async def slack_command(request: Request, session: SessionDep) -> Response:
    """A ``/avsb`` slash command; the answer is the ephemeral message Slack shows."""
    form = _form(await _verified(request, session))
    if form.get("ssl_check"):
        return JSONResponse({})
    settings = runtime_of(request).settings
    answer = await run_in_threadpool(
        commands.command, session, settings, form, _request_id(request)
    )
    return JSONResponse(answer)


@public_router.post("/interactive", response_model=dict[str, Any], openapi_extra=_INTERACTIVE_BODY)
async def slack_interactive(request: Request, session: SessionDep) -> Response:
    """A click on a button AvsB posted (``block_actions``); the outcome is posted back."""
    payload = _json(_form(await _verified(request, session)).get("payload", ""))
    await run_in_threadpool(commands.interaction, session, payload, _request_id(request))
    return JSONResponse({})


@public_router.post("/events", response_model=dict[str, Any], openapi_extra=_EVENTS_BODY)
async def slack_events(request: Request, session: SessionDep) -> Response:
    """Events API: the ``url_verification`` challenge, ``app_mention``, ``app_uninstalled``."""
    body = _json(await _verified(request, session))
    answer = await run_in_threadpool(commands.event, session, body, _request_id(request))
    return JSONResponse(answer or {})


def _in_org(principal: Principal, org_id: str, scope: str) -> Principal:
    scoped = principal.in_org(org_id)
    if scoped is None:
        raise NotFound(f"No organisation with id {org_id!r}.")
    if not grants(scoped.scopes, scope):
        raise ScopeMissing(
            f"Token is missing required scope: {scope}", details={"missingScope": scope}
        )
    return scoped


@install_router.get("/install")
def slack_install(
    principal: Anyone,
    request: Request,
    org_id: Annotated[str, Query(max_length=40, description="The organisation to connect")],
) -> Response:
    """Start the OAuth install into ``org_id`` (needs ``webhooks:write`` there): a redirect to
    Slack, which comes back to ``/api/slack/oauth/callback``."""
    scoped = _in_org(principal, org_id, "webhooks:write")
    rt = runtime_of(request)
    url = install.authorize_url(rt.db, rt.settings, org_id, scoped.user_id)
    return RedirectResponse(url, status_code=302)


@install_router.get("/oauth/callback")
def slack_oauth_callback(
    request: Request,
    code: Annotated[str | None, Query(max_length=500)] = None,
    state: Annotated[str | None, Query(max_length=200)] = None,
    error: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """Where Slack sends the browser back: the install completes and is shown."""
    rt = runtime_of(request)
    user_id = _session_user(request)
    found = install.complete_install(rt.db, rt.settings, (code, state, error), user_id)
    return one(request, service.present_installation(found))


def _session_user(request: Request) -> str | None:
    """The signed-in person of the browser finishing the install, if any."""
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        principal = runtime_of(request).authenticator.authenticate(
            raw, client_ip(request), session=True
        )
    except AvsbError:
        return None
    return principal.user_id


@router.get("/slack/status", response_model=Envelope[SlackStatus])
def slack_status(
    org_id: str, _principal: SlackRead, session: SessionDep, request: Request
) -> Response:
    return one(request, service.status(session, runtime_of(request).settings, org_id))


@router.post("/slack/installation", status_code=201, response_model=Envelope[InstallationOut])
def connect_slack(org_id: str, principal: SlackWrite, request: Request) -> Response:
    """Connect the workspace of ``AVSB_SLACK_BOT_TOKEN`` (a single-workspace install)."""
    rt = runtime_of(request)
    ctx = change_context(request, principal, org_id)
    found = install.connect_bot_token(rt.db, rt.settings, ctx)
    return one(request, service.present_installation(found), status_code=201)


@router.delete("/slack/installation", status_code=204)
def disconnect_slack(
    org_id: str, principal: SlackWrite, session: SessionDep, request: Request
) -> Response:
    install.uninstall(session, change_context(request, principal, org_id))
    return Response(status_code=204)


@router.post("/slack/links", status_code=201, response_model=Envelope[LinkOut])
def link_slack_user(
    org_id: str, body: LinkCreate, principal: Anyone, session: SessionDep, request: Request
) -> Response:
    """Link the Slack user who ran ``/avsb link`` to the signed-in caller (a person)."""
    if principal.user_id is None:
        raise Forbidden("Only a person (session or personal token) can link a Slack user.")
    ctx = change_context(request, principal, org_id)
    row = service.link(session, ctx, principal.user_id, body.code)
    return one(request, service.present_link(row), status_code=201)


@router.get("/slack/links", response_model=ListEnvelope[LinkOut])
def list_slack_links(
    org_id: str, _principal: MembersRead, session: SessionDep, request: Request
) -> Response:
    return many(request, [service.present_link(r) for r in service.links(session, org_id)], None)


@router.delete("/slack/links/{link_id}", status_code=204)
def unlink_slack_user(
    org_id: str, link_id: str, principal: Anyone, session: SessionDep, request: Request
) -> Response:
    """Remove one's own link, or anyone's with ``members:write``."""
    ctx = change_context(request, principal, org_id)
    admin = grants(principal.scopes, "members:write")
    service.unlink(session, ctx, link_id, principal.user_id, admin)
    return Response(status_code=204)


@router.put("/projects/{project_id}/slack", response_model=Envelope[ChannelOut])
def set_slack_channel(
    org_id: str,
    project_id: str,
    body: ChannelPut,
    principal: ProjectsWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    """Post the project's notifications and weekly digest to ``channel_id``."""
    ctx = change_context(request, principal, org_id)
    row = service.set_channel(session, ctx, project_id, body.channel_id)
    return one(request, service.present_channel(row))


@router.get("/projects/{project_id}/slack", response_model=Envelope[ChannelOut])
def get_slack_channel(
    org_id: str, project_id: str, _principal: ProjectsRead, session: SessionDep, request: Request
) -> Response:
    return one(request, service.present_channel(service.channel(session, org_id, project_id)))


@router.delete("/projects/{project_id}/slack", status_code=204)
def clear_slack_channel(
    org_id: str, project_id: str, principal: ProjectsWrite, session: SessionDep, request: Request
) -> Response:
    service.clear_channel(session, change_context(request, principal, org_id), project_id)
    return Response(status_code=204)


@router.post("/slack/digest", status_code=202, response_model=Envelope[DigestOut])
def queue_slack_digest(
    org_id: str, principal: SlackWrite, session: SessionDep, request: Request
) -> Response:
    """Queue the weekly digest of every project channel now (it is also sent on schedule)."""
    queued = service.queue_digest(session, change_context(request, principal, org_id))
    return one(request, DigestOut(queued=queued), status_code=202)


ROUTERS = (public_router, install_router, router)
