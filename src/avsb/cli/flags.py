"""``avsb flags``: list, read, change and kill feature flags."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from avsb.cli.client import Output, OutputOpt, ProfileOpt, api, emit, load_spec

app = typer.Typer(help="Feature flags: list, get, set, kill.", no_args_is_help=True)
COLUMNS = ("id", "key", "type", "enabled", "default_value", "project_id")

Ref = Annotated[str, typer.Argument(help="Flag id or key")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="Project id or key")]


def _value(text: str) -> Any:
    """A flag value from the command line: JSON when it parses (true, 3, {"a":1}), else the
    text itself as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


@app.command("list")
def list_(
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Every flag, optionally of one project."""
    with api(profile) as client:
        pid = client.project_id(project)
        emit(output, list(client.pages(client.org("/flags"), {"project_id": pid})), COLUMNS)


@app.command()
def get(
    flag: Ref,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """One flag with its rules."""
    with api(profile) as client:
        pid = client.project_id(project)
        emit(output, client.resolve("flags", flag, pid))


@app.command()
def create(
    file: Annotated[Path, typer.Option("--file", "-f", help="Flag body, YAML or JSON")],
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Create a flag from a file (``project:`` may name the project by key)."""
    body = load_spec(file)
    with api(profile) as client:
        ref = project or body.pop("project", None) or body.get("project_id")
        if ref:
            body["project_id"] = client.resolve("projects", str(ref))["id"]
        emit(output, client.post(client.org("/flags"), body), COLUMNS)


@app.command("set")
def set_(  # noqa: PLR0913 - one parameter per option
    flag: Ref,
    default: Annotated[
        str | None, typer.Option(help="New default value (JSON, or plain text for a string)")
    ] = None,
    enabled: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Serve the rules, or kill")
    ] = None,
    rules: Annotated[
        Path | None, typer.Option(help="A YAML/JSON file {rules: [...]} replacing the rules")
    ] = None,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Change a flag's default value, on/off state or rules."""
    body: dict[str, Any] = {}
    if default is not None:
        body["default_value"] = _value(default)
    if enabled is not None:
        body["enabled"] = enabled
    if rules is not None:
        body["rules"] = load_spec(rules).get("rules", [])
    if not body:
        raise typer.BadParameter("nothing to change: give --default, --enable/--disable or --rules")
    with api(profile) as client:
        pid = client.project_id(project)
        found = client.resolve("flags", flag, pid)
        emit(output, client.patch(client.org(f"/flags/{found['id']}"), body), COLUMNS)


@app.command()
def kill(
    flag: Ref,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Kill switch: every evaluation answers the default value until re-enabled."""
    with api(profile) as client:
        pid = client.project_id(project)
        found = client.resolve("flags", flag, pid)
        done = client.patch(client.org(f"/flags/{found['id']}"), {"enabled": False})
        emit(output, done, COLUMNS)
