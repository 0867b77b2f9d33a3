"""People over HTTP: sign-in, own sessions and personal access tokens, members, invitations."""

from __future__ import annotations

import threading
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from avsb.server.auth.principal import Principal
from avsb.server.auth.sessions import CSRF_COOKIE, SESSION_COOKIE, csrf_token
from avsb.server.config import Settings
from avsb.server.deps import SessionDep, change_context, client_ip, get_session, require
from avsb.server.errors import BadRequest, ValidationFailed
from avsb.server.kit.http import many, one
from avsb.server.kit.routing import AvsbRouter
from avsb.server.kit.schemas import ERROR_RESPONSES, Envelope, ListEnvelope
from avsb.server.models import User
from avsb.server.people import invitations, pats, signin, users
from avsb.server.people.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    Login,
    MemberAdd,
    MemberOut,
    MemberPatch,
    OidcProvider,
    PasswordChange,
    PatCreate,
    PatCreated,
    SessionOut,
    SignedIn,
    SignInProviders,
    UserOut,
)
from avsb.server.runtime import runtime_of
from avsb.server.tokens import service as token_service
from avsb.server.tokens.schemas import TokenOut

auth_router = AvsbRouter(prefix="/auth", tags=["people"], responses=ERROR_RESPONSES)
# Public, never 401: kept off the router whose every route documents the error answers.
public_router = AvsbRouter(prefix="/auth", tags=["people"])
router = AvsbRouter(tags=["people"], responses=ERROR_RESPONSES)

Anyone = Annotated[Principal, Depends(require(None))]
MembersRead = Annotated[Principal, Depends(require("members:read"))]
MembersWrite = Annotated[Principal, Depends(require("members:write"))]
TokensRead = Annotated[Principal, Depends(require("tokens:read"))]

_people_lock = threading.Lock()


def people_of(request: Request) -> signin.People:
    """This process's sign-in machinery (built on first use from the app's settings)."""
    state = request.app.state
    with _people_lock:
        found: signin.People | None = getattr(state, "people", None)
        if found is None:
            found = state.people = signin.People.from_settings(runtime_of(request).settings)
    return found


def _clear_cookies(response: Response, settings: Settings) -> None:
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=settings.secure_cookies, samesite="lax")


def _sign_in(request: Request, session: SessionDep, user: User) -> tuple[SignedIn, str]:
    """A new session for ``user`` (any session the browser held before is ended)."""
    settings = runtime_of(request).settings
    old = request.cookies.get(SESSION_COOKIE)
    if old:
        signin.end_session(session, old)
    agent = request.headers.get("user-agent", "")
    row, raw = signin.start_session(session, settings, user, client_ip(request), agent)
    out = SignedIn(
        user=UserOut.model_validate(users.user_dict(user)),
        session_id=row.id,
        csrf_token=csrf_token(raw),
        expires_at=row.expires_at,
    )
    return out, raw


async def _login_body(request: Request) -> tuple[Login, bool, str]:
    """The credentials from a JSON or form body; (body, is_form, where to go after a form)."""
    content_type = request.headers.get("content-type", "")
    raw = await request.body()
    try:
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(raw.decode("utf-8", "replace"))
            values = {k: v[0] for k, v in form.items() if k in ("email", "password")}
            nxt = (form.get("next") or ["/"])[0]
            # Only a local path: never an open redirect.
            safe = nxt.startswith("/") and not nxt.startswith("//") and "\\" not in nxt
            return Login.model_validate(values), True, nxt if safe else "/"
        return Login.model_validate_json(raw or b"{}"), False, "/"
    except ValidationError as exc:
        fields = [
            {"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        raise ValidationFailed("The sign-in request is not valid.", fields) from None


@auth_router.post("/login", response_model=Envelope[SignedIn])
async def login(request: Request) -> Response:
    """Sign in with email and password (JSON, or a form: then 303 to ``next``)."""
    body, is_form, nxt = await _login_body(request)
    people = people_of(request)
    session = await get_session(request)
    ip = client_ip(request)

    def work() -> tuple[SignedIn, str]:
        user = people.verify(session, ip, body.email, body.password)
        return _sign_in(request, session, user)

    out, raw = await run_in_threadpool(work)
    response: Response
    response = RedirectResponse(nxt, status_code=303) if is_form else one(request, out)
    signin.set_session_cookies(response, runtime_of(request).settings, raw)
    return response


@public_router.get("/providers", response_model=Envelope[SignInProviders])
def providers(request: Request) -> Response:
    """How people can sign in here (public): the dashboard shows the single sign-on button
    when ``oidc.enabled``."""
    enabled = runtime_of(request).sso is not None
    oidc = OidcProvider(enabled=enabled, login_url="/auth/oidc/login" if enabled else None)
    return one(request, SignInProviders(password=True, oidc=oidc))


@auth_router.post("/logout", status_code=204)
def logout(principal: Anyone, session: SessionDep, request: Request) -> Response:
    """End this browser's session (a token caller: nothing to end)."""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw and principal.kind == "user":
        signin.end_session(session, raw)
    response = Response(status_code=204)
    _clear_cookies(response, runtime_of(request).settings)
    return response


@auth_router.post("/invitations/{token}/accept", response_model=Envelope[SignedIn])
def accept_invitation(
    token: str, body: InvitationAccept, session: SessionDep, request: Request
) -> Response:
    """Accept an invitation: the account is created (or joined) and signed in."""
    if len(token) > 100:
        raise BadRequest("Not an invitation token.", code="invitation_invalid")
    people = people_of(request)
    user = invitations.accept(
        session, people.passwords, token, body.name, body.password, client_ip(request)
    )
    out, raw = _sign_in(request, session, user)
    response = one(request, out)
    signin.set_session_cookies(response, runtime_of(request).settings, raw)
    return response


# Own sessions and tokens -------------------------------------------------------------------


@router.get("/api/me/sessions", response_model=ListEnvelope[SessionOut])
def my_sessions(principal: Anyone, session: SessionDep, request: Request) -> Response:
    user_id = pats.require_person(principal)
    rows = signin.list_sessions(session, user_id)
    items = [SessionOut.model_validate(signin.session_dict(r, principal.token_id)) for r in rows]
    return many(request, items, None)


@router.delete("/api/me/sessions", status_code=204)
def end_my_sessions(principal: Anyone, session: SessionDep) -> Response:
    """Sign out everywhere: every session of the person, this one included."""
    users.revoke_sessions(session, pats.require_person(principal))
    return Response(status_code=204)


@router.delete("/api/me/sessions/{session_id}", status_code=204)
def end_my_session(
    session_id: str, principal: Anyone, session: SessionDep, request: Request
) -> Response:
    signin.revoke_session(session, pats.require_person(principal), session_id)
    return Response(status_code=204)


@router.post("/api/me/password", response_model=Envelope[SignedIn])
def change_my_password(
    body: PasswordChange, principal: Anyone, session: SessionDep, request: Request
) -> Response:
    """A new password (the current one is checked, throttled like a sign-in): every session
    of the person ends and this browser gets a new one."""
    pats.require_person(principal)
    people = people_of(request)
    user = people.verify(session, client_ip(request), principal.email or "", body.current_password)
    users.set_password(session, people.passwords, user, body.new_password)
    out, raw = _sign_in(request, session, user)
    response = one(request, out)
    signin.set_session_cookies(response, runtime_of(request).settings, raw)
    return response


def _token_out(token: object) -> TokenOut:
    return TokenOut.model_validate(token_service.as_dict(token))  # type: ignore[arg-type]


@router.get("/api/me/tokens", response_model=ListEnvelope[TokenOut])
def my_tokens(principal: Anyone, session: SessionDep, request: Request) -> Response:
    items = [_token_out(t) for t in pats.of_user(session, pats.require_person(principal))]
    return many(request, items, None)


@router.post("/api/me/tokens", status_code=201, response_model=Envelope[PatCreated])
def create_my_token(
    body: PatCreate, principal: Anyone, session: SessionDep, request: Request
) -> Response:
    org_id = body.org_id or principal.org_id
    acting = principal.in_org(org_id) or principal
    ctx = change_context(request, acting, org_id)
    token, secret = pats.create(session, ctx, acting, body.name, body.scopes, body.expires_at)
    created = PatCreated.model_validate({**token_service.as_dict(token), "token": secret})
    return one(request, created, status_code=201)


@router.delete("/api/me/tokens/{token_id}", status_code=204)
def revoke_my_token(
    token_id: str, principal: Anyone, session: SessionDep, request: Request
) -> Response:
    token = pats.get_of_user(session, pats.require_person(principal), token_id)
    pats.revoke(session, change_context(request, principal, token.org_id), token)
    return Response(status_code=204)


# Members and invitations of an organisation ------------------------------------------------


def _member_out(member: object, user: User) -> MemberOut:
    return MemberOut.model_validate(users.member_dict(member, user))  # type: ignore[arg-type]


@router.get("/api/orgs/{org_id}/members", response_model=ListEnvelope[MemberOut])
def list_members(
    org_id: str, _principal: MembersRead, session: SessionDep, request: Request
) -> Response:
    rows = session.execute(users.members_stmt(org_id).order_by(User.id)).all()
    return many(request, [_member_out(m, u) for m, u in rows], None)


@router.post("/api/orgs/{org_id}/members", status_code=201, response_model=Envelope[MemberOut])
def add_member(
    org_id: str, body: MemberAdd, principal: MembersWrite, session: SessionDep, request: Request
) -> Response:
    """Add an existing user by email (invite people who have no account yet)."""
    user = users.by_email(session, body.email)
    if user is None:
        raise ValidationFailed(
            "No user with this email; send an invitation instead.",
            [{"path": "email", "message": "unknown user", "type": "not_found"}],
        )
    member = users.add_member(
        session, change_context(request, principal, org_id), principal, user, body.role
    )
    return one(request, _member_out(member, user), status_code=201)


@router.patch("/api/orgs/{org_id}/members/{user_id}", response_model=Envelope[MemberOut])
def patch_member(
    org_id: str,
    user_id: str,
    body: MemberPatch,
    principal: MembersWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    member = users.membership(session, org_id, user_id)
    ctx = change_context(request, principal, org_id)
    users.change_role(session, ctx, principal, member, body.role)
    return one(request, _member_out(member, users.get(session, user_id)))


@router.delete("/api/orgs/{org_id}/members/{user_id}", status_code=204)
def remove_member(
    org_id: str, user_id: str, principal: MembersWrite, session: SessionDep, request: Request
) -> Response:
    member = users.membership(session, org_id, user_id)
    users.remove_member(session, change_context(request, principal, org_id), principal, member)
    return Response(status_code=204)


@router.get("/api/orgs/{org_id}/members/{user_id}/tokens", response_model=ListEnvelope[TokenOut])
def member_tokens(
    org_id: str, user_id: str, _principal: TokensRead, session: SessionDep, request: Request
) -> Response:
    """A member's personal access tokens in this organisation (revoke them under /tokens)."""
    users.membership(session, org_id, user_id)
    return many(request, [_token_out(t) for t in pats.of_user(session, user_id, org_id)], None)


@router.post(
    "/api/orgs/{org_id}/invitations", status_code=201, response_model=Envelope[InvitationCreated]
)
def create_invitation(
    org_id: str,
    body: InvitationCreate,
    principal: MembersWrite,
    session: SessionDep,
    request: Request,
) -> Response:
    """Invite someone by email; the link is answered once (and emailed when SMTP is set)."""
    ctx = change_context(request, principal, org_id)
    sent = invitations.invite(
        session, ctx, principal, runtime_of(request).settings, body,
        str(request.base_url),
    )  # fmt: skip
    out = InvitationCreated(
        id=sent.invitation.id,
        email=sent.invitation.email,
        role=body.role,
        expires_at=sent.invitation.expires_at,
        emailed=sent.emailed,
        url=sent.url,
    )
    return one(request, out, status_code=201)
