"""The "Design review" section of the experiment pages: the rule-based findings of the review
service for the stored experiment (never the language model on a page load), with the optional
facts the stored design does not hold (expected daily units, planned duration) from the query.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session
from starlette.datastructures import QueryParams

from avsb.server.dashboard.core import FormState, validate
from avsb.server.dashboard.forms.common import api_errors
from avsb.server.errors import ValidationFailed
from avsb.server.review import rules
from avsb.server.review import service as review_service
from avsb.server.review.schemas import ExperimentReviewBody

FACTS = ("expected_daily_units", "planned_duration_days")


@dataclass
class ReviewSection:
    """What the review partial shows: the findings and the facts form."""

    form: FormState
    findings: list[rules.Finding] = field(default_factory=list)
    status: str = "ready"
    counts: dict[str, int] = field(default_factory=dict)


def review_section(
    session: Session, org_id: str, experiment_id: str, query: QueryParams | None = None
) -> ReviewSection:
    """The rules' findings for the stored experiment, given the facts in ``query`` (if any);
    facts that fail the API's own checks are shown beside their field and left out."""
    values = {k: (query.get(k) or "").strip() for k in FACTS} if query is not None else {}
    given: dict[str, Any] = {k: v for k, v in values.items() if v}
    errors: dict[str, str] = {}
    try:
        facts = validate(ExperimentReviewBody, given)
    except ValidationFailed as exc:
        errors = api_errors(exc)
        facts = ExperimentReviewBody()
    design = review_service.stored_design(session, org_id, experiment_id, facts)
    result = rules.review(design)
    message = "Some fields need attention." if errors else None
    return ReviewSection(
        FormState(values, errors, message), list(result.findings), result.status, result.counts
    )
