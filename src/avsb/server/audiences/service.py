"""Audiences: named rule trees that experiments and flag rules target."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from avsb.server.audiences import conditions
from avsb.server.audiences.schemas import AudienceCreate, AudienceOut
from avsb.server.design import refs
from avsb.server.experiments import repository as experiment_repository
from avsb.server.flags import repository as flag_repository
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Audience
from avsb.server.models.scoped import RESTORE_HOOKS


def present(audience: Audience) -> AudienceOut:
    return AudienceOut.model_validate(audience)


def create(session: Session, ctx: ChangeContext, body: AudienceCreate) -> Audience:
    refs.project_for(session, ctx.org_id, body.project_id)
    conditions.validate(session, body.project_id, body.conditions, "conditions")
    audience = Audience(id=new_id("aud"), org_id=ctx.org_id, **body.model_dump())
    resources.create(session, ctx, audience)
    return audience


def update(
    session: Session, ctx: ChangeContext, audience: Audience, spec: dict[str, Any]
) -> Audience:
    if "conditions" in spec:
        conditions.validate(session, audience.project_id, spec["conditions"], "conditions")
    resources.update(session, ctx, audience, spec)
    return audience


def users(session: Session, audience: Audience) -> list[str]:
    """Ids of the experiments and flags that target ``audience``."""
    found = [e.id for e in experiment_repository.with_audience(session, audience.id)]
    for flag in flag_repository.in_project(session, audience.project_id):
        if any(rule.get("audience_id") == audience.id for rule in flag.rules):
            found.append(flag.id)
    return found


def delete(session: Session, ctx: ChangeContext, audience: Audience) -> None:
    refs.ensure_unused("audience", users(session, audience))
    resources.delete(session, ctx, audience)


def _after_restore(session: Session, audience: Audience) -> None:
    with refs.restoring():
        conditions.validate(session, audience.project_id, audience.conditions, "conditions")


RESTORE_HOOKS[Audience.__resource_type__] = _after_restore
