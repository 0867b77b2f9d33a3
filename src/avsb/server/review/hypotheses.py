"""Hypothesis suggestions from a fixed template library, by goal. Deterministic, no I/O.

Every suggestion reads "If we <change>, then <metric> will <direction> because <reason>"
and names the primary metric it is judged on and the guardrails that catch its side effects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Goal = Literal["conversion", "retention", "revenue", "engagement", "performance", "activation"]
GOALS: tuple[Goal, ...] = (
    "conversion",
    "retention",
    "revenue",
    "engagement",
    "performance",
    "activation",
)


@dataclass(frozen=True, slots=True)
class Template:
    change: str  # "{area}" is replaced by the caller's context
    metric: str
    direction: Literal["increase", "decrease"]
    reason: str
    guardrails: tuple[str, ...]
    lower_is_better: bool = False


@dataclass(frozen=True, slots=True)
class Suggestion:
    hypothesis: str
    change: str
    metric: str
    direction: Literal["increase", "decrease"]
    reason: str
    primary_metric: str
    lower_is_better: bool
    guardrail_metrics: tuple[str, ...]


_DEFAULT_AREA = "the page"

LIBRARY: dict[Goal, tuple[Template, ...]] = {
    "conversion": (
        Template("remove optional form fields from {area}", "the conversion rate", "increase",
                 "every extra field is a point where visitors give up", ("error rate",
                 "lead quality")),
        Template("show the total price, shipping included, early on {area}", "the conversion "
                 "rate", "increase", "surprise costs at the last step are a common reason to "
                 "abandon", ("refund rate", "revenue per visitor")),
        Template("make the main call to action on {area} more prominent", "the click-through "
                 "rate", "increase", "visitors find the next step sooner", ("bounce rate",
                 "conversion rate")),
        Template("add trust signals (reviews, guarantees) to {area}", "the conversion rate",
                 "increase", "doubt about the seller holds back first-time buyers",
                 ("page load time", "average order value")),
    ),
    "retention": (
        Template("send a reminder of unfinished progress from {area}", "the 7-day return rate",
                 "increase", "people come back to finish what they started", ("unsubscribe rate",
                 "complaint rate")),
        Template("show returning users what is new in {area}", "the 30-day retention rate",
                 "increase", "fresh value gives a reason to come back", ("session length",
                 "support tickets")),
        Template("simplify cancelling or pausing in {area}", "the churn rate", "decrease",
                 "a pause option keeps users who would otherwise leave for good",
                 ("revenue per user", "support tickets"), lower_is_better=True),
    ),
    "revenue": (
        Template("recommend complementary items on {area}", "the average order value",
                 "increase", "relevant add-ons are bought together", ("conversion rate",
                 "return rate")),
        Template("present an annual plan with its saving on {area}", "the revenue per user",
                 "increase", "a visible saving moves buyers to the larger plan",
                 ("conversion rate", "refund rate")),
        Template("offer free shipping above a threshold on {area}", "the average order value",
                 "increase", "buyers add items to pass the threshold", ("margin per order",
                 "conversion rate")),
    ),
    "engagement": (
        Template("personalise the content order on {area}", "the items viewed per session",
                 "increase", "relevant items first keep people browsing", ("bounce rate",
                 "page load time")),
        Template("add inline previews to {area}", "the click-through rate", "increase",
                 "people can judge an item without leaving the page", ("page load time",
                 "conversion rate")),
        Template("send a weekly digest about {area}", "the weekly active users", "increase",
                 "a reminder with new content brings people back", ("unsubscribe rate",
                 "spam complaints")),
    ),
    "performance": (
        Template("lazy-load images below the fold on {area}", "the page load time",
                 "decrease", "less is downloaded before the page can be used", ("conversion "
                 "rate", "error rate"), lower_is_better=True),
        Template("cache the slowest API response behind {area}", "the p95 response time",
                 "decrease", "repeated work is served from memory", ("error rate", "stale data "
                 "reports"), lower_is_better=True),
        Template("ship a smaller script bundle for {area}", "the bounce rate", "decrease",
                 "pages that become interactive sooner lose fewer visitors", ("error rate",
                 "conversion rate"), lower_is_better=True),
    ),
    "activation": (
        Template("add a guided first step to {area}", "the activation rate", "increase",
                 "new users reach the first moment of value sooner", ("time to first value",
                 "support tickets")),
        Template("prefill sensible defaults in {area}", "the onboarding completion rate",
                 "increase", "fewer decisions up front means fewer drop-offs", ("7-day "
                 "retention", "settings changes")),
        Template("cut the sign-up flow of {area} to one screen", "the sign-up completion rate",
                 "increase", "each extra screen loses part of the funnel", ("spam sign-ups",
                 "activation rate")),
    ),
}  # fmt: skip


def suggest(goal: Goal, context: str | None, metric: str | None, count: int) -> list[Suggestion]:
    """The first ``count`` templates of ``goal``; ``context`` names the area, ``metric``
    replaces each template's metric (its direction and guardrails stay)."""
    area = context.strip() if context and context.strip() else _DEFAULT_AREA
    out: list[Suggestion] = []
    for template in LIBRARY[goal][:count]:
        change = template.change.format(area=area)
        measured = metric.strip() if metric and metric.strip() else template.metric
        text = (
            f"If we {change}, then {measured} will {template.direction} because {template.reason}."
        )
        out.append(
            Suggestion(
                hypothesis=text,
                change=change,
                metric=measured,
                direction=template.direction,
                reason=template.reason,
                primary_metric=measured,
                lower_is_better=template.lower_is_better,
                guardrail_metrics=template.guardrails,
            )
        )
    return out
