"""What the design pages share: urls, select options, form states, the conflict page, and the
list, edit and delete pages of a design resource (``CrudPages``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Request
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormState,
    Viewer,
    changed_since,
    conflict_rows,
    next_url,
    page_request,
    render,
    see_other,
    version_tag,
)
from avsb.server.dashboard.forms import rule_tree
from avsb.server.dashboard.forms.common import FormData, Parsed, api_errors
from avsb.server.deps import change_context
from avsb.server.design import listing
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.models.scoped import ProjectScoped
from avsb.server.projects import service as project_service

MAX_PROJECTS = 500
R = TypeVar("R", bound=ProjectScoped)


def org_url(org_id: str, *parts: str, **query: str) -> str:
    """``/orgs/<org>/<parts...>`` with each part quoted, plus a query of the non-empty items."""
    path = "/orgs/" + "/".join(quote(p, safe="") for p in (org_id, *parts))
    kept = {k: v for k, v in query.items() if v}
    return path + ("?" + urlencode(kept) if kept else "")


def projects(request: Request, session: Session, org_id: str) -> list[tuple[str, str]]:
    """``(id, "name (key)")`` of the organisation's active projects, for a project select."""
    result = project_service.list_page(session, page_request(request, MAX_PROJECTS), org_id, False)
    return [(p.id, f"{p.name} ({p.key})") for p in result.items]


def options(
    session: Session, model: type[ProjectScoped], org_id: str, project_id: str | None
) -> list[tuple[str, str]]:
    """``(id, "name (key)")`` of a project's resources, for a select."""
    rows = listing.options(session, model, org_id, project_id)
    return [(row.id, f"{row.name} ({row.key})") for row in rows]


def state(values: Mapping[str, Any], errors: Mapping[str, str] | None = None) -> FormState:
    """A form to show: ``values`` and the errors beside its fields (``"_"``: above the form)."""
    errors = dict(errors or {})
    message = errors.pop("_", None)
    if errors and message is None:
        message = "Some fields need attention."
    return FormState(dict(values), errors, message)


def sent(form: FormData) -> dict[str, str]:
    """The form as it was sent, one string per field (to show it again)."""
    return {k: v[0] for k, v in form.items() if v and k not in ("csrf_token", "etag", "action")}


def conflict(  # noqa: PLR0913 - both versions and where they go
    request: Request,
    what: str,
    labels: Iterable[tuple[str, str]],
    yours: Mapping[str, str],
    current: Mapping[str, str],
    url: str,
    obj: ProjectScoped,
) -> Response:
    """409: someone saved ``obj`` after this form was read; both versions side by side and a
    choice (save mine over it, carrying the new version, or discard mine)."""
    names = dict(labels)
    for name in [*yours, *current]:
        names.setdefault(name, name)
    rows = conflict_rows(names.items(), yours, current)
    return render(
        request, "conflict.html", 409, what=what, rows=rows, action=url + "/edit",
        reload=url + "/edit", current_etag=version_tag(obj.id, obj.version),
    )  # fmt: skip


def get(session: Session, model: type[R], org_id: str, resource_id: str) -> R:
    """The resource of the organisation (the API's 404 otherwise)."""
    return resources.get_in_org(session, model, org_id, resource_id)


@dataclass(frozen=True)
class FormTarget:
    """Where a create or edit form of a design resource posts, and what it shows."""

    heading: str
    action: str
    cancel: str
    etag: str | None  # the version an edit carries; None when creating


def form_target(
    org_id: str,
    collection: str,
    noun: str,
    resource: ProjectScoped | None,
    cancel_new: str | None = None,
) -> FormTarget:
    """The create form's target (``resource`` None) or the edit form's, with its version."""
    if resource is None:
        new = org_url(org_id, collection, "new")
        return FormTarget(f"New {noun}", new, cancel_new or org_url(org_id, collection), None)
    url = org_url(org_id, collection, resource.id)
    name = str(getattr(resource, "name", resource.key))
    return FormTarget(
        f"Edit {name}", url + "/edit", url, version_tag(resource.id, resource.version)
    )


@dataclass
class Edited:
    """An edit form as read: the change to save (``spec``), or (``spec`` None) the errors
    beside its fields; ``refused`` turns the service's refusal into those errors."""

    spec: dict[str, Any] | None
    errors: dict[str, str] = field(default_factory=dict)
    refused: Callable[[AvsbError], dict[str, str]] = api_errors


def rule_tree_edit(parsed: Parsed, rows: list[int], form: FormData, prefix: str) -> Edited:
    """An edit form holding the rule tree of ``prefix`` (audience, segment) as read: a
    refusal by the service is shown beside the tree's rows or JSON box."""
    if not parsed.ok:
        return Edited(None, parsed.errors)
    values = sent(form)
    return Edited(
        parsed.payload, refused=lambda exc: rule_tree.refused_errors(exc, prefix, rows, values)
    )


FormPage = Callable[
    [Request, Session, str, dict[str, Any], dict[str, str] | None, int, R | None], Response
]
"""A resource's create / edit form page: (request, session, org, values, errors, status,
the resource edited or None)."""


def _etag(form: FormData) -> str:
    return (form.get("etag") or [""])[0]


@dataclass(frozen=True)
class CrudPages(Generic[R]):
    """The list, edit (POST) and delete pages of a design resource: the same steps for
    audiences, segments, exclusion groups and metrics, told apart by their names, templates,
    form reader and service calls. Each module keeps its routes and calls these."""

    model: type[R]
    collection: str  # the URL part: "audiences", "exclusion-groups"
    noun: str  # in headings, conflicts and "saved": "audience", "exclusion group"
    short: str  # in the delete button and flashes: "audience", "group"
    filters: type[BaseModel]  # the list's filters (``project_id``)
    list_template: str
    items: str  # the list template's name for the rows: "audiences"
    labels: Sequence[tuple[str, str]]  # (field, label) the conflict page compares
    stored: Callable[[R], dict[str, str]]  # the form values of the stored resource
    form_page: FormPage[R]
    read_edit: Callable[[FormData, R], Edited]
    update: Callable[[Session, ChangeContext, R, dict[str, Any]], object]  # the service's
    delete: Callable[[Session, ChangeContext, R], None]  # the service's

    def url(self, resource: R) -> str:
        return org_url(resource.org_id, self.collection, resource.id)

    def list_page(
        self,
        request: Request,
        session: Session,
        org_id: str,
        project_id: str,
        extra: Callable[[Sequence[R]], Mapping[str, Any]] | None = None,
    ) -> Response:
        """One page of the resources (of a project when ``project_id``); ``extra`` adds to
        the template's context from the rows."""
        filters = self.filters(project_id=project_id or None)
        result = listing.list_page(session, page_request(request), self.model, org_id, filters)
        more = dict(extra(result.items)) if extra is not None else {}
        return render(
            request, self.list_template, **{self.items: result.items}, **more,
            next=next_url(request, result), projects=projects(request, session, org_id),
            base=org_url(org_id, self.collection), filters={"project_id": project_id},
        )  # fmt: skip

    def edit_page(
        self,
        request: Request,
        session: Session,
        viewer: Viewer,
        org_id: str,
        resource_id: str,
        form: FormData,
    ) -> Response:
        """Save an edit form: the conflict page when the resource changed since the form was
        read, the form with its errors (422, or the service's status), or back to the page."""
        resource = get(session, self.model, org_id, resource_id)
        values = sent(form)
        if changed_since(_etag(form), resource.id, resource.version):
            what = f"{self.noun.capitalize()} {resource.name!r}"
            stored, url = self.stored(resource), self.url(resource)
            return conflict(request, what, self.labels, values, stored, url, resource)
        edited = self.read_edit(form, resource)
        if edited.spec is None:
            return self.form_page(request, session, org_id, values, edited.errors, 422, resource)
        try:
            ctx = change_context(request, viewer.principal, org_id)
            self.update(session, ctx, resource, edited.spec)
        except AvsbError as exc:
            session.rollback()
            resource = get(session, self.model, org_id, resource_id)
            code = 422 if isinstance(exc, ValidationFailed) else exc.status_code
            errors = edited.refused(exc)
            return self.form_page(request, session, org_id, values, errors, code, resource)
        return see_other(self.url(resource), f"{self.noun.capitalize()} saved.")

    def confirm_delete_page(self, request: Request, resource: R, message: str) -> Response:
        """The delete confirmation, carrying the version it was shown for."""
        url = self.url(resource)
        return render(
            request, "confirm.html", heading=f"Delete {self.noun} {resource.name}?",
            message=message, action=url + "/delete", button=f"Delete {self.short}", cancel=url,
            fields={"etag": version_tag(resource.id, resource.version)},
        )  # fmt: skip

    def delete_page(
        self,
        request: Request,
        session: Session,
        viewer: Viewer,
        org_id: str,
        resource_id: str,
        form: FormData,
    ) -> Response:
        """Delete after the confirmation; nothing when the resource changed since it was shown
        or the service refuses (said in a flash on the resource's page)."""
        resource = get(session, self.model, org_id, resource_id)
        url, name = self.url(resource), resource.name
        if changed_since(_etag(form), resource.id, resource.version):
            return see_other(url, f"The {self.short} changed meanwhile; look again.", "error")
        try:
            self.delete(session, change_context(request, viewer.principal, org_id), resource)
        except AvsbError as exc:
            session.rollback()
            return see_other(url, exc.message, "error")
        deleted = f"{self.short.capitalize()} {name!r} deleted."
        return see_other(org_url(org_id, self.collection), deleted)
