"""What the design pages share: urls, select options, form states and the conflict page."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormState,
    conflict_rows,
    page_request,
    render,
    version_tag,
)
from avsb.server.dashboard.forms.common import FormData
from avsb.server.design import listing
from avsb.server.kit import resources
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
