"""The results page of an experiment: the latest stored snapshot (so it opens at once), its
age and a refresh button, the decision, SRM banner, per-metric lifts with their intervals,
lift over time, traffic per day, slices, holdout, data health, the pinned plan and exports."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Depends, Query, Request
from markupsafe import Markup
from starlette.responses import Response

from avsb.server.dashboard import charts_results
from avsb.server.dashboard.core import (
    FormDep,
    Viewer,
    page,
    page_router,
    render,
    see_other,
    version_tag,
)
from avsb.server.dashboard.views import results_view as rv
from avsb.server.deps import SessionDep
from avsb.server.experiments import plans
from avsb.server.experiments import service as experiment_service
from avsb.server.results import schedule, snapshots
from avsb.server.results import service as results_service
from avsb.server.results.schemas import MetricSeries, ResultsOut
from avsb.server.runtime import runtime_of

router = page_router(prefix="/orgs/{org_id}/experiments/{experiment_id}")
Read = Annotated[Viewer, Depends(page("results:read"))]
Write = Annotated[Viewer, Depends(page("experiments:write"))]
SegmentQuery = Annotated[str, Query(max_length=300)]
FORMATS = ("html", "md", "csv", "xlsx", "pdf")


def results_url(org_id: str, experiment_id: str, segment: str | None = None) -> str:
    url = f"/orgs/{quote(org_id, safe='')}/experiments/{quote(experiment_id, safe='')}/results"
    return url + ("?" + urlencode({"segment": segment}) if segment else "")


def export_links(org_id: str, experiment_id: str) -> list[tuple[str, str]]:
    base = f"/api/orgs/{quote(org_id, safe='')}/experiments/{quote(experiment_id, safe='')}"
    return [(fmt.upper(), f"{base}/report?format={fmt}") for fmt in FORMATS]


def _bars(metric: rv.MetricView) -> dict[str, Markup]:
    return {
        row.key: charts_results.lift_bar(row.bar, f"{row.key}: {row.relative} {row.interval}")
        for row in metric.rows
        if row.bar is not None
    }


@router.get("/results")
def results_page(
    org_id: str,
    experiment_id: str,
    viewer: Read,
    session: SessionDep,
    request: Request,
    segment: SegmentQuery = "",
) -> Response:
    experiment = experiment_service.get(session, org_id, experiment_id)
    rt = runtime_of(request)
    latest = snapshots.latest_with_series_text(session, experiment.id, segment or None)
    stored, series_text = latest if latest is not None else (None, None)
    # The series the refresh job or button stored with the snapshot, decoded only as far as
    # the charts read it (None: a snapshot of an API read, its series computed below).
    stored_series = rv.decode_series(series_text) if series_text is not None else None
    variants = [str(v["key"]) for v in experiment.variants]
    view = None
    if stored is not None:
        view = rv.results_view(
            ResultsOut.model_validate(stored.payload), variants, datetime.now(UTC)
        )
    plan = plans.current(session, experiment)
    pinned = plan.plan if plan is not None else plans.build(experiment)
    # The metrics' names are all the page needs of the design, unless the series has to be
    # computed, or a slice is asked for (the design checks it: a bad one is an error page).
    names = results_service.metric_names(session, pinned)
    design = None
    if segment or (stored is not None and stored_series is None):
        design = results_service.load_design(session, org_id, experiment.id, segment or None)
    session.commit()  # nothing more to write: no transaction held while computing
    charts: dict[str, Markup] = {}
    traffic = None
    if view is not None and stored is not None:
        series: Sequence[MetricSeries | rv.StoredSeries]
        if stored_series is not None:
            series = stored_series
        else:  # a snapshot of an API read: compute the series now
            assert design is not None  # loaded above for this case
            series = results_service.timeseries(rt.events.get(), design, rt.settings).metrics
        for s in series:
            found = rv.lift_series(s)
            if found is not None:
                charts[s.metric_id] = charts_results.lift_over_time(
                    found, names.get(s.metric_id, s.key)
                )
        days, daily = rv.daily_units(series)
        if days:
            traffic = charts_results.traffic(days, daily)
    return render(
        request, "results.html", experiment=experiment, view=view,
        bars={m.id: _bars(m) for m in view.metrics} if view else {}, charts=charts,
        traffic=traffic, plan=rv.plan_rows(pinned, names),
        plan_version=plan.version if plan else None,
        segment=segment, url=results_url(org_id, experiment.id),
        # The experiment page's stop (design/experiments.py), with this version: a change made
        # since this page was read refuses the stop instead of overriding it.
        stop_url=results_url(org_id, experiment.id).removesuffix("/results") + "/stop",
        etag=version_tag(experiment.id, experiment.version),
        exports=export_links(org_id, experiment.id),
        can_stop=experiment.status in ("running", "paused") and viewer.can("experiments:write"),
    )  # fmt: skip


@router.post("/results/refresh")
def refresh_results(
    org_id: str,
    experiment_id: str,
    viewer: Read,
    session: SessionDep,
    form: FormDep,
    request: Request,
) -> Response:
    experiment = experiment_service.get(session, org_id, experiment_id)
    segment = form.get("segment", "")[:300] or None
    session.commit()
    rt = runtime_of(request)
    rt.ingestor.counts.flush()
    schedule.refresh(rt.db, rt.events.get(), rt.settings, org_id, experiment.id, segment)
    return see_other(results_url(org_id, experiment.id, segment), "Results refreshed.")
