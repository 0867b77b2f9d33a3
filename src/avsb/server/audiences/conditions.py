"""Rule trees of audiences, segments and flag rules: validated once, here, for all three.

The evaluation core (``avsb_sdk.evaluation.conditions``) defines the grammar and parses it;
this module adds what the API promises on top: field paths in 422s, at most 10 levels of
``all`` / ``any`` / ``not`` nesting, regexes of at most 500 characters, and segment
references that resolve to segments of the same project.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from avsb.server.errors import field_error
from avsb.server.segments import repository as segment_repository
from avsb_sdk.evaluation.conditions import parse_condition
from avsb_sdk.evaluation.errors import ConfigError

MAX_DEPTH = 10
MAX_REGEX_LENGTH = 500
_INDEX = re.compile(r"\[(\d+)\]")
_GROUPS = ("all", "any")


def _dotted(path: str) -> str:
    """``conditions.all[1].value`` -> ``conditions.all.1.value`` (the 422 field path form)."""
    return _INDEX.sub(r".\1", path)


def _children(node: dict[str, Any], path: str) -> Iterator[tuple[object, str]]:
    """The sub-conditions of a group node with their paths (nothing for a leaf)."""
    if len(node) != 1:
        return
    ((kind, body),) = node.items()
    if kind in _GROUPS and isinstance(body, list):
        for i, child in enumerate(body):
            yield child, f"{path}.{kind}.{i}"
    elif kind == "not":
        yield body, f"{path}.not"


def _check_limits(node: object, path: str, depth: int) -> None:
    """Depth and regex length, checked before parsing so a huge tree is refused cheaply."""
    if not isinstance(node, dict):
        return
    if len(node) == 1 and next(iter(node)) in (*_GROUPS, "not"):
        if depth >= MAX_DEPTH:
            raise field_error(path, f"Conditions may nest at most {MAX_DEPTH} levels deep.")
        for child, where in _children(node, path):
            _check_limits(child, where, depth + 1)
        return
    value = node.get("value")
    too_long = isinstance(value, str) and len(value) > MAX_REGEX_LENGTH
    if node.get("operator") == "regex" and too_long:
        raise field_error(f"{path}.value", f"A regex may be at most {MAX_REGEX_LENGTH} long.")


def segment_refs(
    tree: object, path: str = "conditions", depth: int = 0
) -> Iterator[tuple[str, str]]:
    """(field path, segment id) of every ``{"segment": id}`` in a tree, down to the deepest
    level a valid tree has (so any tree is walked in bounded time and stack)."""
    if not isinstance(tree, dict) or depth > MAX_DEPTH:
        return
    segment = tree.get("segment")
    if len(tree) == 1 and isinstance(segment, str):
        yield f"{path}.segment", segment
        return
    for child, where in _children(tree, path):
        yield from segment_refs(child, where, depth + 1)


def check_tree(tree: object, path: str) -> None:
    """Raise a 422 at the faulty node unless ``tree`` is a valid condition tree."""
    _check_limits(tree, path, 0)
    try:
        parse_condition(tree, path)
    except ConfigError as exc:
        raise field_error(_dotted(exc.path), exc.reason) from None


def check_segment_tree(tree: object, path: str) -> None:
    """A valid tree without segment references: a segment's own conditions may not name
    another segment, so segments can never form a cycle."""
    check_tree(tree, path)
    first = next(segment_refs(tree, path), None)
    if first is not None:
        raise field_error(first[0], "A segment's conditions cannot reference a segment.")


def validate(
    session: Session, project_id: str, tree: object, path: str, *, segments: bool = True
) -> None:
    """A valid tree whose segment references are segments of ``project_id``.

    ``segments=False`` refuses segment references altogether (see ``check_segment_tree``).
    """
    if not segments:
        check_segment_tree(tree, path)
        return
    check_tree(tree, path)
    refs = list(segment_refs(tree, path))
    known = segment_repository.ids_in_project(session, project_id, {ref for _, ref in refs})
    for where, ref in refs:
        if ref not in known:
            raise field_error(where, f"No segment {ref!r} in this project.")
