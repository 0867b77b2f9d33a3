"""Exposures the evaluation routes log: one record per answered request, written in bulk.

A record holds a unit's exposures from one answer (`ExposureRecord`). A store writes a list
of them with `EventStore.append_exposures`: one ev_exposure row per (experiment, unit) with
the deterministic id `exposure_event_id`, a row already stored kept as it is (the first
exposure is the one analysis keeps), duplicates within the list written once. The DuckDB
store does it in one SQL statement over the records as JSON (no Python per exposure, and no
Python object for DuckDB to read under the GIL); the other stores expand the records into
a `RowBatch` per project (`exposure_batches`) and append those.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from avsb.server.events.types import EventColumns, EventKind, RowBatch, RowValue

ExposureRecord = tuple[str, str, str, int, str, tuple[tuple[str, str], ...]]
"""(org id, project id, unit id, unix time in microseconds, the unit's attributes as JSON
text, ((experiment key, variant key), ...)): strings, an int and tuples only, which the
garbage collector stops tracking, so a full buffer adds nothing to its collections."""


def exposure_event_id(experiment_key: str, unit_id: str) -> str:
    """The deterministic event id of a unit's exposure to an experiment: ``x:`` and the
    first 40 hex digits of SHA-256 over the UTF-8 of experiment key, NUL, unit id (the SDKs
    and the relay give the same id, so every path's exposures meet in one row)."""
    digest = hashlib.sha256(f"{experiment_key}\x00{unit_id}".encode("utf-8", "surrogatepass"))
    return "x:" + digest.hexdigest()[:40]


def exposure_count(records: Iterable[ExposureRecord]) -> int:
    """The exposures (rows before deduplication) in `records`."""
    return sum(len(record[5]) for record in records)


def exposure_batches(records: Sequence[ExposureRecord]) -> list[RowBatch]:
    """The exposures of `records`, one batch per project, laid out as the store's columns."""
    by_project: dict[tuple[str, str], tuple[list[RowValue], ...]] = {}
    for org_id, project_id, unit_id, at_us, attributes, pairs in records:
        columns = by_project.get((org_id, project_id))
        if columns is None:
            columns = by_project[org_id, project_id] = ([], [], [], [], [], [])
        ids, experiments, variants, units, times, attrs = columns
        for experiment, variant in pairs:
            ids.append(exposure_event_id(experiment, unit_id))
            experiments.append(experiment)
            variants.append(variant)
            units.append(unit_id)
            times.append(at_us)
            attrs.append(attributes)
    return [
        RowBatch(org, project, EventColumns({EventKind.EXPOSURE: columns}))
        for (org, project), columns in by_project.items()
    ]
