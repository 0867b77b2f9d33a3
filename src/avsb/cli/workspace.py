"""``avsb workspace export|import``: the organisation as one document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from avsb.cli.client import Output, OutputOpt, ProfileOpt, api, emit, load_spec

app = typer.Typer(help="Workspace documents: export and import.", no_args_is_help=True)


@app.command()
def export(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Write here (default: standard output)")
    ] = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Export the whole organisation (no secrets) as a JSON document."""
    with api(profile) as client:
        document = client.request("GET", client.org("/workspace/export")).json()
    if file is None:
        emit(Output.json, document)
        return
    file.write_text(json.dumps(document, indent=2) + "\n")
    summary = {
        "file": str(file),
        "projects": len(document.get("projects", [])),
        "webhooks": len(document.get("webhooks", [])),
    }
    emit(output, summary)


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="A workspace document (JSON or YAML)")],
    validate_only: Annotated[
        bool, typer.Option("--validate-only", help="Report problems, write nothing")
    ] = False,
    renumber: Annotated[
        bool, typer.Option(help="Renumber group ids the organisation already holds")
    ] = False,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Rebuild a workspace document in this (empty) organisation."""
    document = load_spec(file)
    with api(profile) as client:
        if validate_only:
            checked = client.post(client.org("/workspace/validate"), document)
            emit(output, checked)
            if not checked.get("valid"):
                raise typer.Exit(1)
            return
        params = {"on_group_id_conflict": "renumber" if renumber else "refuse"}
        emit(output, client.post(client.org("/workspace/import"), document, params=params))
