"""The "Design review" section of the experiment pages: the rule-based findings of the review
service for the stored experiment (never the language model on a page load), with the optional
facts the stored design does not hold (expected daily units, planned duration) from the query;
and, when a language model is configured, ``POST .../review`` asking it for notes too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.responses import Response

from avsb.server.config import Settings
from avsb.server.dashboard.core import (
    FormDep,
    FormState,
    Viewer,
    page,
    page_router,
    render,
    validate,
)
from avsb.server.dashboard.forms.common import api_errors
from avsb.server.errors import ValidationFailed
from avsb.server.review import llm, rules
from avsb.server.review import service as review_service
from avsb.server.review.schemas import ExperimentReviewBody
from avsb.server.runtime import runtime_of

router = page_router(prefix="/orgs/{org_id}/experiments")
Read = Annotated[Viewer, Depends(page("experiments:read"))]

FACTS = ("expected_daily_units", "planned_duration_days")


@dataclass
class ReviewSection:
    """What the review partial shows: the findings and the facts form."""

    form: FormState
    findings: list[rules.Finding] = field(default_factory=list)
    status: str = "ready"
    counts: dict[str, int] = field(default_factory=dict)
    llm_available: bool = False  # a language model is configured: offer to ask it
    llm_action: str = ""  # where that form posts


def _experiment_url(org_id: str, experiment_id: str) -> str:
    return f"/orgs/{quote(org_id, safe='')}/experiments/{quote(experiment_id, safe='')}"


def _facts(values: dict[str, str]) -> tuple[ExperimentReviewBody, dict[str, str]]:
    """The facts given (blank ones left out), checked by the API's own body schema; when some
    fail, none are used and their errors are returned by field."""
    given: dict[str, Any] = {k: v for k, v in values.items() if v}
    try:
        return validate(ExperimentReviewBody, given), {}
    except ValidationFailed as exc:
        return ExperimentReviewBody(), api_errors(exc)


def review_section(
    session: Session,
    org_id: str,
    experiment_id: str,
    query: QueryParams | None = None,
    settings: Settings | None = None,
) -> ReviewSection:
    """The rules' findings for the stored experiment, given the facts in ``query`` (if any);
    facts that fail the API's own checks are shown beside their field and left out."""
    values = {k: (query.get(k) or "").strip() for k in FACTS} if query is not None else {}
    facts, errors = _facts(values)
    design = review_service.stored_design(session, org_id, experiment_id, facts)
    result = rules.review(design)
    message = "Some fields need attention." if errors else None
    available = settings is not None and llm.config_of(settings) is not None
    return ReviewSection(
        FormState(values, errors, message), list(result.findings), result.status, result.counts,
        available, _experiment_url(org_id, experiment_id) + "/review",
    )  # fmt: skip


@router.post("/{experiment_id}/review")
async def review_with_model(
    org_id: str, experiment_id: str, viewer: Read, form: FormDep, request: Request
) -> Response:
    """The review with the language model's notes (a read: nothing is stored). The design is
    read in its own short transaction, so the model's answer holds no database connection."""
    values = {k: form.get(k, "").strip() for k in FACTS}
    facts, errors = _facts(values)
    runtime = runtime_of(request)
    design = await run_in_threadpool(
        review_service.review_stored, runtime.db, org_id, experiment_id, facts
    )
    out = await review_service.answer_review(
        runtime.settings, design, use_llm=True, experiment_id=experiment_id
    )
    return render(
        request, "design_review_llm.html", review=out, back=_experiment_url(org_id, experiment_id),
        form=FormState(values, errors, "Some fields need attention." if errors else None),
    )  # fmt: skip
