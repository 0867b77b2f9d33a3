"""Single sign-on: the secrets of an OpenID Connect sign-in under way (single use)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from avsb.server.models.base import Base, UTCDateTime


class SsoLogin(Base):
    """One authorisation request sent to the provider: found by the SHA-256 of its ``state``
    and deleted when its callback arrives (a replayed callback finds nothing)."""

    __tablename__ = "sso_logins"

    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128))
    code_verifier: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
