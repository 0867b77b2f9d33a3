"""Queries over the Slack tables (the only place that builds them)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from avsb.server.models import (
    Experiment,
    Project,
    ResultsSnapshot,
    SlackChannel,
    SlackInstallation,
    SlackLinkCode,
    SlackMessage,
    SlackOAuthState,
    SlackSeenRequest,
    SlackUserLink,
)


def remember_request(session: Session, signature: str, expires_at: datetime) -> bool:
    """Record a verified request's signature; False when it was seen already (a replay)."""
    try:
        with session.begin_nested():
            session.add(SlackSeenRequest(signature=signature, expires_at=expires_at))
    except IntegrityError:
        return False
    return True


def installation_of_org(session: Session, org_id: str) -> SlackInstallation | None:
    return session.get(SlackInstallation, org_id)


def installation_of_team(session: Session, team_id: str) -> SlackInstallation | None:
    return session.scalar(select(SlackInstallation).where(SlackInstallation.team_id == team_id))


def take_state(session: Session, state_hash: str, now: datetime) -> SlackOAuthState | None:
    """The unexpired install ``state``, deleted as it is read (single use)."""
    found = session.get(SlackOAuthState, state_hash, with_for_update=True)
    if found is None:
        return None
    session.delete(found)
    session.flush()
    return found if found.expires_at > now else None


def take_link_code(session: Session, code_hash: str, now: datetime) -> SlackLinkCode | None:
    found = session.get(SlackLinkCode, code_hash, with_for_update=True)
    if found is None:
        return None
    session.delete(found)
    session.flush()
    return found if found.expires_at > now else None


def link_of(session: Session, team_id: str, slack_user_id: str) -> SlackUserLink | None:
    stmt = select(SlackUserLink).where(
        SlackUserLink.team_id == team_id, SlackUserLink.slack_user_id == slack_user_id
    )
    return session.scalar(stmt)


def links_of_org(session: Session, org_id: str) -> Sequence[SlackUserLink]:
    stmt = select(SlackUserLink).where(SlackUserLink.org_id == org_id)
    return session.scalars(stmt.order_by(SlackUserLink.id)).all()


def channels_of_org(session: Session, org_id: str) -> Sequence[SlackChannel]:
    stmt = select(SlackChannel).where(SlackChannel.org_id == org_id)
    return session.scalars(stmt.order_by(SlackChannel.project_id)).all()


def experiments_by_key(session: Session, org_id: str, key: str) -> Sequence[Experiment]:
    """Experiments of the org with ``key`` (one per project at most)."""
    stmt = select(Experiment).where(Experiment.org_id == org_id, Experiment.key == key)
    return session.scalars(stmt.order_by(Experiment.id)).all()


def project_by_key(session: Session, org_id: str, key: str) -> Project | None:
    stmt = select(Project).where(Project.org_id == org_id, Project.key == key)
    return session.scalar(stmt)


def projects_by_id(session: Session, ids: Sequence[str]) -> dict[str, Project]:
    if not ids:
        return {}
    return {p.id: p for p in session.scalars(select(Project).where(Project.id.in_(ids)))}


def running(session: Session, org_id: str, project_id: str | None = None) -> Sequence[Experiment]:
    stmt = select(Experiment).where(Experiment.org_id == org_id, Experiment.status == "running")
    if project_id is not None:
        stmt = stmt.where(Experiment.project_id == project_id)
    return session.scalars(stmt.order_by(Experiment.project_id, Experiment.key)).all()


def all_channels(session: Session) -> Sequence[SlackChannel]:
    """Every project channel of every installed organisation (the digest's targets)."""
    stmt = select(SlackChannel).join(
        SlackInstallation, SlackInstallation.org_id == SlackChannel.org_id
    )
    return session.scalars(stmt.order_by(SlackChannel.org_id, SlackChannel.project_id)).all()


def message_exists(session: Session, message_id: str) -> bool:
    return session.get(SlackMessage, message_id) is not None


def recent_errors(session: Session, org_id: str, limit: int) -> Sequence[SlackMessage]:
    stmt = (
        select(SlackMessage)
        .where(SlackMessage.org_id == org_id, SlackMessage.last_error.is_not(None))
        .order_by(SlackMessage.updated_at.desc(), SlackMessage.id.desc())
        .limit(limit)
    )
    return session.scalars(stmt).all()


def count_by_status(session: Session, org_id: str) -> dict[str, int]:
    stmt = (
        select(SlackMessage.status, func.count())
        .where(SlackMessage.org_id == org_id)
        .group_by(SlackMessage.status)
    )
    return {str(status): int(n) for status, n in session.execute(stmt)}


def messages_of_org(session: Session, org_id: str) -> Sequence[SlackMessage]:
    stmt = select(SlackMessage).where(SlackMessage.org_id == org_id)
    return session.scalars(stmt.order_by(SlackMessage.created_at, SlackMessage.id)).all()


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(SlackMessage.status == "pending", SlackMessage.next_attempt_at <= now),
        and_(SlackMessage.status == "sending", SlackMessage.locked_until < now),
    )


def due_ids(session: Session, now: datetime, limit: int, *, skip_locked: bool) -> list[str]:
    stmt = (
        select(SlackMessage.id)
        .where(_claimable(now))
        .order_by(SlackMessage.next_attempt_at)
        .limit(limit)
    )
    if skip_locked:
        stmt = stmt.with_for_update(skip_locked=True)
    return list(session.scalars(stmt))


def claim(session: Session, message_id: str, now: datetime, lease: tuple[datetime, str]) -> bool:
    """Take the lease on a message if it is still claimable (a conditional UPDATE)."""
    locked_until, token = lease
    result = session.execute(
        update(SlackMessage)
        .where(SlackMessage.id == message_id, _claimable(now))
        .values(status="sending", locked_until=locked_until, claim_token=token)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def held(session: Session, message_id: str, token: str) -> SlackMessage | None:
    stmt = (
        select(SlackMessage)
        .where(SlackMessage.id == message_id, SlackMessage.claim_token == token)
        .with_for_update()
    )
    return session.scalar(stmt)


def purge(session: Session, now: datetime, finished_before: datetime) -> int:
    """Delete expired handshakes and seen signatures, and old finished messages."""
    removed = 0
    for model in (SlackSeenRequest, SlackOAuthState, SlackLinkCode):
        result = session.execute(
            delete(model).where(model.expires_at < now).execution_options(synchronize_session=False)
        )
        removed += int(getattr(result, "rowcount", 0))
    result = session.execute(
        delete(SlackMessage)
        .where(
            SlackMessage.status.in_(("sent", "failed")),
            SlackMessage.updated_at < finished_before,
        )
        .execution_options(synchronize_session=False)
    )
    return removed + int(getattr(result, "rowcount", 0))


def latest_snapshots(session: Session, experiment_ids: Sequence[str]) -> dict[str, ResultsSnapshot]:
    """The latest unsliced results snapshot of each experiment that has one."""
    if not experiment_ids:
        return {}
    stmt = (
        select(ResultsSnapshot)
        .where(ResultsSnapshot.experiment_id.in_(experiment_ids), ResultsSnapshot.segment == "")
        .order_by(ResultsSnapshot.experiment_id, ResultsSnapshot.computed_at.desc())
    )
    out: dict[str, ResultsSnapshot] = {}
    for snapshot in session.scalars(stmt):
        out.setdefault(snapshot.experiment_id, snapshot)
    return out
