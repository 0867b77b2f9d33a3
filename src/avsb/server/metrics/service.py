"""Metrics: binary, count, sum, mean or ratio of events, with window and winsorization."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from avsb.server.design import refs
from avsb.server.errors import field_error
from avsb.server.experiments import repository as experiment_repository
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.metrics.schemas import MetricCreate, MetricOut
from avsb.server.models import Metric

_VALUE_TYPES = frozenset({"sum", "mean", "ratio", "quantile", "categorical"})
_PER_UNIT_TESTS = frozenset({"count", "sum"})  # the rank test and bootstrap interval


def present(metric: Metric) -> MetricOut:
    return MetricOut.model_validate(metric)


def check_definition(spec: dict[str, Any]) -> None:
    """Cross-field rules of a metric definition (the schema checks each field alone)."""
    kind = spec["type"]
    if kind == "ratio" and not spec.get("denominator_event_name"):
        raise field_error("denominator_event_name", "A ratio metric needs a denominator event.")
    if kind != "ratio" and spec.get("denominator_event_name"):
        raise field_error("denominator_event_name", "Only a ratio metric has a denominator.")
    if kind not in _VALUE_TYPES and spec.get("value_property"):
        raise field_error("value_property", f"A {kind} metric does not read event values.")
    if spec.get("winsorize_percentile") is not None and spec.get("winsorize_cap") is not None:
        raise field_error("winsorize_cap", "Give winsorize_percentile or winsorize_cap, not both.")
    winsorized = (
        spec.get("winsorize_percentile") is not None or spec.get("winsorize_cap") is not None
    )
    if kind == "binary" and winsorized:
        raise field_error("winsorize_percentile", "A binary metric cannot be winsorized.")
    _check_kind(kind, spec, winsorized)


def _check_kind(kind: str, spec: dict[str, Any], winsorized: bool) -> None:
    """Rules of the quantile and categorical types and of the per-unit test options."""
    if kind == "quantile" and spec.get("quantile") is None:
        raise field_error("quantile", "A quantile metric needs quantile in (0, 1), e.g. 0.5.")
    if kind != "quantile" and spec.get("quantile") is not None:
        raise field_error("quantile", "Only a quantile metric has a quantile.")
    if kind == "categorical" and not spec.get("value_property"):
        raise field_error(
            "value_property", "A categorical metric reads its category from value_property."
        )
    if kind in ("quantile", "categorical") and winsorized:
        raise field_error("winsorize_percentile", f"A {kind} metric cannot be winsorized.")
    for name, default in (("test", "welch"), ("interval", "normal")):
        if spec.get(name, default) != default and kind not in _PER_UNIT_TESTS:
            raise field_error(name, f"{name}={spec[name]!r} is for count and sum metrics.")


def create(session: Session, ctx: ChangeContext, body: MetricCreate) -> Metric:
    refs.project_for(session, ctx.org_id, body.project_id)
    spec = body.model_dump()
    check_definition(spec)
    metric = Metric(id=new_id("met"), org_id=ctx.org_id, **spec)
    return resources.create(session, ctx, metric)


def update(session: Session, ctx: ChangeContext, metric: Metric, spec: dict[str, Any]) -> Metric:
    check_definition({**metric.snapshot(), **spec})
    return resources.update(session, ctx, metric, spec)


def delete(session: Session, ctx: ChangeContext, metric: Metric) -> None:
    used_by = [e.id for e in experiment_repository.using_metric(session, metric)]
    refs.ensure_unused("metric", used_by)
    resources.delete(session, ctx, metric)
