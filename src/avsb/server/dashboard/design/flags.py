"""Flags: list (by project, on / off), create and edit (type, typed default, kill switch,
rules with audiences, inline rule trees and percentage rollouts, the experiment binding),
the kill switch and delete, each asking first."""

from __future__ import annotations

from dataclasses import astuple
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormListsDep,
    NavItem,
    Viewer,
    changed_since,
    next_url,
    page,
    page_request,
    page_router,
    register_nav,
    render,
    see_other,
    version_tag,
)
from avsb.server.dashboard.design.common import (
    conflict,
    form_target,
    get,
    options,
    org_url,
    projects,
    sent,
    state,
)
from avsb.server.dashboard.forms.common import api_errors
from avsb.server.dashboard.forms.flag_form import (
    MAX_RULE_ROWS,
    TYPES,
    flag_values,
    map_errors,
    parse_flag,
)
from avsb.server.dashboard.forms.rule_tree import ROW_OPERATORS
from avsb.server.deps import SessionDep, change_context
from avsb.server.design import listing
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.experiments import service as experiment_service
from avsb.server.flags import service as flag_service
from avsb.server.flags.schemas import FlagCreate, FlagFilters
from avsb.server.models import Audience, Experiment, Flag

router = page_router(prefix="/orgs/{org_id}/flags")
Read = Annotated[Viewer, Depends(page("flags:read"))]
Write = Annotated[Viewer, Depends(page("flags:write"))]
register_nav(NavItem("Flags", "/orgs/{org_id}/flags", "flags:read", "Design", 30))

LABELS = (
    ("name", "Name"), ("key", "Key"), ("description", "Description"), ("type", "Type"),
    ("default_value", "Default value"), ("enabled", "On"), ("experiment_id", "Experiment"),
    ("experiment_param", "Experiment param"),
)  # fmt: skip
RULE_TREE_ROWS = 3


def _url(flag: Flag) -> str:
    return org_url(flag.org_id, "flags", flag.id)


@router.get("")
def list_flags(
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
    enabled: Annotated[str, Query(pattern="^(true|false|)$")] = "",
) -> Response:
    on = None if enabled == "" else enabled == "true"
    filters = FlagFilters(project_id=project_id or None, enabled=on)
    result = listing.list_page(session, page_request(request), Flag, org_id, filters)
    return render(
        request, "design_flags_list.html", flags=result.items, next=next_url(request, result),
        projects=projects(request, session, org_id), base=org_url(org_id, "flags"),
        filters={"project_id": project_id, "enabled": enabled},
    )  # fmt: skip


def _rule_rows(values: dict[str, Any]) -> int:
    used = [i for i in range(MAX_RULE_ROWS) if any(k.startswith(f"rules.{i}.") for k in values)]
    return min(MAX_RULE_ROWS, (max(used) + 1 if used else 0) + 1)


def _form_page(  # noqa: PLR0913 - what the form shows
    request: Request,
    session: SessionDep,
    org_id: str,
    project_id: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    flag: Flag | None = None,
) -> Response:
    heading, action, cancel, etag = astuple(
        form_target(org_id, "flags", "flag", flag, org_url(org_id, "flags", project_id=project_id))
    )
    experiments = [
        (e.id, f"{e.name} ({e.key}, {e.status})")
        for e in listing.options(session, Experiment, org_id, project_id)
        if e.status != "archived"
    ]
    return render(
        request, "design_flag_form.html", status, form=state(values, errors), heading=heading,
        action=action, cancel=cancel, etag=etag, project_id=project_id, creating=flag is None,
        types=[(t, t) for t in TYPES], rule_rows=_rule_rows(values),
        tree_rows=RULE_TREE_ROWS, operators=[(o, o) for o in ROW_OPERATORS],
        audiences=[("", "Everyone"), *options(session, Audience, org_id, project_id)],
        experiments=[("", "Not bound"), *experiments],
        project_name=dict(projects(request, session, org_id)).get(project_id, project_id),
    )  # fmt: skip


@router.get("/new")
def new_flag(
    org_id: str,
    viewer: Write,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
    experiment_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    if not project_id:
        return render(
            request, "design_choose_project.html", heading="New flag",
            action=org_url(org_id, "flags", "new"), projects=projects(request, session, org_id),
        )  # fmt: skip
    values = {"type": "boolean", "default_value": "false", "enabled": "on"}
    if experiment_id:
        experiment = experiment_service.get(session, org_id, experiment_id)
        params = [k for v in experiment.variants for k in v["params"]]
        values.update(experiment_id=experiment.id, experiment_param=params[0] if params else "")
        values.update(type="string", default_value="", key=experiment.key)
    return _form_page(request, session, org_id, project_id, values)


def _errors(exc: AvsbError, rows: dict[int, list[int]], form: FormListsDep) -> dict[str, str]:
    return map_errors(api_errors(exc), rows, form)


@router.post("/new")
def create_flag(
    org_id: str, viewer: Write, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    values = sent(form)
    project_id = values.get("project_id", "")
    parsed, rows = parse_flag(form, creating=True)
    if not parsed.ok:
        return _form_page(request, session, org_id, project_id, values, parsed.errors, 422)
    try:
        ctx = change_context(request, viewer.principal, org_id)
        flag = flag_service.create(session, ctx, FlagCreate.model_validate(parsed.payload))
    except AvsbError as exc:
        session.rollback()
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        errors = _errors(exc, rows, form)
        return _form_page(request, session, org_id, project_id, values, errors, code)
    return see_other(_url(flag), f"Flag {flag.key!r} created.")


@router.get("/{flag_id}")
def show_flag(
    org_id: str, flag_id: str, viewer: Read, session: SessionDep, request: Request
) -> Response:
    flag = get(session, Flag, org_id, flag_id)
    audiences = dict(options(session, Audience, org_id, flag.project_id))
    experiment = None
    if flag.experiment_id:
        experiment = experiment_service.get(session, org_id, flag.experiment_id)
    return render(
        request, "design_flag_detail.html", flag=flag, url=_url(flag), audiences=audiences,
        experiment=experiment, values=flag_values(flag),
    )  # fmt: skip


@router.get("/{flag_id}/edit")
def edit_flag(
    org_id: str, flag_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    flag = get(session, Flag, org_id, flag_id)
    return _form_page(request, session, org_id, flag.project_id, flag_values(flag), flag=flag)


@router.post("/{flag_id}/edit")
def update_flag(
    org_id: str,
    flag_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    flag = get(session, Flag, org_id, flag_id)
    values = sent(form)
    if changed_since((form.get("etag") or [""])[0], flag.id, flag.version):
        what = f"Flag {flag.key!r}"
        return conflict(request, what, LABELS, values, flag_values(flag), _url(flag), flag)
    parsed, rows = parse_flag(form, creating=False)
    if not parsed.ok:
        return _form_page(
            request, session, org_id, flag.project_id, values, parsed.errors, 422, flag
        )
    try:
        ctx = change_context(request, viewer.principal, org_id)
        flag_service.update(session, ctx, flag, parsed.payload)
    except AvsbError as exc:
        session.rollback()
        flag = get(session, Flag, org_id, flag_id)
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        errors = _errors(exc, rows, form)
        return _form_page(request, session, org_id, flag.project_id, values, errors, code, flag)
    return see_other(_url(flag), "Flag saved.")


def _confirm(request: Request, flag: Flag, action: str) -> Response:
    url = _url(flag)
    if action == "delete":
        heading = f"Delete flag {flag.key}?"
        message = ("SDKs asking for it get their own fallback from the next config version on. "
                   "This cannot be undone.")  # fmt: skip
        button = "Delete flag"
    elif flag.enabled:
        heading, button = f"Turn {flag.key} off?", "Turn off"
        message = ("Kill switch: every unit gets the default value "
                   f"({flag_values(flag)['default_value']}) and the rules are ignored "
                   "until you turn it on again.")  # fmt: skip
    else:
        heading, button = f"Turn {flag.key} on?", "Turn on"
        message = "Its rules and experiment binding apply again from the next config version on."
    return render(
        request, "confirm.html", heading=heading, message=message, action=f"{url}/{action}",
        button=button, cancel=url, fields={"etag": version_tag(flag.id, flag.version)},
    )  # fmt: skip


@router.get("/{flag_id}/toggle")
def confirm_toggle(
    org_id: str, flag_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    return _confirm(request, get(session, Flag, org_id, flag_id), "toggle")


@router.get("/{flag_id}/delete")
def confirm_delete(
    org_id: str, flag_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    return _confirm(request, get(session, Flag, org_id, flag_id), "delete")


def _change(request: Request, viewer: Viewer, session: SessionDep, flag: Flag, etag: str,
            delete: bool) -> Response:  # fmt: skip
    url = _url(flag)
    if changed_since(etag, flag.id, flag.version):
        return see_other(url, "The flag changed meanwhile; look again and retry.", "error")
    ctx = change_context(request, viewer.principal, flag.org_id)
    try:
        if delete:
            flag_service.delete(session, ctx, flag)
            return see_other(org_url(flag.org_id, "flags"), f"Flag {flag.key!r} deleted.")
        flag_service.update(session, ctx, flag, {"enabled": not flag.enabled})
    except AvsbError as exc:
        session.rollback()
        return see_other(url, exc.message, "error")
    return see_other(url, f"Flag turned {'on' if flag.enabled else 'off'}.")


@router.post("/{flag_id}/toggle")
def toggle_flag(
    org_id: str,
    flag_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    flag = get(session, Flag, org_id, flag_id)
    return _change(request, viewer, session, flag, (form.get("etag") or [""])[0], False)


@router.post("/{flag_id}/delete")
def delete_flag(
    org_id: str,
    flag_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    flag = get(session, Flag, org_id, flag_id)
    return _change(request, viewer, session, flag, (form.get("etag") or [""])[0], True)
