"""What results are computed over: metric definitions from the metrics resource, and the
``?segment=`` slice (an exposure attribute ``key=value``, or a segment id) as a unit filter."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from avsb.server.analysis import MetricDefinition, MetricType, UnitFilter
from avsb.server.design import refs
from avsb.server.errors import field_error
from avsb.server.kit.ids import has_prefix
from avsb.server.models import Experiment, Metric, Segment
from avsb.server.segments import repository as segment_repository
from avsb_sdk.evaluation.conditions import AllOf, Leaf, parse_condition
from avsb_sdk.evaluation.errors import ConfigError

MAX_SEGMENT_MEMBERS = 10_000
"""Largest id segment a slice may use (its ids travel inside the query)."""
_ATTRIBUTE_KEY = re.compile(r"[A-Za-z0-9_\-]{1,128}")
_SLICE_HINT = (
    "a segment id, or an exposure attribute as key=value (key: letters, digits, '_' or '-')"
)


def definition_of(metric: Metric) -> MetricDefinition:
    """The analysis definition of a metric: its fields map one to one."""
    return MetricDefinition(
        type=MetricType(metric.type),
        event_name=metric.event_name,
        value_property=metric.value_property,
        denominator_event_name=metric.denominator_event_name,
        window_hours=metric.window_hours,
        winsorize_percentile=metric.winsorize_percentile,
        value_cap=metric.winsorize_cap,
        lower_is_better=metric.lower_is_better,
        key=metric.key,
        quantile=metric.quantile,
        test=metric.test,
        interval=metric.interval,
    )


def unit_filter(session: Session, experiment: Experiment, segment: str | None) -> UnitFilter | None:
    """The units a ``segment`` query parameter keeps (None: all); 422 when it cannot be used."""
    if segment is None:
        return None
    if has_prefix(segment, "seg"):
        found = refs.in_project(session, Segment, experiment.project_id, segment, "segment")
        return _from_segment(session, found)
    key, sep, value = segment.partition("=")
    if not sep or not _ATTRIBUTE_KEY.fullmatch(key):
        raise field_error("segment", f"Slice by {_SLICE_HINT}.")
    return UnitFilter(attribute_key=key, values=(value,))


def _from_segment(session: Session, segment: Segment) -> UnitFilter:
    if segment.type == "ids":
        if segment.member_count > MAX_SEGMENT_MEMBERS:
            raise field_error(
                "segment",
                f"Segment {segment.id!r} has {segment.member_count} members; results can be "
                f"sliced by id segments of at most {MAX_SEGMENT_MEMBERS}.",
            )
        return UnitFilter(values=tuple(segment_repository.unit_ids(session, segment.id)))
    leaf = _single_leaf(segment.conditions)
    if leaf is None:
        raise field_error(
            "segment",
            f"Segment {segment.id!r} has conditions results cannot slice by: only one 'eq' or "
            "'in' condition on a string attribute is supported.",
        )
    values = (leaf.value,) if leaf.operator == "eq" else (leaf.values or ())
    return UnitFilter(attribute_key=leaf.attribute, values=tuple(str(v) for v in values))


def _single_leaf(conditions: object) -> Leaf | None:
    """The one eq / in comparison of string values a condition tree amounts to, if so."""
    try:
        node = parse_condition(conditions)
    except ConfigError:
        return None
    while isinstance(node, AllOf) and len(node.conditions) == 1:
        node = node.conditions[0]
    if not isinstance(node, Leaf) or node.operator not in ("eq", "in"):
        return None
    values = (node.value,) if node.operator == "eq" else (node.values or ())
    if not _ATTRIBUTE_KEY.fullmatch(node.attribute) or not all(isinstance(v, str) for v in values):
        return None
    return node
