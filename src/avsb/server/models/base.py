"""Declarative base, column types shared by every model, and the revisioned-resource mixin."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, DateTime, Integer, MetaData, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, truncated to microseconds."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), str: String()}


class Timestamped:
    """``created_at`` / ``updated_at`` and an optimistic-concurrency ``version``."""

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    @declared_attr.directive
    def __mapper_args__(cls) -> dict[str, Any]:  # noqa: N805
        # Every UPDATE checks and bumps ``version``: racing writers get StaleDataError -> 412.
        return {"version_id_col": cls.__table__.c.version}  # type: ignore[attr-defined]


class Revisioned(Timestamped):
    """A resource whose every change is audited and kept as a revision.

    A model declares its audit name and the fields that make up its editable state; the kit's
    ``resources`` module does the rest (audit diff, revision snapshot, restore).
    """

    __resource_type__: ClassVar[str]
    __snapshot_fields__: ClassVar[tuple[str, ...]]

    id: Mapped[str]
    org_id: Mapped[str]

    def snapshot(self) -> dict[str, Any]:
        """The editable state as plain JSON-able data."""
        out: dict[str, Any] = {}
        for name in self.__snapshot_fields__:
            value = getattr(self, name)
            out[name] = value.isoformat() if isinstance(value, datetime) else value
        return out

    def apply_snapshot(self, data: dict[str, Any]) -> None:
        """Set the editable state from a snapshot (used by restore)."""
        for name in self.__snapshot_fields__:
            if name in data:
                setattr(self, name, data[name])
