from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from avsb.server.models import Metric


def get_many(session: Session, ids: set[str]) -> dict[str, Metric]:
    """The metrics with these ids, by id (for presenting an experiment's metrics)."""
    return {m.id: m for m in (session.get(Metric, metric_id) for metric_id in ids) if m}


def names(session: Session, ids: set[str]) -> dict[str, str]:
    """The names of the metrics with these ids, by id, in one query (no ORM objects)."""
    if not ids:
        return {}
    rows = session.execute(select(Metric.id, Metric.name).where(Metric.id.in_(ids)))
    return dict(rows.all())
