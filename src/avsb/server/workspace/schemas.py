"""The workspace document (docs/workspace.md): a whole organisation as portable JSON.

Each resource of the document is the API's create body without ``project_id`` and with its
references by key (``exclusion_group``, ``audience``, ``metrics``, ``experiment``) instead of by
id, plus the state an export carries (salts, lifecycle, allocation, plans, decision). The item
models are derived from the create bodies, so a field's rules are written once.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, create_model

from avsb.server.audiences.schemas import AudienceCreate
from avsb.server.exclusion_groups.schemas import ExclusionGroupCreate
from avsb.server.experiments.schemas import (
    SALT_PATTERN,
    ExperimentCreate,
    ExperimentDesign,
    MetricRoles,
    Status,
    Variant,
)
from avsb.server.flags.schemas import MAX_RULES, FlagCreate, FlagRule
from avsb.server.kit.schemas import Rfc3339, StrictModel
from avsb.server.metrics.schemas import MetricCreate
from avsb.server.projects.schemas import KEY_PATTERN, ProjectCreate
from avsb.server.segments.schemas import SegmentCreate
from avsb.server.templates.schemas import TemplateCreate
from avsb.server.webhooks.schemas import WebhookCreate

FORMAT = "avsb.workspace"
VERSION = 1
Key = Annotated[str, StringConstraints(pattern=KEY_PATTERN)]
Salt = Annotated[str, StringConstraints(pattern=SALT_PATTERN)]
Bucket = Annotated[int, Field(ge=0, le=10_000)]
BucketRange = Annotated[list[Bucket], Field(min_length=2, max_length=2)]
_REFS = ("exclusion_group_id", "audience_id", "metrics")


def _derive(name: str, base: type[BaseModel], drop: tuple[str, ...], **extra: Any) -> Any:
    """A strict model with ``base``'s fields but ``project_id`` and ``drop``, plus ``extra``."""
    fields: dict[str, Any] = {
        field: (info.annotation, info)
        for field, info in base.model_fields.items()
        if field != "project_id" and field not in drop
    }
    return create_model(name, __base__=StrictModel, __doc__=base.__doc__, **fields, **extra)


def _listed(model: Any, most: int | None = None) -> tuple[Any, Any]:
    return list[model], Field(default_factory=list, max_length=most)


class WorkspaceActor(StrictModel):
    type: str = Field(min_length=1, max_length=16, description="token, user or system")
    name: str = Field(min_length=1, max_length=200)


_ROLES: dict[str, Any] = {role: (list[Key], i) for role, i in MetricRoles.model_fields.items()}
MetricKeys = create_model("WorkspaceMetricKeys", __base__=StrictModel, **_ROLES)
_DESIGN_REFS: dict[str, Any] = {
    "exclusion_group": (Key | None, None),
    "audience": (Key | None, None),
    "metrics": (MetricKeys, Field(default_factory=MetricKeys)),
}


GroupId = Annotated[
    int | None,
    Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="The variant's stable number (ABC group_id): kept by an import, new if null",
    ),
]


class WorkspaceVariant(Variant):
    group_id: GroupId


class WorkspacePlanVariant(StrictModel):
    key: Key
    weight: float
    group_id: GroupId


class WorkspacePlan(StrictModel):
    """One version of an experiment's analysis plan, as it was pinned."""

    version: int = Field(ge=1)
    created_at: Rfc3339
    actor: WorkspaceActor
    metrics: MetricKeys
    analysis: dict[str, Any] = Field(description="The analysis settings of this version")
    variants: list[WorkspacePlanVariant] = Field(max_length=10)


class WorkspaceDecision(StrictModel):
    winner: Key | None = Field(description="A variant key, or null for no winner")
    reason: str = Field(default="", max_length=5000)
    rollout_flag: Key | None = Field(default=None, description="Key of the flag rolled out")
    decided_at: Rfc3339
    actor: WorkspaceActor


Group = _derive("WorkspaceExclusionGroup", ExclusionGroupCreate, (), salt=(Salt | None, None))
Segment = _derive("WorkspaceSegment", SegmentCreate, ())
Audience = _derive("WorkspaceAudience", AudienceCreate, ())
Metric = _derive("WorkspaceMetric", MetricCreate, ())
Experiment = _derive(
    "WorkspaceExperiment",
    ExperimentCreate,
    (*_REFS, "variants"),
    **_DESIGN_REFS,
    variants=(list[WorkspaceVariant], copy.copy(ExperimentCreate.model_fields["variants"])),
    status=(Status, "draft"),
    allocation=(list[BucketRange] | None, Field(default=None, max_length=10_000)),
    started_at=(Rfc3339 | None, None),
    stopped_at=(Rfc3339 | None, None),
    archived_at=(Rfc3339 | None, None),
    decision=(WorkspaceDecision | None, None),
    plans=_listed(WorkspacePlan, 1000),
)
FlagRuleDoc = _derive("WorkspaceFlagRule", FlagRule, ("audience_id",), audience=(Key | None, None))
Flag = _derive(
    "WorkspaceFlag",
    FlagCreate,
    ("experiment_id", "rules"),
    experiment=(Key | None, None),
    rules=_listed(FlagRuleDoc, MAX_RULES),
    salt=(Salt | None, None),
)
TemplateDesign = _derive("WorkspaceTemplateDesign", ExperimentDesign, _REFS, **_DESIGN_REFS)
Template = _derive("WorkspaceTemplate", TemplateCreate, ("body",), body=(TemplateDesign, ...))
Webhook = _derive("WorkspaceWebhook", WebhookCreate, ())

RESOURCES: dict[str, Any] = {
    "exclusion_groups": Group,
    "segments": Segment,
    "audiences": Audience,
    "metrics": Metric,
    "experiments": Experiment,
    "flags": Flag,
    "templates": Template,
    "webhooks": Webhook,
}
"""The resource lists of a project, in the order an import creates them."""

Project = _derive(
    "WorkspaceProject",
    ProjectCreate,
    (),
    archived_at=(Rfc3339 | None, None),
    **{kind: _listed(model) for kind, model in RESOURCES.items()},
)


class WorkspaceOrganization(StrictModel):
    name: str = Field(max_length=200, description="Informative: an import keeps the org's name")


class WorkspaceDocument(StrictModel):
    """A whole organisation: projects with everything in them, and org-wide webhooks."""

    format: Literal["avsb.workspace"]
    version: Literal[1]
    exported_at: Rfc3339 | None = None
    organization: WorkspaceOrganization | None = None
    projects: list[Project] = Field(default_factory=list)  # type: ignore[valid-type]
    webhooks: list[Webhook] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Webhooks of no particular project"
    )


class WorkspaceProblem(BaseModel):
    path: str = Field(description="JSON path in the document, such as $.projects[0].key")
    code: str
    message: str


class WorkspaceValidation(BaseModel):
    valid: bool
    problems: list[WorkspaceProblem]


class WorkspaceImportedProject(BaseModel):
    key: str
    id: str


class RenumberedGroupId(BaseModel):
    project: str = Field(description="Project key")
    experiment: str = Field(description="Experiment key")
    variant: str = Field(description="Variant key")
    from_group_id: int = Field(description="The number in the document, held in this org")
    to_group_id: int = Field(description="The new number the variant got")


class WorkspaceImport(BaseModel):
    counts: dict[str, int] = Field(description="Resources created, by kind")
    projects: list[WorkspaceImportedProject]
    renumbered_group_ids: list[RenumberedGroupId] = Field(
        default_factory=list,
        description="Group ids of the document this org already held, renumbered on request "
        "(on_group_id_conflict=renumber); empty when every number was kept",
    )
