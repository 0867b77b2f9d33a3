"""Organisation and account pages: members and invitations, service tokens and SDK keys, and
the signed-in person's own personal access tokens and sessions."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Query, Request
from starlette.responses import Response

from avsb.server.auth.roles import ROLES, scopes_for
from avsb.server.auth.scopes import FAMILIES, grants
from avsb.server.auth.sessions import CSRF_COOKIE, SESSION_COOKIE
from avsb.server.dashboard.core import (
    FormDep,
    FormListsDep,
    FormState,
    NavItem,
    Viewer,
    form_failure,
    next_url,
    page,
    page_request,
    page_router,
    register_nav,
    render,
    see_other,
    validate,
)
from avsb.server.deps import SessionDep, change_context
from avsb.server.errors import AvsbError, ValidationFailed
from avsb.server.models import ApiToken, User
from avsb.server.people import invitations, pats, signin, users
from avsb.server.people.schemas import InvitationCreate, PatCreate
from avsb.server.projects import service as project_service
from avsb.server.runtime import runtime_of
from avsb.server.tokens import service as token_service
from avsb.server.tokens.schemas import TokenCreate

router = page_router()
MembersRead = Annotated[Viewer, Depends(page("members:read"))]
MembersWrite = Annotated[Viewer, Depends(page("members:write"))]
TokensRead = Annotated[Viewer, Depends(page("tokens:read"))]
TokensWrite = Annotated[Viewer, Depends(page("tokens:write"))]
Person = Annotated[Viewer, Depends(page(None))]

register_nav(NavItem("Members", "/orgs/{org_id}/members", "members:read", "Organisation", 10))
register_nav(
    NavItem("Tokens and SDK keys", "/orgs/{org_id}/tokens", "tokens:read", "Organisation", 20)
)
register_nav(NavItem("My tokens and sessions", "/account", None, "Account", 10))


def _org(org_id: str) -> str:
    return f"/orgs/{quote(org_id, safe='')}"


def _scope_choices(granted: frozenset[str] | None = None) -> list[tuple[str, str]]:
    """(scope, label) for the scope checkboxes: every family's read and write (only those
    ``granted`` allows, when given)."""
    return [
        (f"{f}:{a}", f"{f.replace('_', ' ')}: {a}")
        for f in FAMILIES
        for a in ("read", "write")
        if granted is None or grants(granted, f"{f}:{a}")
    ]


def _expiry(value: str) -> str | None:
    """A ``datetime-local`` field (minutes, no zone) as RFC 3339 UTC; empty: no expiry."""
    value = value.strip()
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return value  # the schema's own message names it
    return parsed.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


# Members and invitations -----------------------------------------------------------------


def _members_page(
    request: Request, viewer: Viewer, session: SessionDep, form: FormState, status: int = 200
) -> Response:
    rows = session.execute(users.members_stmt(viewer.org_id).order_by(User.id)).all()
    return render(
        request, "members.html", status, members=[(m, u) for m, u in rows],
        invitations=invitations.pending(session, viewer.org_id), form=form, roles=ROLES,
        role_options=[(r, r) for r in ROLES],
        base=_org(viewer.org_id),
    )  # fmt: skip


@router.get("/orgs/{org_id}/members")
def members(org_id: str, viewer: MembersRead, session: SessionDep, request: Request) -> Response:
    return _members_page(request, viewer, session, FormState({"role": "viewer"}))


@router.post("/orgs/{org_id}/members/{user_id}/role")
def change_role(
    org_id: str, user_id: str, viewer: MembersWrite, form: FormDep, session: SessionDep,
    request: Request,
) -> Response:  # fmt: skip
    back = _org(org_id) + "/members"
    try:
        member = users.membership(session, org_id, user_id)
        ctx = change_context(request, viewer.principal, org_id)
        users.change_role(session, ctx, viewer.principal, member, form.get("role", ""))
    except AvsbError as exc:
        session.rollback()
        return see_other(back, exc.message, "error")
    return see_other(back, f"Role changed to {member.role}.")


@router.get("/orgs/{org_id}/members/{user_id}/remove")
def confirm_remove(
    org_id: str, user_id: str, viewer: MembersWrite, session: SessionDep, request: Request
) -> Response:
    member = users.membership(session, org_id, user_id)
    user = users.get(session, user_id)
    back = _org(org_id) + "/members"
    return render(
        request, "confirm.html", heading=f"Remove {user.email}?",
        message=f"{user.name or user.email} ({member.role}) loses access to this organisation; "
        "their personal access tokens here are revoked.",
        action=f"{back}/{quote(user_id, safe='')}/remove", button="Remove member",
        cancel=back, fields={},
    )  # fmt: skip


@router.post("/orgs/{org_id}/members/{user_id}/remove")
def remove(
    org_id: str, user_id: str, viewer: MembersWrite, session: SessionDep, request: Request
) -> Response:
    back = _org(org_id) + "/members"
    try:
        member = users.membership(session, org_id, user_id)
        ctx = change_context(request, viewer.principal, org_id)
        users.remove_member(session, ctx, viewer.principal, member)
    except AvsbError as exc:
        session.rollback()
        return see_other(back, exc.message, "error")
    return see_other(back, "Member removed.")


@router.post("/orgs/{org_id}/invitations")
def invite(
    org_id: str, viewer: MembersWrite, form: FormDep, session: SessionDep, request: Request
) -> Response:
    """Invite someone (``people.invitations.invite``, as the API's route does): the link is
    emailed when SMTP is set, and shown here once either way."""
    try:
        body = validate(InvitationCreate, {k: form.get(k, "") for k in ("email", "role")})
        ctx = change_context(request, viewer.principal, org_id)
        sent = invitations.invite(
            session, ctx, viewer.principal, runtime_of(request).settings, body,
            str(request.base_url),
        )  # fmt: skip
    except AvsbError as exc:
        session.rollback()
        state = FormState.failed(form, exc)
        return _members_page(request, viewer, session, state, form_failure(exc))
    invitation = sent.invitation
    note = "Send this link to the person; it works once."
    if sent.emailed:
        note = f"The link was emailed to {invitation.email}; it works once."
    return render(
        request, "secret_created.html", heading="Invitation created",
        label="Invitation link", secret=sent.url,
        facts=[("Email", invitation.email), ("Role", invitation.role),
               ("Expires", invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC")),
               ("Emailed", "yes" if sent.emailed else "no (no SMTP server is set)")],
        note=note, back=_org(org_id) + "/members",
    )  # fmt: skip


@router.get("/orgs/{org_id}/invitations/{invitation_id}/revoke")
def confirm_revoke_invitation(
    org_id: str, invitation_id: str, viewer: MembersWrite, request: Request
) -> Response:
    back = _org(org_id) + "/members"
    return render(
        request, "confirm.html", heading="Revoke the invitation?",
        message="Its link stops working. You can invite the person again later.",
        action=f"{_org(org_id)}/invitations/{quote(invitation_id, safe='')}/revoke",
        button="Revoke invitation", cancel=back, fields={},
    )  # fmt: skip


@router.post("/orgs/{org_id}/invitations/{invitation_id}/revoke")
def revoke_invitation(
    org_id: str, invitation_id: str, viewer: MembersWrite, session: SessionDep, request: Request
) -> Response:
    ctx = change_context(request, viewer.principal, org_id)
    invitation = invitations.revoke(session, ctx, invitation_id)
    return see_other(_org(org_id) + "/members", f"Invitation for {invitation.email} revoked.")


# Service tokens and SDK keys -------------------------------------------------------------


def _tokens_page(
    request: Request, viewer: Viewer, session: SessionDep, form: FormState, status: int = 200,
    kind: str = "",
) -> Response:  # fmt: skip
    stmt = token_service.list_stmt(viewer.org_id, kind or None)
    result = page_request(request).paginate(session, stmt, ApiToken.id)
    every = replace(page_request(request, 1000), cursor=None)  # not this list's cursor
    projects = project_service.list_page(session, every, viewer.org_id, archived=False).items
    return render(
        request, "tokens.html", status, tokens=[token_service.as_dict(t) for t in result.items],
        next=next_url(request, result), form=form, kind=kind, base=_org(viewer.org_id),
        scopes=_scope_choices(), projects=[(p.id, f"{p.name} ({p.key})") for p in projects],
    )  # fmt: skip


@router.get("/orgs/{org_id}/tokens")
def tokens(
    org_id: str,
    viewer: TokensRead,
    session: SessionDep,
    request: Request,
    kind: Annotated[str, Query(pattern="^(service|sdk|pat|)$")] = "",
) -> Response:
    return _tokens_page(request, viewer, session, FormState({"kind": "service"}), kind=kind)


@router.post("/orgs/{org_id}/tokens")
def create_token(
    org_id: str, viewer: TokensWrite, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    first = {k: v[0] for k, v in form.items() if v}
    spec: dict[str, Any] = {
        "name": first.get("name", ""),
        "kind": first.get("kind", "service"),
        "description": first.get("description", ""),
    }
    if spec["kind"] == "sdk":
        spec["project_id"] = first.get("project_id") or None
    else:
        spec["scopes"] = form.get("scopes", [])
    expires = _expiry(first.get("expires_at", ""))
    if expires:
        spec["expires_at"] = expires
    try:
        body = validate(TokenCreate, spec)
        ctx = change_context(request, viewer.principal, org_id)
        token, secret = token_service.create(session, ctx, viewer.principal, body.model_dump())
    except AvsbError as exc:
        session.rollback()
        state = FormState.failed({**first, "scopes": form.get("scopes", [])}, exc)
        return _tokens_page(request, viewer, session, state, form_failure(exc))
    what = "SDK key" if token.kind == "sdk" else "Service token"
    return render(
        request, "secret_created.html", heading=f"{what} created", label=what, secret=secret,
        facts=[("Name", token.name), ("Id", token.id),
               ("Scopes", ", ".join(token.scopes) or "evaluation of one project")],
        note=None, back=_org(org_id) + "/tokens",
    )  # fmt: skip


@router.get("/orgs/{org_id}/tokens/{token_id}/revoke")
def confirm_revoke_token(
    org_id: str, token_id: str, viewer: TokensWrite, session: SessionDep, request: Request
) -> Response:
    token = token_service.get(session, viewer.principal, org_id, token_id)
    back = _org(org_id) + "/tokens"
    return render(
        request, "confirm.html", heading=f"Revoke {token.name}?",
        message="Every request with it is refused from now on; this cannot be undone.",
        action=f"{back}/{quote(token.id, safe='')}/revoke", button="Revoke", cancel=back,
        fields={},
    )  # fmt: skip


@router.post("/orgs/{org_id}/tokens/{token_id}/revoke")
def revoke_token(
    org_id: str, token_id: str, viewer: TokensWrite, session: SessionDep, request: Request
) -> Response:
    back = _org(org_id) + "/tokens"
    try:
        token = token_service.get(session, viewer.principal, org_id, token_id)
        ctx = change_context(request, viewer.principal, org_id)
        token_service.revoke(session, ctx, viewer.principal, token)
    except AvsbError as exc:
        session.rollback()
        return see_other(back, exc.message, "error")
    return see_other(back, f"{token.name} revoked.")


# The signed-in person's own tokens and sessions ------------------------------------------


def _account_page(
    request: Request, viewer: Viewer, session: SessionDep, form: FormState, status: int = 200
) -> Response:
    user_id = pats.require_person(viewer.principal)
    rows = signin.list_sessions(session, user_id)
    current = viewer.principal.token_id
    return render(
        request, "account.html", status,
        pats=[token_service.as_dict(t) for t in pats.of_user(session, user_id)],
        sessions=[signin.session_dict(r, current) for r in rows], form=form,
        scopes=_scope_choices(scopes_for(viewer.principal.role or "")),
    )  # fmt: skip


@router.get("/account")
def account(viewer: Person, session: SessionDep, request: Request) -> Response:
    return _account_page(request, viewer, session, FormState())


@router.post("/account/tokens")
def create_pat(
    viewer: Person, form: FormListsDep, session: SessionDep, request: Request
) -> Response:
    first = {k: v[0] for k, v in form.items() if v}
    spec: dict[str, Any] = {"name": first.get("name", ""), "scopes": form.get("scopes", [])}
    expires = _expiry(first.get("expires_at", ""))
    if expires:
        spec["expires_at"] = expires
    try:
        body = validate(PatCreate, spec)
        ctx = change_context(request, viewer.principal, viewer.org_id)
        token, secret = pats.create(
            session, ctx, viewer.principal, body.name, body.scopes, body.expires_at
        )
    except (ValidationFailed, AvsbError) as exc:
        session.rollback()
        state = FormState.failed({**first, "scopes": form.get("scopes", [])}, exc)
        return _account_page(request, viewer, session, state, form_failure(exc))
    return render(
        request, "secret_created.html", heading="Personal access token created",
        label="Personal access token", secret=secret,
        facts=[("Name", token.name), ("Organisation", viewer.org_name),
               ("Scopes", ", ".join(token.scopes))],
        note="It acts as you, with at most your role's rights.", back="/account",
    )  # fmt: skip


@router.post("/account/tokens/{token_id}/revoke")
def revoke_pat(token_id: str, viewer: Person, session: SessionDep, request: Request) -> Response:
    token = pats.get_of_user(session, pats.require_person(viewer.principal), token_id)
    pats.revoke(session, change_context(request, viewer.principal, token.org_id), token)
    return see_other("/account", f"{token.name} revoked.")


@router.post("/account/sessions/{session_id}/end")
def end_session(session_id: str, viewer: Person, session: SessionDep) -> Response:
    signin.revoke_session(session, pats.require_person(viewer.principal), session_id)
    if session_id == viewer.principal.token_id:
        return see_other("/login", "You are signed out.", "info")
    return see_other("/account", "Session ended.")


@router.post("/account/sessions/end-all")
def end_all_sessions(viewer: Person, session: SessionDep, request: Request) -> Response:
    users.revoke_sessions(session, pats.require_person(viewer.principal))
    response = see_other("/login", "You are signed out everywhere.", "info")
    secure = runtime_of(request).settings.secure_cookies
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, samesite="lax")
    return response
