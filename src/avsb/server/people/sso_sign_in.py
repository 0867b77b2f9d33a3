"""Single sign-on into the people package: the ``SignInTarget`` of ``avsb.server.sso``.

A verified identity (issuer, subject) finds its user through ``user_identities``; else the
user with the same e-mail (the provider verified it) is linked to it; else a user is created
without a password (no password sign-in until one is set) and made a member, with
``AVSB_OIDC_DEFAULT_ROLE``, of the organisation ``AVSB_OIDC_ORG`` names (409
``sso_org_not_found`` and no user made when it names none), or when that is unset of the
oldest organisation (the one bootstrap created). A disabled user is
refused (403 ``user_disabled``, no session). Then a session starts as for a password sign-in
(a new id; any session the browser held ends). Audited in each organisation of the user:
``user.signed_in`` (method ``sso``, source ``dashboard``), and on the first sign-in
``user.created`` and ``member.added``; a link to an existing user ``user.identity_linked``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from avsb.server.auth.passwords import Passwords
from avsb.server.config import Settings
from avsb.server.db import Database
from avsb.server.errors import Conflict, Forbidden
from avsb.server.kit import audit
from avsb.server.kit.context import Actor, ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Membership, Organization, User, UserIdentity
from avsb.server.people import signin, users

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Client:
    """The browser finishing a sign-in: for the session row and the audit events."""

    ip: str
    user_agent: str
    request_id: str | None
    previous_session: str | None  # the session cookie it held before, if any


def _first_sign_in_org(session: Session, chosen: str | None) -> str:
    """The organisation a first SSO sign-in joins: ``chosen`` (``AVSB_OIDC_ORG``) when set,
    else the oldest."""
    if chosen is not None:
        if session.get(Organization, chosen) is None:
            raise Conflict(
                "Single sign-on is set to add new people to an organisation that does not "
                "exist on this server (AVSB_OIDC_ORG); ask the administrator to fix it.",
                code="sso_org_not_found",
                details={"setting": "AVSB_OIDC_ORG"},
            )
        return chosen
    org_id = session.scalar(
        select(Organization.id).order_by(Organization.created_at, Organization.id).limit(1)
    )
    if org_id is None:
        raise Conflict(
            "This server has no organisation yet; bootstrap it before signing in.",
            code="no_organisation",
        )
    return org_id


class PeopleSignIn:
    """Turns verified SSO identities into users and sessions (see the module docstring)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self._db = db
        self._settings = settings
        # Users made here have no password: nothing is hashed, so the cost settings are moot.
        self._passwords = Passwords(
            settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
        )

    def check_org(self) -> bool:
        """False, with a warning logged, when ``AVSB_OIDC_ORG`` names no organisation (first
        sign-ins would be refused); for the server's start."""
        chosen = self._settings.oidc_org
        if chosen is None:
            return True
        with self._db.transaction() as session:
            found = session.get(Organization, chosen) is not None
        if not found:
            log.warning(
                "AVSB_OIDC_ORG=%s names no organisation: first single sign-ins will be "
                "refused (sso_org_not_found) until it does",
                chosen,
            )
        return found

    def sign_in_sso(
        self,
        email: str,
        name: str,
        issuer: str,
        subject: str,
        default_role: str,
        client: Client,
    ) -> str:
        try:
            return self._sign_in(email, name, issuer, subject, default_role, client)
        except IntegrityError:  # a concurrent first sign-in of this identity or e-mail won
            return self._sign_in(email, name, issuer, subject, default_role, client)

    def _sign_in(
        self,
        email: str,
        name: str,
        issuer: str,
        subject: str,
        default_role: str,
        client: Client,
    ) -> str:
        with self._db.transaction() as session:
            link = session.scalar(
                select(UserIdentity).where(
                    UserIdentity.issuer == issuer, UserIdentity.subject == subject
                )
            )
            created = linked = False
            user = session.get(User, link.user_id) if link is not None else None
            if user is None:
                user = users.by_email(session, email)
                if user is None:
                    org_id = _first_sign_in_org(session, self._settings.oidc_org)
                    user = users.create(session, self._passwords, email, name[:200], None)
                    created = True
                linked = not created
                session.add(
                    UserIdentity(id=new_id("uid"), user_id=user.id, issuer=issuer, subject=subject)
                )
            if user.disabled:
                raise Forbidden("This account is disabled.", code="user_disabled")
            if client.previous_session:
                signin.end_session(session, client.previous_session)
            _, raw = signin.start_session(
                session, self._settings, user, client.ip, client.user_agent
            )

            def ctx(org: str) -> ChangeContext:
                actor = Actor("user", user.id, user.email)
                return ChangeContext(org, actor, "dashboard", client.ip, client.request_id)

            if created:
                audit.record(
                    session, ctx(org_id), "user.created", ("user", user.id),
                    {"email": {"from": None, "to": user.email},
                     "method": {"from": None, "to": "sso"}},
                )  # fmt: skip
                users.add_member(session, ctx(org_id), None, user, default_role)
            orgs = session.scalars(
                select(Membership.org_id).where(Membership.user_id == user.id)
            ).all()
            for org in orgs:
                if linked:
                    audit.record(
                        session, ctx(org), "user.identity_linked", ("user", user.id),
                        {"issuer": {"from": None, "to": issuer},
                         "subject": {"from": None, "to": subject}},
                    )  # fmt: skip
                audit.record(
                    session, ctx(org), "user.signed_in", ("user", user.id),
                    {"method": {"from": None, "to": "sso"}},
                )  # fmt: skip
            return raw
