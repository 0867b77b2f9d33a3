"""Feature flags: typed default, kill switch, ordered rules, or values from an experiment."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from avsb.server.audiences import conditions
from avsb.server.design import refs
from avsb.server.errors import field_error
from avsb.server.flags.schemas import FlagCreate, FlagOut
from avsb.server.kit import resources
from avsb.server.kit.context import ChangeContext
from avsb.server.kit.ids import new_id
from avsb.server.models import Audience, Experiment, Flag
from avsb.server.models.scoped import RESTORE_HOOKS
from avsb.server.webhooks import service as webhook_service
from avsb_sdk.evaluation.config import flag_value_matches
from avsb_sdk.evaluation.flags import convert_param


def present(flag: Flag) -> FlagOut:
    return FlagOut.model_validate(flag)


def _notify(session: Session, flag: Flag, event_type: str) -> None:
    data = present(flag).model_dump(mode="json")
    webhook_service.emit(session, flag.org_id, event_type, data, flag.project_id)


def check_binding(
    flag_type: str, param: str, variants: Sequence[dict[str, Any]], path: str
) -> None:
    """Every variant has ``param`` and its value converts to ``flag_type`` (else 422 at path)."""
    for variant in variants:
        text = variant["params"].get(param)
        if text is None:
            raise field_error(path, f"Variant {variant['key']!r} has no param {param!r}.")
        try:
            convert_param(flag_type, text)
        except ValueError:
            message = f"Variant {variant['key']!r} sets {param}={text!r}: not a {flag_type} value."
            raise field_error(path, message) from None


def check_values(spec: dict[str, Any]) -> None:
    """The default and every rule value are values of the flag's type (else 422)."""
    kind = spec["type"]
    if not flag_value_matches(kind, spec["default_value"]):
        raise field_error("default_value", f"The default must be a {kind} value.")
    for i, rule in enumerate(spec["rules"]):
        if not flag_value_matches(kind, rule["value"]):
            raise field_error(f"rules.{i}.value", f"A rule's value must be a {kind} value.")


def _check_rules(session: Session, project_id: str, rules: list[dict[str, Any]]) -> None:
    for i, rule in enumerate(rules):
        if rule["audience_id"] is not None:
            path = f"rules.{i}.audience_id"
            refs.in_project(session, Audience, project_id, rule["audience_id"], path)
        if rule["conditions"] is not None:
            conditions.validate(session, project_id, rule["conditions"], f"rules.{i}.conditions")


def _check_experiment(session: Session, project_id: str, spec: dict[str, Any]) -> None:
    experiment_id, param = spec["experiment_id"], spec["experiment_param"]
    if experiment_id is None and param is None:
        return
    if experiment_id is None:
        raise field_error("experiment_id", "experiment_param needs an experiment_id.")
    if param is None:
        raise field_error("experiment_param", "A flag bound to an experiment needs its param.")
    experiment = refs.in_project(session, Experiment, project_id, experiment_id, "experiment_id")
    if experiment.status == "archived":
        raise field_error("experiment_id", "The experiment is archived.")
    check_binding(spec["type"], param, experiment.variants, "experiment_param")


def _validate(session: Session, project_id: str, spec: dict[str, Any]) -> None:
    """The whole state of a flag: values of its type, its references, its binding."""
    check_values(spec)
    _check_rules(session, project_id, spec["rules"])
    _check_experiment(session, project_id, spec)


def create(session: Session, ctx: ChangeContext, body: FlagCreate) -> Flag:
    refs.project_for(session, ctx.org_id, body.project_id)
    spec = body.model_dump()
    spec["name"] = spec["name"] or body.key
    _validate(session, body.project_id, spec)
    flag = Flag(id=new_id("flg"), org_id=ctx.org_id, salt=secrets.token_hex(8), **spec)
    resources.create(session, ctx, flag)
    _notify(session, flag, "flag.created")
    return flag


def update(session: Session, ctx: ChangeContext, flag: Flag, spec: dict[str, Any]) -> Flag:
    _validate(session, flag.project_id, {**flag.snapshot(), **spec})
    version = flag.version
    resources.update(session, ctx, flag, spec)
    if flag.version != version:
        _notify(session, flag, "flag.updated")
    return flag


def delete(session: Session, ctx: ChangeContext, flag: Flag) -> None:
    _notify(session, flag, "flag.deleted")
    resources.delete(session, ctx, flag)


def roll_out(session: Session, ctx: ChangeContext, flag: Flag, params: dict[str, str]) -> Flag:
    """Make the winning variant's param the default and unbind the flag from its experiment."""
    try:
        value = convert_param(flag.type, params[flag.experiment_param or ""])
    except (KeyError, ValueError):
        message = f"The winner has no {flag.type} value for this flag."
        raise field_error("rollout_flag_id", message) from None
    spec = {"default_value": value, "experiment_id": None, "experiment_param": None}
    return update(session, ctx, flag, spec)


def _after_restore(session: Session, flag: Flag) -> None:
    with refs.restoring():
        _validate(session, flag.project_id, flag.snapshot())
    _notify(session, flag, "flag.updated")


RESTORE_HOOKS[Flag.__resource_type__] = _after_restore
