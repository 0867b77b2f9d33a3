"""Experiments: list (by project, status, layer, owner), create and edit (variants, weights,
params, audience, traffic share, metric roles, analysis, the sample-size estimate), the
lifecycle with a confirmation that says what will happen, and delete.
"""

from __future__ import annotations

from dataclasses import astuple
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.config import Settings
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
    validate,
    version_tag,
)
from avsb.server.dashboard.design.common import (
    conflict,
    form_target,
    options,
    org_url,
    projects,
    sent,
    state,
)
from avsb.server.dashboard.design.review_section import review_section
from avsb.server.dashboard.forms import estimate as estimate_form
from avsb.server.dashboard.forms.common import FormData, api_errors
from avsb.server.dashboard.forms.experiment_form import (
    MAX_VARIANTS,
    ROLES,
    experiment_values,
    map_errors,
    new_values,
    parse_experiment,
    variant_row_count,
)
from avsb.server.deps import SessionDep, change_context
from avsb.server.design import listing
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.experiments import lifecycle
from avsb.server.experiments import service as experiment_service
from avsb.server.experiments.schemas import ExperimentCreate, ExperimentFilters, StopBody
from avsb.server.models import Audience, ExclusionGroup, Experiment, Flag, Metric
from avsb.server.runtime import runtime_of
from avsb.server.tools import service as tool_service

router = page_router(prefix="/orgs/{org_id}/experiments")
Read = Annotated[Viewer, Depends(page("experiments:read"))]
Write = Annotated[Viewer, Depends(page("experiments:write"))]
register_nav(NavItem("Experiments", "/orgs/{org_id}/experiments", "experiments:read", "Design", 20))

STATUSES = ("draft", "running", "paused", "stopped", "archived")
LABELS = (
    ("name", "Name"), ("key", "Key"), ("description", "Description"),
    ("hypothesis", "Hypothesis"), ("traffic_percent", "Traffic (%)"),
    ("exclusion_group_id", "Exclusion group"), ("audience_id", "Audience"),
    ("analysis.method", "Method"), ("analysis.alpha", "Alpha"), ("analysis.power", "Power"),
    ("analysis.correction", "Correction"), ("analysis.stopping_rule", "Stopping rule"),
    ("analysis.mde_pct", "Minimum detectable effect (%)"),
    ("analysis.planned_sample_size", "Planned units per variant"),
    ("analysis.cuped", "CUPED"), ("analysis.two_sided", "Two-sided"),
)  # fmt: skip
ACTIONS: dict[str, tuple[str, str]] = {
    "start": ("Start", "Units matching the audience start being assigned to its variants now; "
              "from then on its key, variants, weights, audience and layer can no longer change "
              "and traffic may only grow."),
    "pause": ("Pause", "Assignment stops: units get the default experience (no variant) until "
              "you resume it. Collected data is kept."),
    "stop": ("Stop", "The experiment ends for good: no unit is assigned any more. Record the "
             "decision; a bound flag can take the winner's value as its default."),
    "archive": ("Archive", "The experiment is hidden from the default list and releases its "
                "share of the exclusion group. This cannot be undone."),
    "delete": ("Delete", "The experiment and its design are deleted. Results already computed "
               "are kept in the audit log only. This cannot be undone."),
}  # fmt: skip
MOVES = {"start": lifecycle.start, "pause": lifecycle.pause, "archive": lifecycle.archive}
ALLOWED = {**{a: lifecycle.TRANSITIONS[a][0] for a in ("start", "pause", "stop", "archive")},
           "delete": frozenset({"draft", "stopped", "archived"})}  # fmt: skip


def _settings(request: Request) -> Settings:
    return runtime_of(request).settings


def _url(experiment: Experiment) -> str:
    return org_url(experiment.org_id, "experiments", experiment.id)


def design_choices(
    request: Request, session: SessionDep, org_id: str, project_id: str
) -> dict[str, Any]:
    """The select options of the form: the project's layers, audiences and metrics."""
    metrics = listing.options(session, Metric, org_id, project_id)
    return {
        "groups": [("", "None"), *options(session, ExclusionGroup, org_id, project_id)],
        "audiences": [("", "Everyone"), *options(session, Audience, org_id, project_id)],
        "metrics": metrics,
        "roles": [("", "—"), *[(r, r.title()) for r in ROLES]],
        "project_name": dict(projects(request, session, org_id)).get(project_id, project_id),
    }


@router.get("")
def list_experiments(  # noqa: PLR0913 - one parameter per filter
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
    status: Annotated[str, Query(pattern="^(draft|running|paused|stopped|archived|)$")] = "",
    exclusion_group_id: Annotated[str, Query(max_length=40)] = "",
    owner: Annotated[str, Query(pattern="^(me|)$")] = "",
) -> Response:
    filters = ExperimentFilters(
        project_id=project_id or None,
        status=status or None,
        exclusion_group_id=exclusion_group_id or None,
    )
    mine = viewer.principal.user_id if owner == "me" else None
    result = listing.list_page(
        session, page_request(request), Experiment, org_id, filters, created_by=mine
    )
    groups = dict(options(session, ExclusionGroup, org_id, project_id or None))
    return render(
        request, "design_experiments_list.html", experiments=result.items,
        next=next_url(request, result), projects=projects(request, session, org_id),
        groups=groups, statuses=STATUSES, base=org_url(org_id, "experiments"),
        filters={"project_id": project_id, "status": status,
                 "exclusion_group_id": exclusion_group_id, "owner": owner},
    )  # fmt: skip


def _form_page(  # noqa: PLR0913 - what the form shows
    request: Request,
    session: SessionDep,
    org_id: str,
    project_id: str,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
    experiment: Experiment | None = None,
    estimate: Any = None,
    query: Any = None,
) -> Response:
    frozen = experiment is not None and experiment.status != "draft"
    heading, action, cancel, etag = astuple(
        form_target(
            org_id,
            "experiments",
            "experiment",
            experiment,
            org_url(org_id, "experiments", project_id=project_id),
        )
    )
    review = None
    if experiment is not None:
        review = review_section(session, org_id, experiment.id, query, _settings(request))
    return render(
        request, "design_experiment_form.html", status, form=state(values, errors),
        heading=heading, action=action, cancel=cancel, etag=etag, frozen=frozen,
        project_id=project_id, rows=variant_row_count(values), max_variants=MAX_VARIANTS,
        estimate=estimate, creating=experiment is None,
        estimate_url=org_url(org_id, "experiments", "estimate"),
        review=review, review_action=action,
        **design_choices(request, session, org_id, project_id),
    )  # fmt: skip


@router.get("/new")
def new_experiment(
    org_id: str,
    viewer: Write,
    session: SessionDep,
    request: Request,
    project_id: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    if not project_id:  # first choose the project: its layers, audiences and metrics follow
        return render(
            request, "design_choose_project.html", heading="New experiment",
            action=org_url(org_id, "experiments", "new"),
            projects=projects(request, session, org_id),
        )  # fmt: skip
    return _form_page(
        request, session, org_id, project_id, {**new_values(), "project_id": project_id}
    )


def _primary_type(session: SessionDep, org_id: str, form: FormData) -> str:
    for name, values in form.items():
        if name.startswith("metric_role.") and values and values[0] == "primary":
            metric = session.get(Metric, name.removeprefix("metric_role."))
            if metric is not None and metric.org_id == org_id:
                return metric.type
    return "binary"


def _estimate(session: SessionDep, org_id: str, form: FormData) -> tuple[Any, dict[str, str]]:
    """The sample size and duration of the design in ``form`` (or the errors saying why not)."""
    request, parsed = estimate_form.parse_estimate(form, _primary_type(session, org_id, form))
    if request is None:
        return None, parsed.errors
    try:
        return tool_service.sample_size(request), {}
    except AvsbError as exc:
        return None, {"estimate": exc.message}


@router.post("/estimate")
def live_estimate(org_id: str, viewer: Write, form: FormListsDep, session: SessionDep) -> Response:
    """The form's live estimate (``static/design.js`` posts the whole form here as it is
    typed): the same parsing and tools service as the "Estimate" button, answered as JSON
    with 200 either way, ``{"estimate": {...}, "problems": []}`` or ``{"estimate": null,
    "problems": [{"path", "message"}]}`` (a refused input is an answer, not a failed load)."""
    result, errors = _estimate(session, org_id, form)
    problems = [{"path": path, "message": message} for path, message in errors.items()]
    body = {"estimate": result.model_dump() if result is not None else None, "problems": problems}
    return Response(orjson.dumps(body), media_type="application/json")


@router.post("/new")
def create_experiment(
    org_id: str, viewer: Write, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    values = sent(form)
    project_id = values.get("project_id", "")
    if form.get("action") == ["estimate"]:
        result, errors = _estimate(session, org_id, form)
        return _form_page(request, session, org_id, project_id, values, errors, estimate=result)
    parsed, rows, roles = parse_experiment(form, creating=True)
    if not parsed.ok:
        return _form_page(request, session, org_id, project_id, values, parsed.errors, 422)
    ctx = change_context(request, viewer.principal, org_id)
    try:
        body = ExperimentCreate.model_validate(parsed.payload)
        experiment = experiment_service.create(session, ctx, body)
    except AvsbError as exc:
        session.rollback()
        errors = map_errors(api_errors(exc), rows, roles)
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _form_page(request, session, org_id, project_id, values, errors, code)
    return see_other(_url(experiment), f"Experiment {experiment.name!r} created as a draft.")


@router.get("/{experiment_id}")
def show_experiment(
    org_id: str, experiment_id: str, viewer: Read, session: SessionDep, request: Request
) -> Response:
    experiment = experiment_service.get(session, org_id, experiment_id)
    project_id = experiment.project_id
    metrics = {m.id: m for m in listing.options(session, Metric, org_id, project_id)}
    flags = listing.options(session, Flag, org_id, project_id)
    bound = [f for f in flags if f.experiment_id == experiment.id]
    groups = dict(options(session, ExclusionGroup, org_id, project_id))
    audiences = dict(options(session, Audience, org_id, project_id))
    actions = [a for a in ACTIONS if experiment.status in ALLOWED[a]]
    return render(
        request, "design_experiment_detail.html", experiment=experiment, url=_url(experiment),
        metrics=metrics, bound=bound, groups=groups, audiences=audiences, actions=actions,
        labels=ACTIONS, roles=ROLES, review_action=_url(experiment),
        review=review_section(
            session, org_id, experiment.id, request.query_params, _settings(request)
        ),
    )  # fmt: skip


@router.get("/{experiment_id}/edit")
def edit_experiment(
    org_id: str, experiment_id: str, viewer: Write, session: SessionDep, request: Request
) -> Response:
    experiment = experiment_service.get(session, org_id, experiment_id)
    values = experiment_values(experiment)
    return _form_page(
        request, session, org_id, experiment.project_id, values, experiment=experiment,
        query=request.query_params,
    )  # fmt: skip


@router.post("/{experiment_id}/edit")
def update_experiment(
    org_id: str,
    experiment_id: str,
    viewer: Write,
    form: FormListsDep,
    session: SessionDep,
    request: Request,
) -> Response:
    experiment = experiment_service.get(session, org_id, experiment_id)
    values, project_id = sent(form), experiment.project_id
    if form.get("action") == ["estimate"]:
        result, errors = _estimate(session, org_id, form)
        return _form_page(
            request, session, org_id, project_id, values, errors, experiment=experiment,
            estimate=result,
        )  # fmt: skip
    etag = (form.get("etag") or [""])[0]
    if changed_since(etag, experiment.id, experiment.version):
        current = experiment_values(experiment)
        what = f"Experiment {experiment.name!r}"
        return conflict(request, what, LABELS, values, current, _url(experiment), experiment)
    frozen = experiment.status != "draft"
    parsed, rows, roles = parse_experiment(form, creating=False, frozen=frozen)
    if not parsed.ok:
        return _form_page(
            request, session, org_id, project_id, values, parsed.errors, 422, experiment
        )
    try:
        ctx = change_context(request, viewer.principal, org_id)
        experiment_service.update(session, ctx, experiment, parsed.payload)
    except AvsbError as exc:
        session.rollback()
        experiment = experiment_service.get(session, org_id, experiment_id)
        errors = map_errors(api_errors(exc), rows, roles)
        code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
        return _form_page(request, session, org_id, project_id, values, errors, code, experiment)
    return see_other(_url(experiment), "Experiment saved.")


def _confirm_page(  # noqa: PLR0913 - what the confirmation shows
    request: Request,
    session: SessionDep,
    experiment: Experiment,
    action: str,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    label, message = ACTIONS[action]
    flags = listing.options(session, Flag, experiment.org_id, experiment.project_id)
    return render(
        request, "design_experiment_confirm.html", status, experiment=experiment, action=action,
        label=label, message=message, url=_url(experiment), form=state(values or {}, errors),
        etag=version_tag(experiment.id, experiment.version),
        allowed=experiment.status in ALLOWED[action],
        variants=[("", "No winner"), *[(v["key"], v["key"]) for v in experiment.variants]],
        flags=[("", "None"), *[(f.id, f"{f.name} ({f.key})") for f in flags
                               if f.experiment_id == experiment.id]],
    )  # fmt: skip


def _run(
    request: Request,
    viewer: Viewer,
    session: SessionDep,
    form: FormData,
    experiment: Experiment,
    action: str,
) -> Response:
    org_id, experiment_id = experiment.org_id, experiment.id
    url = _url(experiment)
    etag = (form.get("etag") or [""])[0]
    if changed_since(etag, experiment.id, experiment.version):
        return see_other(url, "The experiment changed meanwhile; look again and retry.", "error")
    ctx = change_context(request, viewer.principal, org_id)
    values = sent(form)
    try:
        if action == "stop":
            body = validate(StopBody, {
                "winner": values.get("winner") or None, "reason": values.get("reason", ""),
                "rollout_flag_id": values.get("rollout_flag_id") or None,
            })  # fmt: skip
            lifecycle.stop(session, ctx, experiment, body)
        elif action == "delete":
            name = experiment.name
            experiment_service.delete(session, ctx, experiment)
            return see_other(org_url(org_id, "experiments"), f"Experiment {name!r} deleted.")
        else:
            MOVES[action](session, ctx, experiment)
    except ValidationFailed as exc:
        session.rollback()
        experiment = experiment_service.get(session, org_id, experiment_id)
        return _confirm_page(request, session, experiment, action, values, api_errors(exc), 422)
    except AvsbError as exc:
        session.rollback()
        return see_other(url, exc.message, "error")
    done = {"start": "started", "pause": "paused", "stop": "stopped", "archive": "archived"}
    return see_other(url, f"Experiment {done[action]}.")


def _add_action(action: str) -> None:
    """``GET .../<action>`` asks (saying what will happen), ``POST .../<action>`` does it."""

    def confirm(
        org_id: str, experiment_id: str, viewer: Write, session: SessionDep, request: Request
    ) -> Response:
        experiment = experiment_service.get(session, org_id, experiment_id)
        return _confirm_page(request, session, experiment, action)

    def run(
        org_id: str,
        experiment_id: str,
        viewer: Write,
        form: FormListsDep,
        session: SessionDep,
        request: Request,
    ) -> Response:
        experiment = experiment_service.get(session, org_id, experiment_id)
        return _run(request, viewer, session, form, experiment, action)

    path = f"/{{experiment_id}}/{action}"
    router.add_api_route(path, confirm, methods=["GET"], name=f"dashboard_confirm_{action}")
    router.add_api_route(path, run, methods=["POST"], name=f"dashboard_{action}_experiment")


for _name in ACTIONS:
    _add_action(_name)
