"""Results history: each answer that differs from the previous one is kept with its time,
and a change of state (SRM appears, a comparison becomes significant) is announced once by
webhook, in the same transaction as the snapshot that records it."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from sqlalchemy.orm import Session

from avsb.server.db import Database
from avsb.server.kit.ids import new_id
from avsb.server.models import ResultsSnapshot
from avsb.server.results import repository, schemas
from avsb.server.webhooks import service as webhook_service


def _content_hash(payload: dict[str, Any]) -> str:
    content = {k: v for k, v in payload.items() if k != "computed_at"}
    if isinstance(content.get("decision"), dict):  # its time is the answer's time
        content["decision"] = {k: v for k, v in content["decision"].items() if k != "computed_at"}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def significant_pairs(out: schemas.ResultsOut) -> list[str]:
    """``metric_id:variant`` of every significant comparison."""
    return sorted(
        f"{metric.metric_id}:{c.variant}"
        for metric in out.metrics
        for c in metric.comparisons
        if c.significant
    )


def _comparisons(out: schemas.ResultsOut, pairs: set[str]) -> list[dict[str, Any]]:
    found = []
    for metric in out.metrics:
        for c in metric.comparisons:
            if f"{metric.metric_id}:{c.variant}" in pairs:
                found.append(
                    {"metric_id": metric.metric_id, "metric_key": metric.key,
                     "role": metric.role, **c.model_dump(mode="json")}
                )  # fmt: skip
    return found


def record(
    db: Database,
    project_id: str,
    org_id: str,
    out: schemas.ResultsOut,
    series: schemas.TimeseriesOut | None = None,
) -> bool:
    """Keep ``out`` as a snapshot unless it equals the latest one of its experiment and
    segment; emit ``srm.detected`` / ``results.significant`` on a change of the unsliced
    results. ``series``, when given, is kept with it (on the latest snapshot when the results
    did not change). Returns whether a snapshot was written."""
    payload = out.model_dump(mode="json")
    digest = _content_hash(payload)
    segment = out.segment or ""
    stored_series = None if series is None else series.model_dump(mode="json")
    with db.transaction() as session:
        repository.lock_experiment(session, out.experiment_id)
        last = repository.latest_snapshot(session, out.experiment_id, segment)
        if last is not None and last.content_hash == digest:
            if stored_series is not None:
                last.series = stored_series
            return False
        pairs = significant_pairs(out)
        session.add(
            ResultsSnapshot(
                id=new_id("res"),
                org_id=org_id,
                project_id=project_id,
                experiment_id=out.experiment_id,
                segment=segment,
                computed_at=out.computed_at,
                content_hash=digest,
                srm_detected=out.srm.srm_detected,
                significant=pairs,
                payload=payload,
                series=stored_series,
            )
        )
        if out.segment is None:
            base = {
                "experiment_id": out.experiment_id,
                "experiment_key": out.experiment_key,
                "project_id": project_id,
                "computed_at": payload["computed_at"],
            }
            if out.srm.srm_detected and (last is None or not last.srm_detected):
                srm = {**base, "srm": payload["srm"], "diagnosis": payload["health"]["srm"]}
                webhook_service.emit(session, org_id, "srm.detected", srm, project_id)
            new = set(pairs) - set(last.significant if last is not None else [])
            if new:
                data = {**base, "comparisons": _comparisons(out, new)}
                webhook_service.emit(session, org_id, "results.significant", data, project_id)
    return True


def present(snapshot: ResultsSnapshot) -> schemas.SnapshotOut:
    return schemas.SnapshotOut(
        id=snapshot.id,
        computed_at=snapshot.computed_at,
        segment=snapshot.segment or None,
        srm_detected=snapshot.srm_detected,
        significant=list(snapshot.significant),
        results=snapshot.payload,
    )


def latest(session: Session, experiment_id: str, segment: str | None) -> ResultsSnapshot | None:
    """The newest stored answer of an experiment (and slice), or None."""
    return repository.latest_snapshot(session, experiment_id, segment or "")


def latest_with_series_text(
    session: Session, experiment_id: str, segment: str | None
) -> tuple[ResultsSnapshot, str | None] | None:
    """The newest stored answer (its ``series`` not loaded) and its series as JSON text, not
    decoded (``null`` or None when it has none), or None without a snapshot."""
    return repository.latest_snapshot_series_text(session, experiment_id, segment or "")
