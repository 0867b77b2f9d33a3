from __future__ import annotations

from avsb.server.design.crud import CrudSpec, Schemas, design_router
from avsb.server.metrics import service as metric_service
from avsb.server.metrics.schemas import MetricCreate, MetricFilters, MetricOut, MetricPatch
from avsb.server.models import Metric

schemas = Schemas(MetricCreate, MetricPatch, MetricOut, MetricFilters)
router = design_router("metrics", CrudSpec(Metric, "metrics", schemas, metric_service))
