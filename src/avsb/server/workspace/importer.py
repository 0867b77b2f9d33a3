"""Import: a validated workspace document rebuilt through the services, with new ids.

Every resource is created by its service (so it is checked, audited and revisioned as if
created over the API), in dependency order: layers, segments, audiences, metrics,
experiments (as drafts), flags, then the experiments' lifecycle state, templates and
webhooks. What a create cannot set is then restored as exported: salts, bucket ranges,
status and times, the decision and the plan history. That state is not a change anyone
made, so it adds no audit event of its own; the import's ``workspace.imported`` covers it.
"""

from __future__ import annotations

import contextlib
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.orm import Session

from avsb.server.audiences import service as audience_service
from avsb.server.audiences.schemas import AudienceCreate
from avsb.server.errors import Conflict
from avsb.server.exclusion_groups import service as group_service
from avsb.server.exclusion_groups.schemas import ExclusionGroupCreate
from avsb.server.experiments import plans as plan_service
from avsb.server.experiments import service as experiment_service
from avsb.server.experiments.schemas import ExperimentCreate, ExperimentDesign
from avsb.server.flags import service as flag_service
from avsb.server.flags.schemas import FlagCreate
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.metrics import service as metric_service
from avsb.server.metrics.schemas import MetricCreate
from avsb.server.models import Experiment, ExperimentPlan, Project
from avsb.server.models.base import utcnow
from avsb.server.projects import service as project_service
from avsb.server.projects.schemas import ProjectCreate
from avsb.server.segments import service as segment_service
from avsb.server.segments.schemas import SegmentCreate
from avsb.server.templates import service as template_service
from avsb.server.templates.schemas import TemplateCreate
from avsb.server.webhooks import service as webhook_service
from avsb.server.webhooks.schemas import WebhookCreate
from avsb.server.workspace import group_ids
from avsb.server.workspace.parsing import Item, ProjectPart
from avsb.server.workspace.problems import Problems
from avsb.server.workspace.references import segments_in_tree

B = TypeVar("B", bound=BaseModel)
IMPORTED = "imported: set a new signing secret (rotate) before enabling"
_STARTED = frozenset({"running", "paused", "stopped"})


@contextlib.contextmanager
def located(path: str) -> Iterator[None]:
    """A service's 422 while importing the resource at ``path``, with the document's paths."""
    problems = Problems()
    try:
        with problems.at(path):
            yield
    except Conflict as exc:
        exc.details.setdefault("path", path)
        raise
    if problems:
        raise problems.failure("The workspace document cannot be imported.")


def import_webhook(
    session: Session, ctx: ChangeContext, item: Item, project_id: str | None
) -> None:
    """A webhook, disabled and with a new secret (the document has none)."""
    with located(item.path):
        body = WebhookCreate.model_validate({**item.data, "project_id": project_id})
    spec = {**body.model_dump(), "enabled": False, "disabled_reason": IMPORTED}
    with located(item.path):
        webhook_service.create(session, ctx, spec)


class ProjectImport:
    """One project of the document: created resources' ids by kind and key."""

    def __init__(
        self,
        session: Session,
        ctx: ChangeContext,
        counts: Counter[str],
        numbers: Mapping[group_ids.Owner, int],
    ) -> None:
        self.session = session
        self.ctx = ctx
        self.counts = counts
        self.numbers = numbers
        self.ids: dict[str, dict[str, str]] = defaultdict(dict)
        self.group_ids: dict[str, dict[str, int]] = {}
        self.project_id = ""
        self.project_key = ""

    def _body(self, model: type[B], data: Mapping[str, Any], **refs: Any) -> B:
        """``model``'s create body from a document resource; ``refs`` replace its keys."""
        fields = {name: data[name] for name in model.model_fields if name in data}
        return model.model_validate({**fields, "project_id": self.project_id, **refs})

    def _id(self, kind: str, key: str | None) -> str | None:
        return None if key is None else self.ids[kind][key]

    def _created(self, kind: str, item: Item, resource_id: str) -> None:
        self.ids[kind][item.data["key"]] = resource_id
        self.counts[kind] += 1

    def _metrics(self, roles: Mapping[str, list[str]]) -> dict[str, list[str]]:
        return {role: [self.ids["metrics"][key] for key in keys] for role, keys in roles.items()}

    def _design(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """The id references of an experiment design from the document's keys."""
        return {
            "exclusion_group_id": self._id("exclusion_groups", data["exclusion_group"]),
            "audience_id": self._id("audiences", data["audience"]),
            "metrics": self._metrics(data["metrics"]),
        }

    def run(self, part: ProjectPart, data: Mapping[str, Any]) -> Project:
        spec = ProjectCreate.model_validate({k: data[k] for k in ProjectCreate.model_fields})
        project = project_service.create(self.session, self.ctx, spec.model_dump())
        self.project_id, self.project_key = project.id, project.key
        self.counts["projects"] += 1
        items = part.items
        self.groups(items["exclusion_groups"])
        self.segments(items["segments"])
        self.audiences(items["audiences"])
        self.metrics(items["metrics"])
        experiments = self.experiments(items["experiments"])
        self.flags(items["flags"])
        for item in items["experiments"]:
            self.lifecycle(item, experiments[item.data["key"]])
        self.templates(items["templates"])
        for item in items["webhooks"]:
            import_webhook(self.session, self.ctx, item, project.id)
            self.counts["webhooks"] += 1
        project.archived_at = data["archived_at"]
        self.session.flush()
        return project

    def groups(self, items: list[Item]) -> None:
        for item in items:
            with located(item.path):
                body = self._body(ExclusionGroupCreate, item.data)
                group = group_service.create(self.session, self.ctx, body)
            group.salt = item.data["salt"] or group.salt
            self._created("exclusion_groups", item, group.id)
        self.session.flush()

    def segments(self, items: list[Item]) -> None:
        for item in items:
            with located(item.path):
                body = self._body(SegmentCreate, item.data)
                segment = segment_service.create(self.session, self.ctx, body)
            self._created("segments", item, segment.id)
            self.counts["segment_members"] += segment.member_count

    def audiences(self, items: list[Item]) -> None:
        for item in items:
            tree = segments_in_tree(item.data["conditions"], self.ids["segments"])
            with located(item.path):
                body = self._body(AudienceCreate, item.data, conditions=tree)
                audience = audience_service.create(self.session, self.ctx, body)
            self._created("audiences", item, audience.id)

    def metrics(self, items: list[Item]) -> None:
        for item in items:
            with located(item.path):
                body = self._body(MetricCreate, item.data)
                metric = metric_service.create(self.session, self.ctx, body)
            self._created("metrics", item, metric.id)

    def experiments(self, items: list[Item]) -> dict[str, Experiment]:
        """Drafts holding their exported bucket ranges and group ids; those with ranges go
        first, so the ranges planned for the others are planned around them."""
        out: dict[str, Experiment] = {}
        for item in sorted(items, key=lambda i: i.data["allocation"] is None):
            data = item.data
            numbers = group_ids.of_experiment(self.numbers, self.project_key, data["key"])
            self.group_ids[data["key"]] = numbers
            variants = [{k: v[k] for k in ("key", "weight", "params")} for v in data["variants"]]
            with located(item.path):
                body = self._body(ExperimentCreate, data, variants=variants, **self._design(data))
                experiment = experiment_service.create(
                    self.session, self.ctx, body, group_ids=numbers
                )
            if data["status"] == "archived":
                experiment.allocation = None
            elif data["allocation"] is not None:
                experiment.allocation = data["allocation"]
            self.session.flush()
            self._created("experiments", item, experiment.id)
            out[data["key"]] = experiment
        return out

    def flags(self, items: list[Item]) -> None:
        for item in items:
            data = item.data
            rules = [
                {
                    "audience_id": self._id("audiences", rule["audience"]),
                    "conditions": segments_in_tree(rule["conditions"], self.ids["segments"]),
                    "rollout_percent": rule["rollout_percent"],
                    "value": rule["value"],
                }
                for rule in data["rules"]
            ]
            experiment_id = self._id("experiments", data["experiment"])
            with located(item.path):
                body = self._body(FlagCreate, data, rules=rules, experiment_id=experiment_id)
                flag = flag_service.create(self.session, self.ctx, body)
            flag.salt = data["salt"] or flag.salt
            self._created("flags", item, flag.id)
        self.session.flush()

    def lifecycle(self, item: Item, experiment: Experiment) -> None:
        """Status, times, decision and plan history as exported (a draft has none)."""
        data = item.data
        if data["status"] == "draft":
            return
        now = utcnow()
        experiment.status = data["status"]
        experiment.started_at = data["started_at"] or (now if data["status"] in _STARTED else None)
        experiment.stopped_at = data["stopped_at"]
        experiment.archived_at = data["archived_at"]
        experiment.decision = self._decision(data["decision"])
        self.session.flush()
        if data["plans"]:
            for plan in data["plans"]:
                self.session.add(self._plan(experiment, plan))
            self.session.flush()
        elif experiment.started_at is not None:
            plan_service.pin(self.session, self.ctx, experiment)
        resources.changed(self.session, experiment)  # fields set here, not by resources

    def _decision(self, decision: Mapping[str, Any] | None) -> dict[str, Any] | None:
        if decision is None:
            return None
        return {
            "winner": decision["winner"],
            "reason": decision["reason"],
            "rollout_flag_id": self._id("flags", decision["rollout_flag"]),
            "decided_at": decision["decided_at"].isoformat(),
            "actor_type": decision["actor"]["type"],
            "actor_id": None,
            "actor_name": decision["actor"]["name"],
        }

    def _plan(self, experiment: Experiment, plan: Mapping[str, Any]) -> ExperimentPlan:
        """A plan version with ids for keys; variants get the experiment's group ids (those of
        the document, or new ones for a variant the document does not number)."""
        arms = [{"key": v["key"], "weight": v["weight"], "params": {}} for v in plan["variants"]]
        numbers = self.group_ids.get(experiment.key)
        numbered = experiment_service.with_group_ids(self.session, experiment, arms, numbers)
        content = {
            "metrics": self._metrics(plan["metrics"]),
            **plan["analysis"],
            "variants": [{k: v[k] for k in ("key", "weight", "group_id")} for v in numbered],
        }
        return ExperimentPlan(
            id=new_id("pln"),
            org_id=experiment.org_id,
            experiment_id=experiment.id,
            version=plan["version"],
            plan=content,
            created_at=plan["created_at"],
            actor_type=plan["actor"]["type"],
            actor_id=None,
            actor_name=plan["actor"]["name"],
        )

    def templates(self, items: list[Item]) -> None:
        for item in items:
            design = item.data["body"]
            body = {k: design[k] for k in ExperimentDesign.model_fields if k in design}
            body.update(self._design(design))
            with located(item.path):
                template = template_service.create(
                    self.session, self.ctx, self._body(TemplateCreate, item.data, body=body)
                )
            self._created("templates", item, template.id)
