"""Metrics: list, create, edit (with the edit-conflict flow) and delete."""

from __future__ import annotations

from dataclasses import astuple
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormListsDep,
    NavItem,
    Viewer,
    page,
    page_router,
    register_nav,
    render,
    see_other,
    validate,
)
from avsb.server.dashboard.design.common import (
    CrudPages,
    Edited,
    form_target,
    get,
    org_url,
    projects,
    sent,
    state,
)
from avsb.server.dashboard.forms.common import FormData, api_errors, number_text
from avsb.server.deps import SessionDep, change_context
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.metrics import service as metric_service
from avsb.server.metrics.schemas import MetricCreate, MetricFilters, MetricPatch
from avsb.server.models import Metric

router = page_router(prefix="/orgs/{org_id}/metrics")
Read = Annotated[Viewer, Depends(page("metrics:read"))]
Write = Annotated[Viewer, Depends(page("metrics:write"))]
register_nav(NavItem("Metrics", "/orgs/{org_id}/metrics", "metrics:read", "Design", 50))

TYPES = ("binary", "count", "sum", "mean", "ratio", "quantile", "categorical")
LABELS = (
    ("name", "Name"), ("key", "Key"), ("description", "Description"), ("type", "Type"),
    ("event_name", "Event"), ("value_property", "Value property"),
    ("denominator_event_name", "Denominator event"), ("window_hours", "Window (hours)"),
    ("winsorize_percentile", "Winsorize at percentile"), ("winsorize_cap", "Winsorize cap"),
    ("quantile", "Quantile"), ("lower_is_better", "Lower is better"), ("test", "Test"),
    ("interval", "Interval"),
)  # fmt: skip
OPTIONAL = ("value_property", "denominator_event_name", "window_hours", "winsorize_percentile",
            "winsorize_cap", "quantile")  # fmt: skip


def _url(metric: Metric) -> str:
    return org_url(metric.org_id, "metrics", metric.id)


def _fields(values: dict[str, str], creating: bool) -> dict[str, Any]:
    """The body of the API: empty optional fields are null (left out of a create)."""
    out: dict[str, Any] = {name: values.get(name, "") for name, _ in LABELS}
    out["lower_is_better"] = values.get("lower_is_better", "") == "on"
    for name in OPTIONAL:
        if out[name] == "":
            out[name] = None
    if creating:
        out["project_id"] = values.get("project_id", "")
        out = {k: v for k, v in out.items() if v is not None}
    return out


def _stored(metric: Metric) -> dict[str, str]:
    values = {name: getattr(metric, name) for name, _ in LABELS}
    for name in ("window_hours", "winsorize_percentile", "winsorize_cap", "quantile"):
        values[name] = number_text(values[name])
    values["lower_is_better"] = "on" if metric.lower_is_better else ""
    return {k: "" if v is None else str(v) for k, v in values.items()}


@router.get("")
def list_metrics(
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    return PAGES.list_page(request, session, org_id, project_id)


def _form_page(  # noqa: PLR0913 - what the form shows
    request: Request,
    session: SessionDep,
    org_id: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    metric: Metric | None = None,
) -> Response:
    heading, action, cancel, etag = astuple(form_target(org_id, "metrics", "metric", metric))
    return render(
        request, "design_metric_form.html", status, form=state(values, errors),
        heading=heading, action=action, cancel=cancel, etag=etag, creating=metric is None,
        projects=projects(request, session, org_id), types=[(t, t) for t in TYPES],
    )  # fmt: skip


def _read_edit(form: FormData, metric: Metric) -> Edited:
    try:
        body = validate(MetricPatch, _fields(sent(form), False))
    except AvsbError as exc:
        return Edited(None, api_errors(exc))
    dumped = body.model_dump()
    return Edited({name: dumped[name] for name in body.model_fields_set})


PAGES = CrudPages(
    Metric, collection="metrics", noun="metric", short="metric", filters=MetricFilters,
    list_template="design_metrics_list.html", items="metrics", labels=LABELS,
    stored=_stored, form_page=_form_page, read_edit=_read_edit,
    update=metric_service.update, delete=metric_service.delete,
)  # fmt: skip


@router.get("/new")
def new_metric(
    org_id: str,
    viewer: Write,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    values = {"project_id": project_id, "type": "binary", "window_hours": "168",
              "test": "welch", "interval": "normal"}  # fmt: skip
    return _form_page(request, session, org_id, values)


@router.post("/new")
def create_metric(
    org_id: str, viewer: Write, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    values = sent(form)
    try:
        body = validate(MetricCreate, _fields(values, True))
        ctx = change_context(request, viewer.principal, org_id)
        metric = metric_service.create(session, ctx, body)
    except AvsbError as exc:
        session.rollback()
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _form_page(request, session, org_id, values, api_errors(exc), code)
    return see_other(_url(metric), f"Metric {metric.name!r} created.")


@router.get("/{metric_id}")
def show_metric(
    org_id: str, metric_id: str, viewer: Read, session: SessionDep, request: Request
) -> Response:
    metric = get(session, Metric, org_id, metric_id)
    return render(
        request, "design_metric_detail.html", metric=metric, url=_url(metric),
        labels=LABELS, values=_stored(metric),
    )  # fmt: skip


@router.get("/{metric_id}/edit")
def edit_metric(
    org_id: str, metric_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    metric = get(session, Metric, org_id, metric_id)
    return _form_page(request, session, org_id, _stored(metric), metric=metric)


@router.post("/{metric_id}/edit")
def update_metric(
    org_id: str,
    metric_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    return PAGES.edit_page(request, session, viewer, org_id, metric_id, form)


@router.get("/{metric_id}/delete")
def confirm_delete(
    org_id: str, metric_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    metric = get(session, Metric, org_id, metric_id)
    message = "A metric an experiment uses cannot be deleted. This cannot be undone."
    return PAGES.confirm_delete_page(request, metric, message)


@router.post("/{metric_id}/delete")
def delete_metric(
    org_id: str,
    metric_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    return PAGES.delete_page(request, session, viewer, org_id, metric_id, form)
