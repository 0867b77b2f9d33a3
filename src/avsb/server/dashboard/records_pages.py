"""Records of an organisation: the audit log, the revisions of any revisioned resource (diff
and restore), and the workspace document (export and import)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.audit import service as audit_service
from avsb.server.dashboard.core import (
    FormDep,
    FormState,
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
from avsb.server.deps import SessionDep, change_context
from avsb.server.errors import AvsbError, NotFound, ScopeMissing, ValidationFailed
from avsb.server.kit import resources
from avsb.server.models import (
    Audience,
    ExclusionGroup,
    Experiment,
    Flag,
    Metric,
    Project,
    Segment,
    Template,
    Webhook,
)
from avsb.server.models.base import Revisioned
from avsb.server.runtime import runtime_of
from avsb.server.workspace import service as workspace_service

router = page_router(prefix="/orgs/{org_id}")
AuditRead = Annotated[Viewer, Depends(page("audit:read"))]
WorkspaceRead = Annotated[Viewer, Depends(page("workspace:read"))]
WorkspaceWrite = Annotated[Viewer, Depends(page("workspace:write"))]
AnyMember = Annotated[Viewer, Depends(page(None))]

register_nav(NavItem("Audit log", "/orgs/{org_id}/audit", "audit:read", "Organisation", 30))
register_nav(NavItem("Workspace", "/orgs/{org_id}/workspace", "workspace:read", "Organisation", 40))

# Revisioned resources: resource type -> (model, scope family). A page module whose resource
# has revisions calls ``register_revisioned`` and links to ``revisions_url``.
REVISIONED: dict[str, tuple[type[Revisioned], str]] = {}


def register_revisioned(model: type[Revisioned], family: str) -> None:
    REVISIONED[model.__resource_type__] = (model, family)


for _model, _family in (
    (Project, "projects"), (Experiment, "experiments"), (Flag, "flags"),
    (Audience, "audiences"), (Segment, "segments"), (Metric, "metrics"),
    (ExclusionGroup, "exclusion_groups"), (Template, "templates"), (Webhook, "webhooks"),
):  # fmt: skip
    register_revisioned(_model, _family)


def revisions_url(org_id: str, resource_type: str, resource_id: str) -> str:
    """The revisions page of one resource."""
    parts = (quote(org_id, safe=""), quote(resource_type, safe=""), quote(resource_id, safe=""))
    return "/orgs/{}/revisions/{}/{}".format(*parts)


# Audit log -------------------------------------------------------------------------------


def _when(value: str, name: str) -> datetime | None:
    """A filter time: ``datetime-local`` (taken as UTC) or RFC 3339; empty: none."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed(
            "The audit filter is not valid.",
            [{"path": name, "message": "Not a date and time.", "type": "datetime_parsing"}],
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


FILTERS = ("action", "resource_type", "resource_id", "actor_id", "since", "until")


def audit_query(
    action: Annotated[str, Query(max_length=80)] = "",
    resource_type: Annotated[str, Query(max_length=40)] = "",
    resource_id: Annotated[str, Query(max_length=40)] = "",
    actor_id: Annotated[str, Query(max_length=40)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
) -> dict[str, str]:
    """The audit page's filter fields, as typed."""
    return dict(
        zip(FILTERS, (action, resource_type, resource_id, actor_id, since, until), strict=True)
    )


@router.get("/audit")
def audit_log(
    org_id: str,
    viewer: AuditRead,
    session: SessionDep,
    request: Request,
    values: Annotated[dict[str, str], Depends(audit_query)],
) -> Response:
    action, resource_type, resource_id, actor_id, since, until = (values[k] for k in FILTERS)
    try:
        f = audit_service.AuditFilter(
            action or None, resource_type or None, resource_id or None, actor_id or None,
            _when(since, "since"), _when(until, "until"),
        )  # fmt: skip
    except ValidationFailed as exc:
        return render(
            request, "audit.html", 422, events=[], next=None, form=FormState.failed(values, exc),
            export="", base=f"/orgs/{quote(org_id, safe='')}",
        )  # fmt: skip
    result = audit_service.list_page(session, page_request(request), org_id, f)
    api_query = {k: v for k, v in values.items() if v and k not in ("since", "until")}
    for name, moment in (("since", f.since), ("until", f.until)):
        if moment is not None:
            api_query[name] = moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    export = f"/api/orgs/{quote(org_id, safe='')}/audit/export?" + urlencode(api_query)
    events = [
        {"event": e, "diff": orjson.dumps(e.diff, option=orjson.OPT_SORT_KEYS).decode()}
        for e in result.items
    ]
    return render(
        request, "audit.html", events=events, next=next_url(request, result),
        form=FormState(values), export=export, base=f"/orgs/{quote(org_id, safe='')}",
    )  # fmt: skip


# Revisions -------------------------------------------------------------------------------


def _revisioned(resource_type: str) -> tuple[type[Revisioned], str]:
    found = REVISIONED.get(resource_type)
    if found is None:
        raise NotFound(f"No revisioned resource type {resource_type!r}.")
    return found


def _shown(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _gate(viewer: Viewer, family: str, access: str) -> None:
    """The resource family's scope, checked like the page gate does for fixed pages."""
    if not viewer.can(f"{family}:{access}"):
        raise ScopeMissing(
            f"Token is missing required scope: {family}:{access}",
            details={"missingScope": f"{family}:{access}"},
        )


@dataclass(frozen=True)
class Target:
    """The resource a revisions page is about (from the path)."""

    org_id: str
    resource_type: str
    resource_id: str

    @property
    def url(self) -> str:
        return revisions_url(self.org_id, self.resource_type, self.resource_id)


def target(org_id: str, resource_type: str, resource_id: str) -> Target:
    return Target(org_id, resource_type, resource_id)


TargetDep = Annotated[Target, Depends(target)]


@router.get("/revisions/{resource_type}/{resource_id}")
def revisions(
    t: TargetDep,
    viewer: AnyMember,
    session: SessionDep,
    request: Request,
    a: Annotated[int | None, Query(ge=1)] = None,
    b: Annotated[int | None, Query(ge=1)] = None,
) -> Response:
    org_id, resource_type, resource_id = t.org_id, t.resource_type, t.resource_id
    model, family = _revisioned(resource_type)
    _gate(viewer, family, "read")
    obj = resources.get_in_org(session, model, org_id, resource_id)
    history = resources.list_revisions(session, obj)
    numbers = [r.number for r in history]
    by_number = {r.number: r for r in history}
    newest = numbers[-1] if numbers else None
    left = a if a in by_number else (numbers[-2] if len(numbers) > 1 else newest)
    right = b if b in by_number else newest
    rows = []
    if left is not None and right is not None:
        old, new = by_number[left].snapshot, by_number[right].snapshot
        for name in sorted(set(old) | set(new)):
            rows.append(
                (name, _shown(old.get(name)), _shown(new.get(name)), old.get(name) != new.get(name))
            )
    return render(
        request, "revisions.html", resource_type=resource_type, obj=obj,
        name=getattr(obj, "name", None) or getattr(obj, "key", None) or obj.id,
        history=list(reversed(history)), left=left, right=right, rows=rows,
        url=revisions_url(org_id, resource_type, resource_id), family=family,
    )  # fmt: skip


@router.get("/revisions/{resource_type}/{resource_id}/{number}/restore")
def confirm_restore(
    t: TargetDep, number: int, viewer: AnyMember, session: SessionDep, request: Request
) -> Response:
    org_id, resource_type, resource_id = t.org_id, t.resource_type, t.resource_id
    model, family = _revisioned(resource_type)
    _gate(viewer, family, "write")
    obj = resources.get_in_org(session, model, org_id, resource_id)
    url = revisions_url(org_id, resource_type, resource_id)
    return render(
        request, "confirm.html", heading=f"Restore revision {number}?",
        message=f"The {resource_type} gets the fields it had in revision {number}; the restore "
        "is itself a new revision, so it can be undone the same way.",
        action=f"{url}/{number}/restore", button=f"Restore revision {number}", cancel=url,
        fields={"etag": version_tag(obj.id, obj.version)},
    )  # fmt: skip


@router.post("/revisions/{resource_type}/{resource_id}/{number}/restore")
def restore(
    t: TargetDep, number: int, viewer: AnyMember, form: FormDep, session: SessionDep,
    request: Request,
) -> Response:  # fmt: skip
    org_id, resource_type, resource_id = t.org_id, t.resource_type, t.resource_id
    model, family = _revisioned(resource_type)
    _gate(viewer, family, "write")
    obj = resources.get_in_org(session, model, org_id, resource_id)
    url = revisions_url(org_id, resource_type, resource_id)
    if changed_since(form.get("etag"), obj.id, obj.version):
        return see_other(
            url, "It changed meanwhile; look at the newest revision and retry.", "error"
        )
    try:
        resources.restore(session, change_context(request, viewer.principal, org_id), obj, number)
        after: Any = getattr(model, "__after_restore__", None)
        if after is not None:
            after(session, obj)
    except AvsbError as exc:
        session.rollback()
        return see_other(url, exc.message, "error")
    return see_other(url, f"Revision {number} restored.")


# Workspace -------------------------------------------------------------------------------


def _workspace_page(
    request: Request, org_id: str, form: FormState, status: int = 200, **extra: Any
) -> Response:
    context: dict[str, Any] = {"problems": [], "imported": None, "valid": None, **extra}
    return render(
        request, "workspace.html", status, form=form,
        export=f"/api/orgs/{quote(org_id, safe='')}/workspace/export",
        action=f"/orgs/{quote(org_id, safe='')}/workspace", **context,
    )  # fmt: skip


@router.get("/workspace")
def workspace(org_id: str, viewer: WorkspaceRead, request: Request) -> Response:
    return _workspace_page(request, org_id, FormState({"on_group_id_conflict": "refuse"}))


@router.post("/workspace")
def import_workspace(
    org_id: str, viewer: WorkspaceWrite, form: FormDep, session: SessionDep, request: Request
) -> Response:
    allow_private = runtime_of(request).settings.webhooks_allow_private_networks
    shown = FormState({**form, "document": ""})  # the document is not echoed back
    try:
        document = orjson.loads(form.get("document", ""))
    except orjson.JSONDecodeError as exc:
        problems = [{"path": "$", "message": f"Not JSON: {exc}"}]
        return _workspace_page(request, org_id, shown, 422, problems=problems)
    if form.get("mode") == "validate":
        found = workspace_service.validate_document(document, allow_private=allow_private)
        problems = [p.model_dump() for p in found]
        return _workspace_page(
            request, org_id, shown, 422 if problems else 200, problems=problems, valid=not problems
        )
    conflict = form.get("on_group_id_conflict", "refuse")
    if conflict not in ("refuse", "renumber"):
        conflict = "refuse"
    try:
        result = workspace_service.import_document(
            session, change_context(request, viewer.principal, org_id), document,
            allow_private=allow_private, on_group_id_conflict=conflict,  # type: ignore[arg-type]
        )  # fmt: skip
    except AvsbError as exc:
        session.rollback()
        problems = list(exc.details.get("problems") or [])
        if not problems:
            problems = [{"path": "$", "message": exc.message}]
        return _workspace_page(request, org_id, shown, exc.status_code, problems=problems)
    return _workspace_page(request, org_id, FormState(), imported=result)
