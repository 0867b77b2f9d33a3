"""Reading a workspace document against its schema, resource by resource, so that one bad
resource never hides the problems of the others."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from avsb.server.workspace import schemas
from avsb.server.workspace.problems import Problems, join

_LISTS = ("projects", "webhooks")


@dataclass(frozen=True)
class Item:
    """One resource that passed its schema: where it is and its data (defaults filled in)."""

    path: str
    data: dict[str, Any]


@dataclass
class ProjectPart:
    """A project of the document: its own fields (None when they are invalid), the resources
    that passed their schema by kind, and every key the document names per kind."""

    path: str
    data: dict[str, Any] | None
    items: dict[str, list[Item]] = field(default_factory=dict)
    keys: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Parsed:
    header: dict[str, Any]
    projects: list[ProjectPart]
    webhooks: list[Item]


def _validate(model: Any, raw: dict[str, Any], path: str, problems: Problems) -> Any:
    try:
        return model.model_validate(raw).model_dump()
    except ValidationError as exc:
        problems.schema(exc, path)
    except RecursionError:
        problems.add(path, "schema", "The value is nested too deeply.")
    return None


def _list(raw: object, path: str, problems: Problems) -> list[Any]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add(path, "schema", "Input should be a valid list")
        return []
    return raw


def _items(raw: object, model: Any, path: str, problems: Problems) -> list[Item]:
    out: list[Item] = []
    for i, element in enumerate(_list(raw, path, problems)):
        where = join(path, i)
        if not isinstance(element, dict):
            problems.add(where, "schema", "Input should be a valid object")
            continue
        data = _validate(model, element, where, problems)
        if data is not None:
            out.append(Item(where, data))
    return out


def _keys(raw: object) -> set[str]:
    """Keys named by the elements of a list, valid or not (so a broken resource does not also
    turn every reference to it into a problem)."""
    elements = raw if isinstance(raw, list) else []
    return {e["key"] for e in elements if isinstance(e, dict) and isinstance(e.get("key"), str)}


def _project(raw: object, path: str, problems: Problems) -> ProjectPart | None:
    if not isinstance(raw, dict):
        problems.add(path, "schema", "Input should be a valid object")
        return None
    own = {k: v for k, v in raw.items() if k not in schemas.RESOURCES}
    data = _validate(schemas.Project, own, path, problems)
    if data is not None:
        data = {k: v for k, v in data.items() if k not in schemas.RESOURCES}
    part = ProjectPart(path, data)
    for kind, model in schemas.RESOURCES.items():
        part.items[kind] = _items(raw.get(kind), model, join(path, kind), problems)
        part.keys[kind] = _keys(raw.get(kind))
    return part


def parse(raw: object, problems: Problems) -> Parsed | None:
    """The document's valid parts; None when it is not a workspace document of a known version."""
    if not isinstance(raw, dict):
        problems.add("$", "schema", "The document must be a JSON object.")
        return None
    header = {k: v for k, v in raw.items() if k not in _LISTS}
    try:
        doc = schemas.WorkspaceDocument.model_validate(header)
    except ValidationError as exc:
        problems.schema(exc, "$")
        if any(err["loc"][:1] in (("format",), ("version",)) for err in exc.errors()):
            return None
        doc = None
    projects = [
        _project(element, join("$.projects", i), problems)
        for i, element in enumerate(_list(raw.get("projects"), "$.projects", problems))
    ]
    webhooks = _items(raw.get("webhooks"), schemas.Webhook, "$.webhooks", problems)
    header_data = {} if doc is None else doc.model_dump(exclude=set(_LISTS))
    return Parsed(header_data, [p for p in projects if p is not None], webhooks)
