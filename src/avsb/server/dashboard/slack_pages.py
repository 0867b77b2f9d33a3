"""The organisation's Slack settings page: status (configured, workspace, bot user, message
counts, last delivery errors), the OAuth "Add to Slack" link, connect / disconnect of the
single-workspace bot token, each project's notification channel, and the Slack user links
(link my account with the ``/avsb link`` code; unlink)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Depends, Request
from starlette.responses import Response

from avsb.server.auth.scopes import grants
from avsb.server.dashboard.core import (
    FormDep,
    NavItem,
    Viewer,
    page,
    page_router,
    register_nav,
    render,
    see_other,
    validate,
)
from avsb.server.dashboard.design.common import projects
from avsb.server.dashboard.forms.common import api_errors
from avsb.server.deps import SessionDep, change_context
from avsb.server.errors import AvsbError, Forbidden, NotFound
from avsb.server.people import users
from avsb.server.projects import service as project_service
from avsb.server.runtime import runtime_of
from avsb.server.slack import install
from avsb.server.slack import service as slack_service
from avsb.server.slack.schemas import ChannelPut, LinkCreate

router = page_router(prefix="/orgs/{org_id}/slack")
SlackRead = Annotated[Viewer, Depends(page("webhooks:read"))]
SlackWrite = Annotated[Viewer, Depends(page("webhooks:write"))]
ProjectsWrite = Annotated[Viewer, Depends(page("projects:write"))]
Person = Annotated[Viewer, Depends(page(None))]
register_nav(NavItem("Slack", "/orgs/{org_id}/slack", "webhooks:read", "Organisation", 40))


def _base(org_id: str) -> str:
    return f"/orgs/{quote(org_id, safe='')}/slack"


def _failed(org_id: str, exc: AvsbError) -> Response:
    errors = api_errors(exc)
    message = "; ".join(v if k == "_" else f"{k}: {v}" for k, v in errors.items())
    return see_other(_base(org_id), message, "error")


@router.get("")
def slack_settings(
    org_id: str, viewer: SlackRead, session: SessionDep, request: Request
) -> Response:
    settings = runtime_of(request).settings
    status = slack_service.status(session, settings, org_id)
    channels = {c.project_id: c.channel_id for c in status.channels}
    links = []
    if viewer.can("members:read"):
        for row in slack_service.links(session, org_id):
            try:
                who = users.get(session, row.user_id).email
            except AvsbError:
                who = row.user_id
            links.append((row, who))
    return render(
        request, "slack.html", status=status, channels=channels, links=links,
        projects=projects(request, session, org_id), base=_base(org_id),
        bot_token=settings.slack_bot_token is not None,
        install_url="/api/slack/install?" + urlencode({"org_id": org_id}),
        me=viewer.principal.user_id, admin=viewer.can("members:write"),
    )  # fmt: skip


@router.post("/connect")
def connect(org_id: str, viewer: SlackWrite, request: Request) -> Response:
    rt = runtime_of(request)
    try:
        found = install.connect_bot_token(
            rt.db, rt.settings, change_context(request, viewer.principal, org_id)
        )
    except AvsbError as exc:
        return _failed(org_id, exc)
    return see_other(_base(org_id), f"Connected to the Slack workspace {found.team_name}.")


@router.get("/disconnect")
def confirm_disconnect(org_id: str, viewer: SlackWrite, request: Request) -> Response:
    base = _base(org_id)
    return render(
        request, "confirm.html", heading="Disconnect Slack?",
        message="AvsB stops posting to the workspace and forgets its Slack user links; the "
        "project channels stay configured for a later connection.",
        action=f"{base}/disconnect", button="Disconnect", cancel=base, fields={},
    )  # fmt: skip


@router.post("/disconnect")
def disconnect(org_id: str, viewer: SlackWrite, session: SessionDep, request: Request) -> Response:
    try:
        install.uninstall(session, change_context(request, viewer.principal, org_id))
    except AvsbError as exc:
        session.rollback()
        return _failed(org_id, exc)
    return see_other(_base(org_id), "Slack disconnected.")


@router.post("/channels/{project_id}")
def set_channel(
    org_id: str, project_id: str, viewer: ProjectsWrite, form: FormDep, session: SessionDep,
    request: Request,
) -> Response:  # fmt: skip
    try:
        body = validate(ChannelPut, {"channel_id": form.get("channel_id", "").strip()})
        ctx = change_context(request, viewer.principal, org_id)
        row = slack_service.set_channel(session, ctx, project_id, body.channel_id)
    except AvsbError as exc:
        session.rollback()
        return _failed(org_id, exc)
    return see_other(_base(org_id), f"Notifications go to channel {row.channel_id}.")


@router.get("/channels/{project_id}/clear")
def confirm_clear(
    org_id: str, project_id: str, viewer: ProjectsWrite, session: SessionDep, request: Request
) -> Response:
    project = project_service.get(session, org_id, project_id)
    row = slack_service.channel(session, org_id, project_id)
    base = _base(org_id)
    return render(
        request, "confirm.html", heading=f"Stop Slack notifications of {project.name}?",
        message=f"Notifications and the weekly digest of {project.name} stop going to channel "
        f"{row.channel_id}.",
        action=f"{base}/channels/{quote(project_id, safe='')}/clear", button="Clear channel",
        cancel=base, fields={},
    )  # fmt: skip


@router.post("/channels/{project_id}/clear")
def clear_channel(
    org_id: str, project_id: str, viewer: ProjectsWrite, session: SessionDep, request: Request
) -> Response:
    try:
        ctx = change_context(request, viewer.principal, org_id)
        slack_service.clear_channel(session, ctx, project_id)
    except AvsbError as exc:
        session.rollback()
        return _failed(org_id, exc)
    return see_other(_base(org_id), "Channel cleared.")


@router.post("/links")
def link(
    org_id: str, viewer: Person, form: FormDep, session: SessionDep, request: Request
) -> Response:
    try:
        if viewer.principal.user_id is None:
            raise Forbidden("Only a person can link a Slack user.")
        body = validate(LinkCreate, {"code": form.get("code", "").strip()})
        ctx = change_context(request, viewer.principal, org_id)
        slack_service.link(session, ctx, viewer.principal.user_id, body.code)
    except AvsbError as exc:
        session.rollback()
        return _failed(org_id, exc)
    return see_other(_base(org_id), "Your Slack account is linked.")


def _own_or_admin(viewer: Viewer, session: SessionDep, org_id: str, link_id: str) -> str:
    """The Slack user id of link ``link_id``, if the viewer may remove it (404 otherwise)."""
    admin = grants(viewer.principal.scopes, "members:write")
    for row in slack_service.links(session, org_id):
        if row.id == link_id and (admin or row.user_id == viewer.principal.user_id):
            return row.slack_user_id
    raise NotFound(f"No Slack user link with id {link_id!r}.")


@router.get("/links/{link_id}/remove")
def confirm_unlink(
    org_id: str, link_id: str, viewer: Person, session: SessionDep, request: Request
) -> Response:
    slack_user = _own_or_admin(viewer, session, org_id, link_id)
    base = _base(org_id)
    return render(
        request, "confirm.html", heading="Unlink this Slack account?",
        message=f"Slack user {slack_user} can no longer act in AvsB from Slack until linked "
        "again.",
        action=f"{base}/links/{quote(link_id, safe='')}/remove", button="Unlink",
        cancel=base, fields={},
    )  # fmt: skip


@router.post("/links/{link_id}/remove")
def unlink(
    org_id: str, link_id: str, viewer: Person, session: SessionDep, request: Request
) -> Response:
    admin = grants(viewer.principal.scopes, "members:write")
    try:
        ctx = change_context(request, viewer.principal, org_id)
        slack_service.unlink(session, ctx, link_id, viewer.principal.user_id, admin)
    except AvsbError as exc:
        session.rollback()
        return _failed(org_id, exc)
    return see_other(_base(org_id), "Slack account unlinked.")
