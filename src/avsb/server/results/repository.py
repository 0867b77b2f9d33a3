"""Stored results snapshots, and the two event-store queries the analysis generator does not
write: how many of an experiment's events arrived late, and whether it has covariates and
strata."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Select, Text, cast, select, update
from sqlalchemy.orm import Session, defer

from avsb.server.analysis import ExperimentScope
from avsb.server.events.dialects import fragment, render
from avsb.server.models import Experiment, ResultsRefresh, ResultsSnapshot

_US_PER_HOUR = 3_600_000_000
_LATE_EXPOSURES = """
SELECT e.ingest_seq - e.ts_us AS lag_us FROM ev_exposure AS e
WHERE e.org_id = :org AND e.project_id = :project AND e.experiment = :experiment"""
_LATE_METRICS = """
SELECT m.ingest_seq - m.ts_us AS lag_us FROM ev_metric AS m
WHERE m.org_id = :org AND m.project_id = :project AND m.event_name IN ({names})"""
_LATE = """
SELECT COUNT(*) AS total,
  COALESCE(SUM(CASE WHEN x.lag_us > :late_us THEN 1 ELSE 0 END), 0) AS late
FROM ({events}) AS x"""


def late_events_sql(
    scope: ExperimentScope, event_names: Sequence[str], late_hours: float, dialect: str
) -> str:
    """One row (total, late): the experiment's exposures and the events of its metrics, and
    how many were ingested more than ``late_hours`` after their own timestamp."""
    values: dict[str, object] = {
        "org": scope.org_id,
        "project": scope.project_id,
        "experiment": scope.experiment,
        "late_us": round(late_hours * _US_PER_HOUR),
    }
    parts = [_LATE_EXPOSURES]
    if event_names:
        names = {f"name_{i}": name for i, name in enumerate(sorted(set(event_names)))}
        parts.append(_LATE_METRICS.format(names=", ".join(f":{key}" for key in names)))
        values.update(names)
    sql = _LATE.format(events=" UNION ALL ".join(parts))
    return render(fragment(sql, **values), dialect)


_INPUTS = """
SELECT
  (SELECT COUNT(*) FROM ev_covariate AS c
   WHERE c.org_id = :org AND c.project_id = :project AND c.experiment = :experiment)
    AS covariates,
  (SELECT COUNT(*) FROM ev_stratum AS s
   WHERE s.org_id = :org AND s.project_id = :project AND s.experiment = :experiment)
    AS strata"""


def experiment_inputs_sql(scope: ExperimentScope, dialect: str) -> str:
    """One row (covariates, strata): how many covariate and stratum rows the experiment has,
    which decides the CUPED covariate and whether results are post-stratified."""
    values = {"org": scope.org_id, "project": scope.project_id, "experiment": scope.experiment}
    return render(fragment(_INPUTS, **values), dialect)


def latest_snapshot(session: Session, experiment_id: str, segment: str) -> ResultsSnapshot | None:
    stmt = (
        select(ResultsSnapshot)
        .where(ResultsSnapshot.experiment_id == experiment_id, ResultsSnapshot.segment == segment)
        .order_by(ResultsSnapshot.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def latest_snapshot_series_text(
    session: Session, experiment_id: str, segment: str
) -> tuple[ResultsSnapshot, str | None] | None:
    """The newest snapshot without its series, and the series as JSON text (None when there is
    none): a reader that wants only part of the series decodes only that part."""
    stmt = (
        select(ResultsSnapshot, cast(ResultsSnapshot.series, Text).label("series_json"))
        .options(defer(ResultsSnapshot.series, raiseload=True))
        .where(ResultsSnapshot.experiment_id == experiment_id, ResultsSnapshot.segment == segment)
        .order_by(ResultsSnapshot.id.desc())
        .limit(1)
    )
    row = session.execute(stmt).first()
    return None if row is None else (row[0], row[1])


def snapshots_stmt(experiment_id: str, segment: str) -> Select[ResultsSnapshot]:
    return select(ResultsSnapshot).where(
        ResultsSnapshot.experiment_id == experiment_id, ResultsSnapshot.segment == segment
    )


def lock_experiment(session: Session, experiment_id: str) -> None:
    """Serialise snapshot writers of one experiment (a row lock; SQLite writers are serial)."""
    session.execute(select(Experiment.id).where(Experiment.id == experiment_id).with_for_update())


def unscheduled_running(session: Session) -> list[tuple[str, str]]:
    """(experiment id, org id) of running experiments the refresh job has no row for yet."""
    stmt = (
        select(Experiment.id, Experiment.org_id)
        .outerjoin(ResultsRefresh, ResultsRefresh.experiment_id == Experiment.id)
        .where(Experiment.status == "running", ResultsRefresh.experiment_id.is_(None))
    )
    return [(str(i), str(o)) for i, o in session.execute(stmt)]


def due_refreshes(session: Session, now: datetime, limit: int) -> list[tuple[str, str]]:
    """(experiment id, org id) of running experiments whose refresh is due, oldest first."""
    stmt = (
        select(ResultsRefresh.experiment_id, ResultsRefresh.org_id)
        .join(Experiment, Experiment.id == ResultsRefresh.experiment_id)
        .where(Experiment.status == "running", ResultsRefresh.next_run_at <= now)
        .order_by(ResultsRefresh.next_run_at)
        .limit(limit)
    )
    return [(str(i), str(o)) for i, o in session.execute(stmt)]


def claim_refresh(
    session: Session, experiment_id: str, now: datetime, lease: tuple[datetime, str]
) -> bool:
    """Take an experiment's due refresh (a conditional UPDATE that one process wins): its next
    run moves to ``lease[0]``, so a process that dies mid-refresh only delays it."""
    next_run_at, token = lease
    result = session.execute(
        update(ResultsRefresh)
        .where(ResultsRefresh.experiment_id == experiment_id, ResultsRefresh.next_run_at <= now)
        .values(next_run_at=next_run_at, claim_token=token)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def finish_refresh(
    session: Session, experiment_id: str, token: str, at: datetime, error: str | None
) -> None:
    """Record the end of a refresh this process claimed (a later claim's token wins)."""
    session.execute(
        update(ResultsRefresh)
        .where(ResultsRefresh.experiment_id == experiment_id, ResultsRefresh.claim_token == token)
        .values(refreshed_at=at, last_error=error, claim_token=None)
        .execution_options(synchronize_session=False)
    )
