"""``avsb tokens``: service and SDK tokens through the API (``avsb token create`` is the
local command that writes straight to the database, for the first token)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from avsb.cli.client import Output, OutputOpt, ProfileOpt, api, console, emit

app = typer.Typer(help="API tokens: create, list, rotate, revoke.", no_args_is_help=True)
COLUMNS = ("id", "name", "kind", "status", "scopes", "token_prefix", "expires_at")


def _show_secret(output: Output, data: dict[str, object]) -> None:
    emit(output, data, (*COLUMNS, "token"))
    if output is Output.table:
        console.print("[yellow]The secret is shown once: keep it now.[/yellow]")


@app.command()
def create(  # noqa: PLR0913 - one parameter per option
    name: Annotated[str, typer.Option(help="A name to recognise the token by")],
    scope: Annotated[
        list[str] | None, typer.Option(help="A scope such as projects:read; repeatable")
    ] = None,
    kind: Annotated[str, typer.Option(help="service, or sdk (evaluation only)")] = "service",
    project: Annotated[str | None, typer.Option(help="Project id or key (sdk tokens)")] = None,
    expires_at: Annotated[
        datetime | None, typer.Option(help="Expiry, ISO 8601 (UTC when no offset)")
    ] = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Create a token; its secret is printed once."""
    with api(profile) as client:
        body: dict[str, object] = {"name": name, "kind": kind, "scopes": scope or []}
        if project:
            body["project_id"] = client.resolve("projects", project)["id"]
        if expires_at is not None:
            when = expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=UTC)
            body["expires_at"] = when.isoformat()
        _show_secret(output, client.post(client.org("/tokens"), body))


@app.command("list")
def list_(output: OutputOpt = Output.table, profile: ProfileOpt = None) -> None:
    """Every token of the organisation (never their secrets)."""
    with api(profile) as client:
        emit(output, list(client.pages(client.org("/tokens"))), COLUMNS)


@app.command()
def rotate(
    token_id: Annotated[str, typer.Argument(help="Token id")],
    grace_period: Annotated[
        int, typer.Option(help="Seconds the old secret keeps working", min=0)
    ] = 0,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """A new secret for the token; the old one stops after the grace period."""
    with api(profile) as client:
        body = {"grace_period_seconds": grace_period}
        _show_secret(output, client.post(client.org(f"/tokens/{token_id}/rotate"), body))


@app.command()
def revoke(
    token_id: Annotated[str, typer.Argument(help="Token id")],
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Revoke a token now."""
    with api(profile) as client:
        emit(output, client.post(client.org(f"/tokens/{token_id}/revoke")), COLUMNS)
