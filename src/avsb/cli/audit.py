"""``avsb audit tail``: the audit log, optionally followed as it grows."""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from avsb.cli.client import Api, Json, Output, OutputOpt, ProfileOpt, api, console, emit

app = typer.Typer(help="The audit log.", no_args_is_help=True)
COLUMNS = ("occurred_at", "actor_name", "action", "resource_type", "resource_id")


def _fetch(client: Api, since: str, seen: set[str], action: str | None) -> list[Json]:
    params = {"since": since, "action": action, "limit": 100}
    fresh = [e for e in client.pages(client.org("/audit"), params) if e["id"] not in seen]
    seen.update(e["id"] for e in fresh)
    return sorted(fresh, key=lambda e: (e["occurred_at"], e["id"]))


@app.command()
def tail(
    since_minutes: Annotated[
        float, typer.Option("--since-minutes", min=0, help="Start this far back")
    ] = 60.0,
    action: Annotated[str | None, typer.Option(help="Only this action, e.g. flag.updated")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep polling for more")] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between polls")] = 2.0,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Recent audit events; with --follow, new ones as they happen (Ctrl-C to stop).

    ``--output json`` prints a JSON list, or with --follow one JSON object per line."""
    since = (datetime.now(UTC) - timedelta(minutes=since_minutes)).isoformat()
    seen: set[str] = set()
    with api(profile) as client:
        events = _fetch(client, since, seen, action)
        if not follow:
            emit(output, events, COLUMNS)
            return
        try:
            while True:
                for event in events:
                    if output is Output.json:
                        sys.stdout.write(json.dumps(event) + "\n")
                        sys.stdout.flush()
                    else:
                        console.print(
                            " ".join(str(event.get(c) or "-") for c in COLUMNS), highlight=False
                        )
                    since = max(since, event["occurred_at"])
                time.sleep(interval)
                events = _fetch(client, since, seen, action)
        except KeyboardInterrupt:
            return
