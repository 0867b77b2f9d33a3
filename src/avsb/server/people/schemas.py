from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from avsb.server.kit.idempotency import SECRET_FIELD
from avsb.server.kit.schemas import Rfc3339, StrictModel
from avsb.server.tokens.schemas import TokenOut, _check_scopes

Role = Literal["viewer", "editor", "admin", "owner"]


class Login(StrictModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=1000)


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    disabled: bool
    last_sign_in_at: datetime | None
    created_at: datetime


class SignedIn(BaseModel):
    user: UserOut
    session_id: str = Field(description="The session's public id (not its secret)")
    csrf_token: str = Field(description="Echo in X-CSRF-Token on state changes (also a cookie)")
    expires_at: datetime


class OidcProvider(BaseModel):
    enabled: bool = Field(description="Whether single sign-on is configured on this server")
    login_url: str | None = Field(
        description="Where the sign-in button goes (a browser redirect); null when disabled"
    )


class SignInProviders(BaseModel):
    password: bool = Field(description="Email and password sign-in (POST /auth/login)")
    oidc: OidcProvider


class PasswordChange(StrictModel):
    current_password: str = Field(min_length=1, max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


class SessionOut(BaseModel):
    id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str | None
    user_agent: str
    current: bool


class MemberOut(UserOut):
    org_id: str
    role: Role


class MemberAdd(StrictModel):
    email: str = Field(min_length=3, max_length=320)
    role: Role


class MemberPatch(StrictModel):
    role: Role


class InvitationCreate(StrictModel):
    email: str = Field(min_length=3, max_length=320)
    role: Role


class InvitationCreated(BaseModel):
    id: str
    email: str
    role: Role
    expires_at: datetime
    emailed: bool
    url: str = Field(description="Shown once, never again", json_schema_extra=SECRET_FIELD)


class InvitationAccept(StrictModel):
    name: str = Field(default="", max_length=200)
    password: str = Field(min_length=1, max_length=1000)


class PatCreate(StrictModel):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=64)
    org_id: str | None = Field(default=None, max_length=40)
    expires_at: Rfc3339 | None = None

    _scopes = field_validator("scopes")(_check_scopes)


class PatCreated(TokenOut):
    token: str = Field(description="Shown once, never again", json_schema_extra=SECRET_FIELD)
