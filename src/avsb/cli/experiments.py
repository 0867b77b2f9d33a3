"""``avsb experiments``: create from a spec file, move through the lifecycle, read results."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from avsb.cli.client import (
    USAGE_EXIT,
    Api,
    Json,
    Output,
    OutputOpt,
    ProfileOpt,
    api,
    console,
    emit,
    fail,
    load_spec,
)

app = typer.Typer(help="Experiments: create, start, pause, stop, results.", no_args_is_help=True)
COLUMNS = ("id", "key", "name", "status", "project_id", "started_at")
ROLES = ("primary", "secondary", "guardrail")

Ref = Annotated[str, typer.Argument(help="Experiment id or key")]
ProjectOpt = Annotated[str | None, typer.Option("--project", "-p", help="Project id or key")]


def _project_id(client: Api, spec: Json, project: str | None) -> str:
    ref = project or spec.pop("project", None) or spec.get("project_id")
    if not ref:
        fail("name the project: --project, or `project:` in the spec file", USAGE_EXIT)
    return str(client.resolve("projects", str(ref))["id"])


def _metric_id(client: Api, project_id: str, entry: Any) -> str:
    """A metric reference of the spec: an id, a key, or a whole metric definition (created
    unless a metric of its key exists in the project)."""
    if isinstance(entry, str):
        return str(client.resolve("metrics", entry, project_id)["id"])
    if not isinstance(entry, dict) or not entry.get("key"):
        fail(f"a metric of the spec must be an id, a key or a mapping with a key: {entry!r}", 2)
    existing = [
        m
        for m in client.pages(
            client.org("/metrics"), {"project_id": project_id, "key_prefix": entry["key"]}
        )
        if m["key"] == entry["key"]
    ]
    if existing:
        return str(existing[0]["id"])
    body = {"name": entry["key"], **entry, "project_id": project_id}
    return str(client.post(client.org("/metrics"), body)["id"])


def build_body(client: Api, spec: Json, project: str | None) -> Json:
    """The API body of an experiment spec: ``project`` by key, metrics by key or inline."""
    body = dict(spec)
    project_id = _project_id(client, body, project)
    body["project_id"] = project_id
    metrics = body.get("metrics")
    if isinstance(metrics, dict):
        body["metrics"] = {
            role: [_metric_id(client, project_id, m) for m in metrics.get(role) or []]
            for role in ROLES
            if role in metrics
        }
    return body


@app.command("list")
def list_(
    project: ProjectOpt = None,
    status: Annotated[str | None, typer.Option(help="draft, running, paused, stopped...")] = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Experiments, optionally of one project or status."""
    with api(profile) as client:
        pid = client.project_id(project)
        items = list(
            client.pages(client.org("/experiments"), {"project_id": pid, "status": status})
        )
        emit(output, items, COLUMNS)


@app.command()
def show(
    experiment: Ref,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """One experiment."""
    with api(profile) as client:
        pid = client.project_id(project)
        emit(output, client.resolve("experiments", experiment, pid))


@app.command()
def create(
    file: Annotated[Path, typer.Option("--file", "-f", help="Experiment spec, YAML or JSON")],
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Create an experiment (a draft) from a spec file.

    The spec is the API body, with two conveniences: ``project:`` may name the project by
    key, and each entry of ``metrics.primary/secondary/guardrail`` may be a metric id, a
    metric key, or a metric definition (created when the project has no metric of its key)."""
    spec = load_spec(file)
    with api(profile) as client:
        body = build_body(client, spec, project)
        emit(output, client.post(client.org("/experiments"), body), COLUMNS)


def _act(experiment: str, project: str | None, action: str, body: Json | None, profile: str | None,
         output: Output) -> None:  # fmt: skip
    with api(profile) as client:
        pid = client.project_id(project)
        found = client.resolve("experiments", experiment, pid)
        done = client.post(client.org(f"/experiments/{found['id']}/{action}"), body)
        emit(output, done, COLUMNS)


@app.command()
def start(
    experiment: Ref,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Start (or resume) an experiment."""
    _act(experiment, project, "start", None, profile, output)


@app.command()
def pause(
    experiment: Ref,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Pause a running experiment."""
    _act(experiment, project, "pause", None, profile, output)


@app.command()
def stop(  # noqa: PLR0913 - one parameter per option
    experiment: Ref,
    winner: Annotated[str | None, typer.Option(help="The winning variant key")] = None,
    reason: Annotated[str, typer.Option(help="Why, for the record")] = "",
    rollout_flag: Annotated[
        str | None, typer.Option(help="A flag bound to it: the winner becomes its default")
    ] = None,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """Stop an experiment and record the decision."""
    body = {"winner": winner, "reason": reason, "rollout_flag_id": rollout_flag}
    _act(experiment, project, "stop", body, profile, output)


def _fmt(value: Any, pct: bool = False) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2%}" if pct else f"{value:.4g}"
    return str(value)


def results_table(data: Json) -> Table:
    table = Table(
        "metric", "role", "variant", "units", "mean", "effect", "CI", "p", "win?",
        title=f"Results of {data.get('experiment_key', '')}",
    )  # fmt: skip
    for metric in data.get("metrics", []):
        comparisons = {c["variant"]: c for c in metric.get("comparisons", [])}
        for variant in metric.get("variants", []):
            c = comparisons.get(variant["key"])
            relative = bool(c and c.get("difference_type") == "relative")
            ci = c.get("ci") if c else None
            table.add_row(
                metric["key"],
                metric["role"],
                variant["key"],
                str(variant["n"]),
                _fmt(variant.get("mean")),
                _fmt(c["estimate"], relative) if c else "",
                f"[{_fmt(ci[0], relative)}, {_fmt(ci[1], relative)}]" if ci else "",
                _fmt(c.get("adjusted_p_value") or c.get("p_value")) if c else "",
                ("yes" if c["significant"] else "no") if c else "",
            )
        if metric.get("error"):
            table.add_row(metric["key"], metric["role"], "", "", metric["error"]["message"])
    return table


@app.command()
def results(
    experiment: Ref,
    segment: Annotated[str | None, typer.Option(help="attribute=value or a segment id")] = None,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """The experiment's results: per metric and variant, the effect against control."""
    with api(profile) as client:
        pid = client.project_id(project)
        found = client.resolve("experiments", experiment, pid)
        data = client.get(
            client.org(f"/experiments/{found['id']}/results"),
            params={"segment": segment} if segment else None,
        )
    if output is Output.json:
        emit(output, data)
        return
    console.print(results_table(data))
    health = data.get("health") or {}
    srm = health.get("srm") or {}
    if srm:
        console.print(f"Sample ratio: {srm.get('status')} - {srm.get('message')}")


@app.command()
def decision(
    experiment: Ref,
    project: ProjectOpt = None,
    output: OutputOpt = Output.table,
    profile: ProfileOpt = None,
) -> None:
    """The decision support for an experiment (ship, keep running, or stop)."""
    with api(profile) as client:
        pid = client.project_id(project)
        found = client.resolve("experiments", experiment, pid)
        emit(output, client.get(client.org(f"/experiments/{found['id']}/decision")))
