"""`avsb relay`: serve one project's evaluations from a local copy of its config, kept
current by an upstream AvsB server (docs/relay.md)."""

from __future__ import annotations

from typing import Annotated

import typer

from avsb.cli import local


def relay(
    upstream: Annotated[
        str, typer.Option(envvar="AVSB_RELAY_UPSTREAM", help="Base URL of the AvsB server")
    ],
    sdk_key: Annotated[
        str, typer.Option(envvar="AVSB_RELAY_SDK_KEY", help="The project's SDK key")
    ],
    host: Annotated[str | None, typer.Option(help="Interface to bind")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port")] = None,
) -> None:
    """Serve OFREP, ABC and the SDK routes for one project, fed by an upstream server."""
    from avsb.relay.app import RelayApp
    from avsb.server import serving

    if not upstream.startswith(("http://", "https://")):
        raise typer.BadParameter("an http:// or https:// URL", param_hint="--upstream")
    settings = local.load_settings()
    if host is not None:
        settings.host = host
    if port is not None:
        settings.port = port
    app = RelayApp(settings, upstream, sdk_key)
    typer.echo(f"Relay of {upstream} serving on http://{settings.host}:{settings.port}")
    serving.serve(app, settings, app.hub.end_all)
