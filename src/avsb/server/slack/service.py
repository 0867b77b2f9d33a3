"""Slack settings of an organisation: user links, project channels, status and digests."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.errors import Conflict, Forbidden, NotFound, ValidationFailed
from avsb.server.kit import audit
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import (
    Membership,
    Project,
    SlackChannel,
    SlackInstallation,
    SlackUserLink,
)
from avsb.server.models.base import utcnow
from avsb.server.slack import blocks, outbox, repository
from avsb.server.slack.commands import results_facts
from avsb.server.slack.schemas import (
    ChannelOut,
    DeliveryError,
    InstallationOut,
    LinkOut,
    SlackStatus,
)

STATUS_ERRORS = 10


def present_installation(installation: SlackInstallation) -> InstallationOut:
    """The public facts of an installation (never its bot token)."""
    return InstallationOut(
        team_id=installation.team_id,
        team_name=installation.team_name,
        bot_user_id=installation.bot_user_id,
        scope=installation.scope,
        single_workspace=installation.bot_token is None,
        installed_at=installation.updated_at,
    )


def present_link(link: SlackUserLink) -> LinkOut:
    return LinkOut.model_validate(link, from_attributes=True)


def link(session: Session, ctx: ChangeContext, user_id: str, code: str) -> SlackUserLink:
    """Link the Slack user a ``/avsb link`` code was given to, to ``user_id`` (the caller)."""
    found = repository.take_link_code(session, hashlib.sha256(code.encode()).hexdigest(), utcnow())
    if found is None or found.org_id != ctx.org_id:
        raise ValidationFailed(
            "Unknown, used or expired link code; run /avsb link again.",
            [{"path": "code", "message": "unknown, used or expired", "type": "value_error"}],
        )
    if session.get(Membership, (user_id, ctx.org_id)) is None:
        raise Forbidden("Only a member of the organisation can link a Slack user to it.")
    existing = repository.link_of(session, found.team_id, found.slack_user_id)
    if existing is not None:
        session.delete(existing)
        session.flush()
    row = SlackUserLink(
        id=new_id("slk"),
        org_id=ctx.org_id,
        team_id=found.team_id,
        slack_user_id=found.slack_user_id,
        user_id=user_id,
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        ctx,
        "slack.user_linked",
        ("slack_user_link", row.id),
        {"team_id": row.team_id, "slack_user_id": row.slack_user_id, "user_id": user_id},
    )
    return row


def links(session: Session, org_id: str) -> list[SlackUserLink]:
    return list(repository.links_of_org(session, org_id))


def unlink(
    session: Session, ctx: ChangeContext, link_id: str, user_id: str | None, admin: bool
) -> None:
    """Remove a link: one's own, or anyone's with ``members:write``."""
    row = session.get(SlackUserLink, link_id)
    if row is None or row.org_id != ctx.org_id or not (admin or row.user_id == user_id):
        raise NotFound(f"No Slack user link with id {link_id!r}.")
    session.delete(row)
    audit.record(
        session,
        ctx,
        "slack.user_unlinked",
        ("slack_user_link", row.id),
        {"slack_user_id": row.slack_user_id, "user_id": row.user_id},
    )


def _project(session: Session, org_id: str, project_id: str) -> Project:
    project = session.get(Project, project_id)
    if project is None or project.org_id != org_id:
        raise NotFound(f"No project with id {project_id!r}.")
    return project


def set_channel(
    session: Session, ctx: ChangeContext, project_id: str, channel_id: str
) -> SlackChannel:
    project = _project(session, ctx.org_id, project_id)
    row = session.get(SlackChannel, project.id)
    before = row.channel_id if row is not None else None
    if row is None:
        row = SlackChannel(project_id=project.id, org_id=ctx.org_id, channel_id=channel_id)
        session.add(row)
    row.channel_id = channel_id
    row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        ctx,
        "slack.channel_set",
        ("project", project.id),
        {"channel_id": {"from": before, "to": channel_id}},
    )
    return row


def channel(session: Session, org_id: str, project_id: str) -> SlackChannel:
    project = _project(session, org_id, project_id)
    row = session.get(SlackChannel, project.id)
    if row is None:
        raise NotFound(f"Project {project_id!r} has no Slack channel.")
    return row


def clear_channel(session: Session, ctx: ChangeContext, project_id: str) -> None:
    row = channel(session, ctx.org_id, project_id)
    session.delete(row)
    audit.record(
        session,
        ctx,
        "slack.channel_cleared",
        ("project", project_id),
        {"channel_id": {"from": row.channel_id, "to": None}},
    )


def present_channel(row: SlackChannel) -> ChannelOut:
    return ChannelOut(
        project_id=row.project_id, channel_id=row.channel_id, updated_at=row.updated_at
    )


def status(session: Session, settings: Settings, org_id: str) -> SlackStatus:
    installation = repository.installation_of_org(session, org_id)
    shown = present_installation(installation) if installation is not None else None
    errors = [
        DeliveryError(
            message_id=m.id,
            kind=m.kind,
            channel_id=m.channel_id,
            status=m.status,
            error=m.last_error or "",
            at=m.updated_at,
        )
        for m in repository.recent_errors(session, org_id, STATUS_ERRORS)
    ]
    return SlackStatus(
        configured=settings.slack_signing_secret is not None,
        oauth_install=bool(
            settings.slack_client_id and settings.slack_client_secret and settings.public_url
        ),
        installed=installation is not None,
        installation=shown,
        channels=[present_channel(c) for c in repository.channels_of_org(session, org_id)],
        linked_users=len(repository.links_of_org(session, org_id)),
        messages=repository.count_by_status(session, org_id),
        last_errors=errors,
    )


def _digest_call(session: Session, row: SlackChannel) -> tuple[str, dict[str, object]]:
    project = session.get(Project, row.project_id)
    experiments = repository.running(session, row.org_id, row.project_id)
    latest = repository.latest_snapshots(session, [e.id for e in experiments])
    key = project.key if project is not None else row.project_id
    rows = [(outbox.facts(e, key), results_facts(e, latest.get(e.id))) for e in experiments]
    name = project.name if project is not None else row.project_id
    return outbox.post_message(row.channel_id, blocks.digest(name, rows))


def queue_digest(session: Session, ctx: ChangeContext) -> int:
    """Queue the digest of every project channel of the org now (an admin's test run)."""
    if repository.installation_of_org(session, ctx.org_id) is None:
        raise Conflict("This organisation is not connected to Slack.", code="slack_not_installed")
    rows = repository.channels_of_org(session, ctx.org_id)
    for row in rows:
        outbox.enqueue(session, ctx.org_id, "digest", _digest_call(session, row), row.project_id)
    audit.record(session, ctx, "slack.digest_queued", ("slack_installation", ctx.org_id), {})
    return len(rows)


def digest_due(settings: Settings, now: datetime) -> bool:
    return now.weekday() == settings.slack_digest_weekday and now.hour == settings.slack_digest_hour


def queue_due_digests(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """The scheduled weekly digest: in its hour, each project channel's digest is queued once
    per ISO week (however many processes look, however often)."""
    now = now or utcnow()
    if not digest_due(settings, now):
        return 0
    year, week, _ = now.isocalendar()
    queued = 0
    with db.transaction() as session:
        for row in repository.all_channels(session):
            key = f"digest:{row.project_id}:{year}-W{week:02d}"
            call = _digest_call(session, row)
            queued += outbox.enqueue_once(session, key, row.org_id, "digest", call, row.project_id)
    return queued
