"""The evaluation preview: pick a project, type a unit id and attributes, and see every
layer's assignment and every flag's value with its reason, as the SDK answers (the
project's compiled config, evaluated in this process; no exposure is logged)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.dashboard.core import (
    FormState,
    NavItem,
    Viewer,
    form_failure,
    page,
    page_request,
    page_router,
    register_nav,
    render,
)
from avsb.server.dashboard.views import preview_view
from avsb.server.deps import SessionDep
from avsb.server.errors import ValidationFailed
from avsb.server.projects import service as project_service
from avsb.server.runtime import runtime_of
from avsb_sdk.evaluation import evaluate

router = page_router(prefix="/orgs/{org_id}/preview")
Text = Annotated[str, Query(max_length=10_000)]
Read = Annotated[Viewer, Depends(page("projects:read"))]
register_nav(NavItem("Evaluation preview", "/orgs/{org_id}/preview", "projects:read", "Tools", 20))


@dataclass(frozen=True, slots=True)
class Asked:
    """The form's fields: which project, which unit, its attributes (as typed)."""

    project: str
    unit_id: str
    attributes: str


def _asked(
    project: Annotated[str, Query(max_length=40)] = "",
    unit_id: Annotated[str, Query(max_length=200)] = "",
    attributes: Text = "",
) -> Asked:
    return Asked(project, unit_id, attributes)


@router.get("")
def preview(
    org_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    asked: Annotated[Asked, Depends(_asked)],
) -> Response:
    project, unit_id, attributes = asked.project, asked.unit_id, asked.attributes
    projects = project_service.list_page(session, page_request(request, 200), org_id, False, None)
    options = [(p.id, f"{p.name} ({p.key})") for p in projects.items]
    values = {"project": project or (options[0][0] if options else ""), "unit_id": unit_id,
              "attributes": attributes}  # fmt: skip
    context = {"options": options, "url": f"/orgs/{quote(org_id, safe='')}/preview"}
    if not project or not unit_id:
        return render(request, "preview.html", form=FormState(values), layers=None,
                      flags=None, held_out=None, revision=None, **context)  # fmt: skip
    try:
        chosen = project_service.get(session, org_id, project)
        attrs = preview_view.parse_attributes(attributes)
        entry = runtime_of(request).evaluation.cache.get(chosen.id)
        if entry is None:
            raise ValidationFailed(
                "This project's configuration is still being compiled: try again in a moment.",
                [{"path": "project", "message": "not compiled yet", "type": "pending"}],
            )
    except ValidationFailed as exc:
        return render(request, "preview.html", form_failure(exc),
                      form=FormState.failed(values, exc), layers=None, flags=None,
                      held_out=None, revision=None, **context)  # fmt: skip
    found = evaluate(entry.compiled, unit_id, attrs)
    layers, flags = preview_view.rows(found)
    return render(request, "preview.html", form=FormState(values), layers=layers,
                  flags=flags, held_out=found.held_out, revision=entry.revision,
                  **context)  # fmt: skip
