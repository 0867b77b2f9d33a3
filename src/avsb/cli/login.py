"""``avsb login``: check a server URL and token, and save them as a profile."""

from __future__ import annotations

from typing import Annotated

import httpx
import typer

from avsb.cli.client import (
    USAGE_EXIT,
    Output,
    OutputOpt,
    emit,
    error_message,
    fail,
    write_profile,
)


def login(
    url: Annotated[
        str, typer.Option(envvar="AVSB_URL", prompt="Server URL", help="e.g. http://127.0.0.1:8008")
    ],
    token: Annotated[
        str,
        typer.Option(envvar="AVSB_TOKEN", prompt=True, hide_input=True, help="An API token"),
    ],
    profile: Annotated[str, typer.Option(help="Save under this profile name")] = "default",
    output: OutputOpt = Output.table,
) -> None:
    """Verify the token against the server (GET /api/me) and save URL, token and
    organisation in the profiles file (mode 600)."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        fail(f"{url!r} is not an http(s) URL", USAGE_EXIT)
    try:
        response = httpx.get(
            f"{url}/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30.0
        )
    except httpx.HTTPError as exc:
        fail(f"cannot reach {url}: {exc}")
    if response.status_code != 200:
        fail(error_message(response))
    me = response.json()["data"]
    path = write_profile(profile, {"url": url, "token": token, "org_id": me["org_id"]})
    emit(
        output,
        {
            "profile": profile,
            "file": str(path),
            "url": url,
            "org_id": me["org_id"],
            "org_name": me["org_name"],
            "token_name": me["name"],
            "scopes": me["scopes"],
        },
    )
