"""The tools page: the calculators of ``/api/tools/*`` as forms (GET: nothing is stored), each
answer under its form; the bandit simulation with its allocation chart."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from markupsafe import Markup
from pydantic import BaseModel
from starlette.responses import Response

from avsb.server.dashboard.charts import Series, line_chart
from avsb.server.dashboard.core import (
    FormState,
    NavItem,
    Viewer,
    form_failure,
    page,
    page_router,
    register_nav,
    render,
    validate,
)
from avsb.server.dashboard.views import results_view as rv
from avsb.server.dashboard.views import tools_view
from avsb.server.errors import NotFound, ValidationFailed
from avsb.server.tools import schemas
from avsb.server.tools import service as tool_service

router = page_router(prefix="/orgs/{org_id}/tools")
Anyone = Annotated[Viewer, Depends(page(None))]
register_nav(NavItem("Calculators", "/orgs/{org_id}/tools", None, "Tools", 10))

_RUN: dict[str, tuple[type[BaseModel], Any]] = {
    "sample-size": (schemas.SampleSizeRequest, tool_service.sample_size),
    "sensitivity": (schemas.SensitivityRequest, tool_service.sensitivity),
    "srm": (schemas.SrmRequest, tool_service.srm),
    "multiple-testing": (schemas.MultipleTestingRequest, tool_service.multiple_testing),
    "analyze": (schemas.AnalyzeRequest, tool_service.analyze),
    "bandit": (schemas.BanditSimulationRequest, tool_service.bandit_simulation),
}


def tools_url(org_id: str, slug: str = "") -> str:
    return f"/orgs/{quote(org_id, safe='')}/tools" + (f"/{slug}" if slug else "")


def _rows(slug: str, result: Any) -> list[tuple[str, str]]:
    """The answer as (label, value) lines."""
    if isinstance(result, schemas.SampleSizeResult):
        return [
            ("Units per variant", ", ".join(rv.count(n) for n in result.sample_size_per_variant)),
            ("Total units", rv.count(result.total_sample_size)),
            (
                "Duration",
                f"{result.estimated_duration_days} days"
                if result.estimated_duration_days is not None
                else rv.DASH,
            ),
            ("Method", result.method),
            ("Alpha per comparison", rv.number(result.alpha_per_comparison)),
        ]
    if isinstance(result, schemas.SensitivityResult):
        return [
            (
                "Detectable lift",
                rv.percent(None if result.mde_pct is None else result.mde_pct / 100, digits=2),
            ),
            ("Detectable absolute change", rv.number(result.mde_absolute)),
            ("Units per variant", ", ".join(rv.count(n) for n in result.sample_size_per_variant)),
            ("Total units", rv.count(result.total_sample_size)),
        ]
    if isinstance(result, schemas.SrmResult):
        return [
            ("Sample ratio mismatch", "detected" if result.srm_detected else "not detected"),
            ("p-value", rv.p_value(result.p_value)),
            ("Chi-square", rv.number(result.chi2)),
            ("Expected units", ", ".join(rv.number(e) for e in result.expected)),
        ]
    if isinstance(result, schemas.MultipleTestingResult):
        return [
            (
                f"Comparison {i + 1}",
                f"adjusted p = {rv.p_value(p)} ({'reject' if r else 'keep'} the null)",
            )
            for i, (p, r) in enumerate(zip(result.adjusted_p_values, result.reject, strict=True))
        ]
    if isinstance(result, schemas.AnalyzeResult):
        rows = [
            (c.variant, f"lift {rv.estimate_text(c)} {rv.interval_text(c)}, {rv.stat_text(c)}, "
                        f"{'significant' if c.significant else 'not significant'}")
            for c in result.comparisons
        ]  # fmt: skip
        return [*rows, ("SRM p-value", rv.p_value(result.srm.p_value))]
    if isinstance(result, schemas.BanditSimulationResult):
        return [
            ("Best arm", f"arm {result.best_arm + 1}"),
            ("Units per arm", ", ".join(rv.count(n) for n in result.pulls)),
            ("Posterior means", ", ".join(rv.number(m) for m in result.posterior_means)),
            (
                "Regret",
                rv.number(result.cumulative_regret[-1] if result.cumulative_regret else None),
            ),
            ("Regret of an even split", rv.number(result.uniform_regret)),
        ]
    return []  # pragma: no cover - every tool is listed above


def _chart(result: Any) -> Markup | None:
    if not isinstance(result, schemas.BanditSimulationResult) or not result.allocation:
        return None
    arms = len(result.allocation[0])
    series = [
        Series(
            f"arm {a + 1}",
            [(float(s + 1), step[a] * 100) for s, step in enumerate(result.allocation)],
        )
        for a in range(arms)
    ]
    return line_chart(series, title="Share of traffic per arm by step (%)", unit="%")


@router.get("")
def tools_index(org_id: str, viewer: Anyone, request: Request) -> Response:
    links = [(t, tools_url(org_id, t.slug)) for t in tools_view.TOOLS]
    return render(request, "tools_index.html", tools=links)


@router.get("/{slug}")
def tool_page(org_id: str, slug: str, viewer: Anyone, request: Request) -> Response:
    tool = tools_view.BY_SLUG.get(slug)
    if tool is None:
        raise NotFound(f"No calculator {slug!r}.")
    query = dict(request.query_params)
    if "run" not in query:
        form = FormState(tools_view.defaults(tool))
        return render(request, "tool.html", tool=tool, form=form, rows=[], chart=None,
                      url=tools_url(org_id, slug), index=tools_url(org_id))  # fmt: skip
    schema, run = _RUN[slug]
    try:
        result = run(validate(schema, tools_view.body(tool, query)))
    except ValidationFailed as exc:
        return render(request, "tool.html", form_failure(exc), tool=tool,
                      form=FormState.failed(query, exc), rows=[], chart=None,
                      url=tools_url(org_id, slug), index=tools_url(org_id))  # fmt: skip
    return render(request, "tool.html", tool=tool, form=FormState(query),
                  rows=_rows(slug, result), chart=_chart(result),
                  url=tools_url(org_id, slug), index=tools_url(org_id))  # fmt: skip
