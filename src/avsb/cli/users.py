"""``avsb user ...``: local administration of people (run on the server host)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from avsb.cli import local
from avsb.cli.client import Output, OutputOpt, emit
from avsb.server.config import Settings

users_app = typer.Typer(help="People: accounts and their organisations.", no_args_is_help=True)
console = Console()

PasswordOpt = Annotated[
    str,
    typer.Option(
        prompt=True, hide_input=True, confirmation_prompt=True, envvar="AVSB_USER_PASSWORD",
        help="The password (prompted when not given; or AVSB_USER_PASSWORD)",
    ),
]  # fmt: skip
RoleOpt = Annotated[str, typer.Option(help="viewer | editor | admin | owner")]


@contextmanager
def _transaction() -> Iterator[tuple[Session, Settings]]:
    """A write transaction on the configured database; domain errors exit with status 2."""
    from avsb.server.db import Database, migrate
    from avsb.server.errors import AvsbError

    settings = local.load_settings()
    local.check(settings, needs_database=True)  # never a database the server does not use
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url, pool_size=2)
    migrate(db)
    try:
        with db.transaction() as session:
            yield session, settings
    except AvsbError as exc:
        details = f" {exc.details}" if exc.details else ""
        console.print(f"[red]error:[/red] {exc.message}{details}")
        sys.exit(2)
    finally:
        db.dispose()


def _passwords(settings: Settings):  # type: ignore[no-untyped-def]
    from avsb.server.auth.passwords import Passwords

    return Passwords(
        settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism
    )


def _user(session: Session, email: str):  # type: ignore[no-untyped-def]
    from avsb.server.errors import NotFound
    from avsb.server.people import users

    user = users.by_email(session, email)
    if user is None:
        raise NotFound(f"No user with email {email!r}.")
    return user


def _org(session: Session, org: str | None) -> str:
    from avsb.server.errors import NotFound
    from avsb.server.models import Organization

    org_id = org or session.scalar(select(Organization.id).order_by(Organization.id).limit(1))
    if org_id is None or session.get(Organization, org_id) is None:
        raise NotFound(f"No organisation {org_id!r}.")
    return org_id


def _done(output: Output, data: dict[str, object], message: str) -> None:
    """A command's outcome: JSON for ``--output json``, else ``message``."""
    if output is Output.json:
        emit(output, data)
    else:
        console.print(message)


@users_app.command("create")
def create(
    email: Annotated[str, typer.Option(help="Email (unique, ignoring case)")],
    password: PasswordOpt,
    name: Annotated[str, typer.Option(help="Display name")] = "",
    org: Annotated[str | None, typer.Option(help="Also make a member of this org")] = None,
    role: RoleOpt = "viewer",
    output: OutputOpt = Output.table,
) -> None:
    """Create a user (and, with --org, a membership with --role)."""
    from avsb.server.kit.context import system_context
    from avsb.server.people import users

    with _transaction() as (session, settings):
        user = users.create(session, _passwords(settings), email, name, password)
        if org is not None:
            users.add_member(session, system_context(_org(session, org), "cli"), None, user, role)
    if output is Output.json:
        emit(output, {"id": user.id, "email": user.email, "org_id": org, "role": role})
    else:
        console.print(f"Created user [cyan]{user.id}[/cyan] {user.email}")


@users_app.command("list")
def list_users(output: OutputOpt = Output.table) -> None:
    """Every user with their memberships (org:role)."""
    from avsb.server.models import Membership, User

    found: list[dict[str, object]] = []
    with _transaction() as (session, _settings):
        for user in session.scalars(select(User).order_by(User.id)):
            rows = session.execute(
                select(Membership.org_id, Membership.role).where(Membership.user_id == user.id)
            )
            memberships = [{"org_id": o, "role": r} for o, r in sorted(rows)]
            state = "disabled" if user.disabled else "active"
            found.append(
                {"id": user.id, "email": user.email, "state": state, "memberships": memberships}
            )
    if output is Output.json:
        emit(output, found)
        return
    for row in found:
        roles = ",".join(f"{m['org_id']}:{m['role']}" for m in row["memberships"])  # type: ignore[attr-defined]
        print(f"{row['id']}\t{row['email']}\t{row['state']}\t{roles}", flush=True)


@users_app.command("set-password")
def set_password(
    email: Annotated[str, typer.Option(help="The user's email")],
    password: PasswordOpt,
    output: OutputOpt = Output.table,
) -> None:
    """Set a new password (every session of the user ends)."""
    from avsb.server.people import users

    with _transaction() as (session, settings):
        users.set_password(session, _passwords(settings), _user(session, email), password)
    _done(output, {"email": email, "password_changed": True}, "Password changed.")


@users_app.command("disable")
def disable(
    email: Annotated[str, typer.Option(help="The user's email")],
    enable: Annotated[bool, typer.Option(help="Enable again instead")] = False,
    output: OutputOpt = Output.table,
) -> None:
    """Disable a user: sessions end and personal access tokens stop at once."""
    from avsb.server.people import users

    with _transaction() as (session, _settings):
        users.set_disabled(session, _user(session, email), not enable)
    message = "User enabled." if enable else "User disabled."
    _done(output, {"email": email, "disabled": not enable}, message)


@users_app.command("add-to-org")
def add_to_org(
    email: Annotated[str, typer.Option(help="The user's email")],
    org: Annotated[str | None, typer.Option(help="Organisation id (default: the first)")] = None,
    role: RoleOpt = "viewer",
    output: OutputOpt = Output.table,
) -> None:
    """Make a user a member of an organisation (or change their role there)."""
    from avsb.server.kit.context import system_context
    from avsb.server.models import Membership
    from avsb.server.people import users

    with _transaction() as (session, _settings):
        user = _user(session, email)
        org_id = _org(session, org)
        ctx = system_context(org_id, "cli")
        member = session.get(Membership, (user.id, org_id))
        if member is None:
            users.add_member(session, ctx, None, user, role)
        else:
            users.change_role(session, ctx, None, member, role)
    _done(
        output, {"email": email, "org_id": org_id, "role": role}, f"{email} is {role} in {org_id}."
    )
