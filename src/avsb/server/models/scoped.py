"""The columns every experiment-design resource shares: it lives in one project of one org."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, Session, declared_attr, mapped_column

from avsb.server.models.base import Revisioned

RestoreHook = Callable[[Session, Any], None]
RESTORE_HOOKS: dict[str, RestoreHook] = {}
"""Resource type -> what its service checks and refreshes after a revision is restored.

Services register here so that models stay free of service imports; a hook that raises
rolls the restore back (the request is one transaction).
"""


class ProjectScoped(Revisioned):
    """A revisioned resource of a project with a key unique in that project."""

    __tablename__: Any

    id: Mapped[str] = mapped_column(String(40), primary_key=True, sort_order=-6)
    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), sort_order=-5
    )
    # No ON DELETE: deleting a project that still holds resources is refused (409).
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), sort_order=-4)
    key: Mapped[str] = mapped_column(String(100), sort_order=-3)
    name: Mapped[str] = mapped_column(String(200), sort_order=-2)
    description: Mapped[str] = mapped_column(Text, default="", sort_order=-1)

    @declared_attr.directive
    def __table_args__(cls) -> tuple[Any, ...]:  # noqa: N805
        table = cls.__tablename__
        return (
            UniqueConstraint("project_id", "key"),
            Index(f"ix_{table}_org_id_id", "org_id", "id"),
            Index(f"ix_{table}_org_id_key", "org_id", "key"),
        )

    @staticmethod
    def __after_restore__(session: Session, obj: ProjectScoped) -> None:
        hook = RESTORE_HOOKS.get(obj.__resource_type__)
        if hook is not None:
            hook(session, obj)
