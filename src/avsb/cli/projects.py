"""``avsb projects``: list, show and create projects."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from avsb.cli.client import Output, OutputOpt, ProfileOpt, api, emit, load_spec

app = typer.Typer(help="Projects of the organisation.", no_args_is_help=True)
COLUMNS = ("id", "key", "name", "holdout_percent", "archived_at")


@app.command("list")
def list_(output: OutputOpt = Output.table, profile: ProfileOpt = None) -> None:
    """Every project."""
    with api(profile) as client:
        emit(output, list(client.pages(client.org("/projects"))), COLUMNS)


@app.command()
def show(
    project: Annotated[str, typer.Argument(help="Project id or key")],
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """One project."""
    with api(profile) as client:
        emit(output, client.resolve("projects", project))


@app.command()
def create(
    key: Annotated[str | None, typer.Option(help="Unique key")] = None,
    name: Annotated[str | None, typer.Option(help="Display name (default: the key)")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Body as YAML or JSON")] = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Create a project from --key/--name or a YAML/JSON file."""
    body = load_spec(file) if file else {}
    if key is not None:
        body["key"] = key
    if name is not None or "name" not in body:
        body["name"] = name or body.get("key") or ""
    if not body.get("key"):
        raise typer.BadParameter("give --key or a file with a key", param_hint="--key")
    with api(profile) as client:
        emit(output, client.post(client.org("/projects"), body))
