"""``avsb``: serve the API and dashboard, migrate and make the first token locally; every
other command talks to a running server over its API (see ``avsb login``).

A command module registers here with one line: ``app.add_typer(module.app, name=...)``."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from avsb.cli import audit, events, experiments, flags, local, login, projects, tokens, workspace
from avsb.cli.client import USAGE_EXIT, Output, OutputOpt, emit, fail
from avsb.cli.relay import relay
from avsb.cli.users import users_app
from avsb.server.config import Settings

if TYPE_CHECKING:
    from avsb.server.db import Database

app = typer.Typer(help="AvsB: self-hosted A/B testing and feature flags.", no_args_is_help=True)
token_app = typer.Typer(help="Service tokens, written to the local database.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.command()(relay)  # avsb.cli.relay
app.add_typer(users_app, name="user")
app.command()(login.login)
app.add_typer(projects.app, name="projects")
app.add_typer(experiments.app, name="experiments")
app.add_typer(flags.app, name="flags")
app.add_typer(tokens.app, name="tokens")
app.add_typer(events.app, name="events")
app.add_typer(audit.app, name="audit")
app.add_typer(workspace.app, name="workspace")
console = Console()


def _database(settings: Settings) -> Database:
    from avsb.server.db import Database, migrate

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url, pool_size=settings.db_pool_size)
    migrate(db)
    return db


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
    workers: Annotated[
        int, typer.Option(min=1, help="Server processes (one per core); see docs/scaling.md")
    ] = 1,
) -> None:
    """Migrate the database, create the default organisation on first start, and serve."""
    from avsb.server import serving
    from avsb.server.app import create_app
    from avsb.server.bootstrap import bootstrap, bootstrap_owner

    settings = local.load_settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    db = _database(settings)
    org_id, secret = bootstrap(db, settings)
    console.print(f"[bold]AvsB[/bold] default organisation: [cyan]{org_id}[/cyan]")
    if secret is not None:
        console.print("Admin token (shown once, keep it safe):")
        print(secret, flush=True)  # plain, so scripts can capture it
    owner, password = bootstrap_owner(db, settings, org_id)
    if password is not None:
        console.print(
            f"Owner [cyan]{owner}[/cyan] password (shown once; `avsb user set-password`):"
        )
        print(password, flush=True)
    base = f"http://{settings.host}:{settings.port}"
    console.print(f"Dashboard: sign in at [cyan]{base}/login[/cyan] as [cyan]{owner}[/cyan]")
    console.print(f"Serving on {base}")
    with local.serving(settings):
        if workers > 1:
            from avsb.server.workers import serve_workers

            db.dispose()
            serve_workers(settings, workers)
            return
        application = create_app(settings, database=db)
        streams = application.runtime.evaluation.streams
        serving.serve(application, settings, streams.end_all if streams else lambda: None)


@app.command()
def migrate(output: OutputOpt = Output.table) -> None:
    """Apply database migrations up to the latest (creating the database if need be)."""
    settings = local.load_settings()
    local.check(settings, needs_database=False)
    _database(settings).dispose()
    if output is Output.json:
        emit(output, {"status": "up_to_date", "data_dir": str(settings.data_dir.resolve())})
    else:
        console.print("Database is up to date.")


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="A name to recognise the token by")],
    scope: Annotated[list[str], typer.Option(help="A scope such as projects:read; repeatable")],
    org: Annotated[str | None, typer.Option(help="Organisation id (default: the first)")] = None,
    expires_at: Annotated[
        datetime | None, typer.Option(help="Expiry, ISO 8601 (UTC when no offset)")
    ] = None,
    output: OutputOpt = Output.table,
) -> None:
    """Create a service token in the local database and print its secret once."""
    from datetime import UTC

    from sqlalchemy import select

    from avsb.server.auth.principal import Principal
    from avsb.server.errors import AvsbError
    from avsb.server.kit.context import system_context
    from avsb.server.models import Organization
    from avsb.server.tokens import service as token_service

    settings = local.load_settings()
    local.check(settings, needs_database=True)
    db = _database(settings)
    if expires_at is not None and expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=UTC)
    try:
        with db.transaction() as session:
            org_id = org or session.scalar(select(Organization.id).order_by(Organization.id))
            if org_id is None or session.get(Organization, org_id) is None:
                raise typer.BadParameter(f"no organisation {org_id!r}", param_hint="--org")
            cli = Principal("cli", org_id, "admin", "cli", frozenset({"*"}), True, None)
            spec = {"name": name, "kind": "service", "scopes": scope, "expires_at": expires_at}
            token, secret = token_service.create(session, system_context(org_id, "cli"), cli, spec)
    except AvsbError as exc:
        fail(f"{exc.message} {exc.details or ''}", USAGE_EXIT)
    finally:
        db.dispose()
    if output is Output.json:
        emit(output, {"id": token.id, "org_id": org_id, "scopes": scope, "token": secret})
        return
    console.print(f"Created token [cyan]{token.id}[/cyan] in {org_id} (shown once):")
    print(secret, flush=True)
