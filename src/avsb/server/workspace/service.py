"""Workspace export, validate and import (docs/workspace.md)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy.orm import Session

from avsb.server.errors import Conflict
from avsb.server.kit import audit
from avsb.server.kit.context import ChangeContext
from avsb.server.workspace import checks, group_ids, parsing, repository
from avsb.server.workspace.exporter import export_document
from avsb.server.workspace.importer import ProjectImport, import_webhook
from avsb.server.workspace.problems import Problems
from avsb.server.workspace.schemas import (
    WorkspaceImport,
    WorkspaceImportedProject,
    WorkspaceProblem,
)

__all__ = ["export_document", "import_document", "validate_document"]


def _read(raw: object, problems: Problems, allow_private: bool) -> parsing.Parsed | None:
    parsed = parsing.parse(raw, problems)
    if parsed is not None:
        checks.check(parsed, problems, allow_private=allow_private)
    return parsed


def validate_document(raw: object, *, allow_private: bool) -> list[WorkspaceProblem]:
    """Every problem of a workspace document; reads and writes nothing."""
    problems = Problems()
    _read(raw, problems, allow_private)
    return problems.items


def _ensure_empty(session: Session, org_id: str) -> None:
    count = repository.count_projects(session, org_id)
    if count:
        raise Conflict(
            f"The organisation already has {count} project(s): a workspace can only be "
            "imported into an organisation without projects (create a new one).",
            details={"projects": count},
        )


def import_document(
    session: Session,
    ctx: ChangeContext,
    raw: object,
    *,
    allow_private: bool,
    on_group_id_conflict: group_ids.OnConflict = "refuse",
) -> WorkspaceImport:
    """Rebuild a valid document in the (empty) organisation of ``ctx``, in this transaction.

    422 with every problem when the document is invalid, 409 when the org has projects or
    (unless ``on_group_id_conflict`` is ``renumber``) holds a group id of the document.
    """
    problems = Problems()
    parsed = _read(raw, problems, allow_private)
    if parsed is None or problems:
        raise problems.failure("The workspace document is not valid; nothing was imported.")
    _ensure_empty(session, ctx.org_id)
    numbers, renumbered = group_ids.reserve(session, ctx.org_id, parsed, on_group_id_conflict)
    counts: Counter[str] = Counter()
    projects = []
    for part in parsed.projects:
        if part.data is not None:  # always, in a document without problems
            project = ProjectImport(session, ctx, counts, numbers).run(part, part.data)
            projects.append(WorkspaceImportedProject(key=project.key, id=project.id))
    for item in parsed.webhooks:
        import_webhook(session, ctx, item, None)
        counts["webhooks"] += 1
    header = parsed.header
    exported_at = header.get("exported_at")
    details = {
        "format_version": header.get("version"),
        "exported_at": exported_at.isoformat() if exported_at else None,
        "counts": dict(counts),
        "renumbered_group_ids": [r.model_dump() for r in renumbered],
    }
    audit.record(session, ctx, "workspace.imported", ("organization", ctx.org_id), details)
    return WorkspaceImport(counts=dict(counts), projects=projects, renumbered_group_ids=renumbered)
