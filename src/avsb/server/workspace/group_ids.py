"""The group ids of a workspace document: each variant's stable number (what the ABC API
answers as ``group_id``), which an import keeps so that clients that stored them still work.

A number belongs to one (project, experiment, variant key) in the whole document: a variant
and the same variant in the experiment's plan versions share it. An import refuses numbers the
organisation already holds (409 ``group_id_conflict``) unless asked to renumber them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from avsb.server.errors import Conflict
from avsb.server.experiments import repository as experiment_repository
from avsb.server.experiments import service as experiment_service
from avsb.server.workspace.parsing import Parsed
from avsb.server.workspace.problems import Problems, join
from avsb.server.workspace.schemas import RenumberedGroupId

OnConflict = Literal["refuse", "renumber"]
Owner = tuple[str, str, str]
"""(project key, experiment key, variant key)."""


@dataclass(frozen=True)
class Use:
    """One group id named in the document: where, and whose it is."""

    path: str
    owner: Owner
    group_id: int


def uses(parsed: Parsed) -> Iterator[Use]:
    """Every group id the document names, variants before plan versions."""
    for part in parsed.projects:
        project = part.data["key"] if part.data is not None else part.path
        for item in part.items["experiments"]:
            key = item.data["key"]
            for i, variant in enumerate(item.data["variants"]):
                if variant["group_id"] is not None:
                    where = join(item.path, "variants", i, "group_id")
                    yield Use(where, (project, key, variant["key"]), variant["group_id"])
            for i, plan in enumerate(item.data["plans"]):
                for j, variant in enumerate(plan["variants"]):
                    if variant["group_id"] is not None:
                        where = join(item.path, "plans", i, "variants", j, "group_id")
                        yield Use(where, (project, key, variant["key"]), variant["group_id"])


def check(parsed: Parsed, problems: Problems) -> None:
    """A problem where a number names two variants, or a variant gets two numbers."""
    owners: dict[int, Use] = {}
    numbers: dict[Owner, Use] = {}
    for use in uses(parsed):
        first = owners.setdefault(use.group_id, use)
        if first.owner != use.owner:
            message = f"Group id {use.group_id} is already the number of {first.path}."
            problems.add(use.path, "duplicate_group_id", message)
            continue
        before = numbers.setdefault(use.owner, use)
        if before.group_id != use.group_id:
            message = f"The variant has group id {before.group_id} at {before.path}."
            problems.add(use.path, "invalid_value", message)


def reserve(
    session: Session, org_id: str, parsed: Parsed, on_conflict: OnConflict
) -> tuple[dict[Owner, int], list[RenumberedGroupId]]:
    """The number of each variant the document numbers, and those renumbered.

    A number the organisation holds (a deleted experiment's, say) is refused (409) or, with
    ``renumber``, replaced by a new one; the caller imports a document without problems.
    """
    found = {use.owner: use for use in uses(parsed)}
    taken = experiment_repository.taken_group_ids(
        session, org_id, {use.group_id for use in found.values()}
    )
    clashes = sorted((use for use in found.values() if use.group_id in taken), key=_order)
    if clashes and on_conflict == "refuse":
        raise Conflict(
            f"The organisation already holds {len(clashes)} group id(s) of the document; "
            "nothing was imported. Import into another organisation, or pass "
            "on_group_id_conflict=renumber to give those variants new numbers.",
            code="group_id_conflict",
            details={"group_ids": [{"path": u.path, "group_id": u.group_id} for u in clashes]},
        )
    numbers = {owner: use.group_id for owner, use in found.items()}
    avoid = frozenset(numbers.values())
    fresh = experiment_service.new_group_ids(session, org_id, len(clashes), avoid)
    renumbered = []
    for use, number in zip(clashes, fresh, strict=True):
        numbers[use.owner] = number
        project, experiment, variant = use.owner
        renumbered.append(
            RenumberedGroupId(
                project=project,
                experiment=experiment,
                variant=variant,
                from_group_id=use.group_id,
                to_group_id=number,
            )
        )
    return numbers, renumbered


def of_experiment(numbers: Mapping[Owner, int], project: str, experiment: str) -> dict[str, int]:
    """Variant key -> number, of one experiment."""
    return {o[2]: n for o, n in numbers.items() if o[0] == project and o[1] == experiment}


def _order(use: Use) -> tuple[Owner, int]:
    return use.owner, use.group_id
