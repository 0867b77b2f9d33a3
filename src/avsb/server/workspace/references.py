"""Rewriting references between ids (in the database) and keys (in the document)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_GROUPS = ("all", "any", "not")


def segments_in_tree(tree: Any, names: Mapping[str, str]) -> Any:
    """A copy of a rule tree with each ``{"segment": x}`` naming ``names[x]`` (x when absent)."""
    if isinstance(tree, list):
        return [segments_in_tree(child, names) for child in tree]
    if not isinstance(tree, dict):
        return tree
    segment = tree.get("segment")
    if len(tree) == 1 and isinstance(segment, str):
        return {"segment": names.get(segment, segment)}
    return {k: segments_in_tree(v, names) if k in _GROUPS else v for k, v in tree.items()}


def metric_roles(roles: Mapping[str, list[str]], names: Mapping[str, str]) -> dict[str, list[str]]:
    """Metrics by role with each reference renamed; one ``names`` does not know is left out."""
    return {role: [names[ref] for ref in refs if ref in names] for role, refs in roles.items()}


def one(ref: str | None, names: Mapping[str, str]) -> str | None:
    """One optional reference renamed (None when it is None or unknown)."""
    return None if ref is None else names.get(ref)
