"""Connecting an organisation to a Slack workspace: the OAuth v2 install (``state`` single use,
bound to the organisation and the person installing, 10 minutes), or a single-workspace
connection with ``AVSB_SLACK_BOT_TOKEN``; and disconnecting."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.oauth import AuthorizeUrlGenerator
from sqlalchemy.orm import Session

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.errors import BadRequest, Conflict, Forbidden, NotFound
from avsb.server.kit import audit
from avsb.server.kit.context import Actor, ChangeContext, system_context
from avsb.server.models import SlackInstallation, SlackOAuthState, User
from avsb.server.models.base import utcnow
from avsb.server.slack import repository
from avsb.server.slack.delivery import web_client
from avsb.server.slack.signing import not_configured

STATE_MINUTES = 10
CALLBACK_PATH = "/api/slack/oauth/callback"
# What the bot needs: slash commands, posting, reading its mentions.
BOT_SCOPES = ("commands", "chat:write", "app_mentions:read")
Json = dict[str, Any]


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def redirect_uri(settings: Settings) -> str:
    return f"{settings.public_url}{CALLBACK_PATH}"


def _oauth_settings(settings: Settings) -> tuple[str, str]:
    if not (settings.slack_client_id and settings.slack_client_secret and settings.public_url):
        raise not_configured(
            "Installing Slack needs AVSB_SLACK_CLIENT_ID, AVSB_SLACK_CLIENT_SECRET and "
            "AVSB_PUBLIC_URL."
        )
    return settings.slack_client_id, settings.slack_client_secret.get_secret_value()


def authorize_url(db: Database, settings: Settings, org_id: str, user_id: str | None) -> str:
    """Slack's authorize URL for installing into ``org_id``, with a fresh single-use state
    (written in its own transaction: the request is a GET, whose session only reads)."""
    client_id, _ = _oauth_settings(settings)
    state = secrets.token_urlsafe(32)
    with db.transaction() as session:
        session.add(
            SlackOAuthState(
                state_hash=_hash(state),
                org_id=org_id,
                user_id=user_id,
                expires_at=utcnow() + timedelta(minutes=STATE_MINUTES),
            )
        )
    generator = AuthorizeUrlGenerator(
        client_id=client_id, redirect_uri=redirect_uri(settings), scopes=list(BOT_SCOPES)
    )
    return generator.generate(state)


def _context(session: Session, org_id: str, user_id: str | None) -> ChangeContext:
    user = session.get(User, user_id) if user_id else None
    if user is None:
        return system_context(org_id, "slack")
    return ChangeContext(org_id, Actor("user", user.id, user.email), "api")


def _store(
    session: Session, ctx: ChangeContext, found: Json, bot_token: str | None
) -> SlackInstallation:
    """Create or replace the org's installation of ``found`` (team id, name, bot user, scope)."""
    team_id = found["team_id"]
    other = repository.installation_of_team(session, team_id)
    if other is not None and other.org_id != ctx.org_id:
        raise Conflict(
            "This Slack workspace is connected to another organisation already.",
            code="slack_team_taken",
        )
    installation = repository.installation_of_org(session, ctx.org_id)
    if installation is None:
        installation = SlackInstallation(org_id=ctx.org_id)
        session.add(installation)
    installation.team_id = team_id
    installation.team_name = found.get("team_name") or ""
    installation.bot_user_id = found.get("bot_user_id") or ""
    installation.bot_token = bot_token
    installation.scope = found.get("scope") or ""
    installation.installed_by = ctx.actor.id
    session.flush()
    audit.record(
        session,
        ctx,
        "slack.installed",
        ("slack_installation", ctx.org_id),
        {"team_id": team_id, "team_name": installation.team_name, "scope": installation.scope},
    )
    return installation


def _slack_error(exc: SlackApiError | SlackClientError, what: str) -> BadRequest:
    detail = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
    return BadRequest(f"Slack refused {what}: {detail}.", code="slack_error")


def complete_install(
    db: Database,
    settings: Settings,
    params: tuple[str | None, str | None, str | None],
    caller_user_id: str | None,
) -> SlackInstallation:
    """The callback: check the state (once), trade the code at ``oauth.v2.access``, store."""
    code, state, error = params
    client_id, client_secret = _oauth_settings(settings)
    if error:
        raise BadRequest(f"The Slack install was not approved: {error}.", code="slack_denied")
    if not code or not state:
        raise BadRequest("The callback needs code and state.", code="slack_callback_invalid")
    with db.transaction() as session:
        taken = repository.take_state(session, _hash(state), utcnow())
        found_state = (taken.org_id, taken.user_id) if taken is not None else None
    if found_state is None:
        raise BadRequest(
            "Unknown, used or expired install state; start the install again.",
            code="slack_state_invalid",
        )
    org_id, user_id = found_state
    if user_id is not None and caller_user_id != user_id:
        raise Forbidden(
            "The install must be finished by the person who started it.",
            code="slack_state_invalid",
        )
    try:
        answer = web_client(settings).oauth_v2_access(
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            redirect_uri=redirect_uri(settings),
        )
    except (SlackApiError, SlackClientError) as exc:
        raise _slack_error(exc, "the install") from exc
    team = answer.get("team") or {}
    found = {
        "team_id": str(team.get("id") or ""),
        "team_name": str(team.get("name") or ""),
        "bot_user_id": str(answer.get("bot_user_id") or ""),
        "scope": str(answer.get("scope") or ""),
    }
    token = answer.get("access_token")
    if not found["team_id"] or not isinstance(token, str) or not token:
        raise BadRequest("Slack answered without a team or bot token.", code="slack_error")
    with db.transaction() as session:
        installation = _store(session, _context(session, org_id, user_id), found, token)
        session.expunge(installation)
    return installation


def connect_bot_token(db: Database, settings: Settings, ctx: ChangeContext) -> SlackInstallation:
    """A single-workspace connection: the workspace of ``AVSB_SLACK_BOT_TOKEN`` (asked of
    ``auth.test``); the token itself stays in the setting."""
    if settings.slack_bot_token is None:
        raise not_configured("AVSB_SLACK_BOT_TOKEN is not set on this server.")
    try:
        answer = web_client(settings, settings.slack_bot_token.get_secret_value()).auth_test()
    except (SlackApiError, SlackClientError) as exc:
        raise _slack_error(exc, "the bot token") from exc
    found = {
        "team_id": str(answer.get("team_id") or ""),
        "team_name": str(answer.get("team") or ""),
        "bot_user_id": str(answer.get("user_id") or ""),
    }
    if not found["team_id"]:
        raise BadRequest("Slack answered auth.test without a team.", code="slack_error")
    with db.transaction() as session:
        installation = _store(session, ctx, found, None)
        session.expunge(installation)
    return installation


def uninstall(session: Session, ctx: ChangeContext) -> None:
    """Forget the org's workspace, its token and its user links (channels stay configured)."""
    installation = repository.installation_of_org(session, ctx.org_id)
    if installation is None:
        raise NotFound("This organisation is not connected to Slack.")
    for link in repository.links_of_org(session, ctx.org_id):
        session.delete(link)
    session.delete(installation)
    audit.record(
        session,
        ctx,
        "slack.uninstalled",
        ("slack_installation", ctx.org_id),
        {"team_id": installation.team_id},
    )
