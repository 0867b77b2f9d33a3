"""The start page, sign-in and sign-out pages."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Path, Query, Request
from starlette.responses import RedirectResponse, Response

from avsb.server.auth.sessions import CSRF_COOKIE, SESSION_COOKIE
from avsb.server.dashboard.core import (
    FormDep,
    FormState,
    Viewer,
    form_failure,
    page,
    page_router,
    render,
    see_other,
    validate,
)
from avsb.server.deps import SessionDep, client_ip
from avsb.server.errors import AvsbError
from avsb.server.people import invitations, signin
from avsb.server.people.schemas import InvitationAccept
from avsb.server.runtime import runtime_of

router = page_router()
AnyPerson = Annotated[Viewer, Depends(page(None))]


def _local(path: str | None) -> str:
    """``path`` when it is a local path (never an open redirect), else ``/``."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/"


def home_of(org_id: str) -> str:
    """An organisation's start page."""
    return f"/orgs/{quote(org_id, safe='')}/projects"


@router.get("/")
def start(
    viewer: AnyPerson, request: Request, org: Annotated[str | None, Query(max_length=100)] = None
) -> Response:
    """To the organisation's projects (``?org=`` switches to another of the person's)."""
    member_of = [org_id for org_id, _ in viewer.principal.memberships]
    if org is not None and org in member_of:
        return RedirectResponse(home_of(org), status_code=303)
    if not member_of:
        return render(request, "no_org.html")
    current = viewer.org_id if viewer.org_id in member_of else member_of[0]
    return RedirectResponse(home_of(current), status_code=303)


@router.get("/login")
def login_page(
    request: Request,
    next: Annotated[str | None, Query(max_length=2000)] = None,  # noqa: A002 - the query name
) -> Response:
    """The sign-in form: posts to ``POST /auth/login`` (errors are shown by the page's script;
    the single sign-on button when ``GET /auth/providers`` offers it)."""
    sso = "/auth/oidc/login" if runtime_of(request).sso is not None else None
    return render(request, "login.html", next=_local(next), sso_url=sso, error=None)


@router.post("/logout")
def logout(viewer: AnyPerson, session: SessionDep, request: Request) -> Response:
    """End this browser's session (CSRF checked by the page gate) and go to the sign-in page."""
    raw = request.cookies.get(SESSION_COOKIE)
    if raw:
        signin.end_session(session, raw)
    response = see_other("/login", "You are signed out.", "info")
    secure = runtime_of(request).settings.secure_cookies
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=secure, samesite="lax")
    return response


# Invitations: the link an admin sends opens this page -----------------------------------


def _join_form(request: Request, token: str, form: FormState, status: int = 200) -> Response:
    return render(
        request, "accept_invitation.html", status, form=form,
        action=f"/join/{quote(token, safe='')}",
    )  # fmt: skip


@router.get("/join/{token}")
def invitation_page(token: Annotated[str, Path(max_length=100)], request: Request) -> Response:
    """The invitation link's page: choose a name and password (or give the existing
    account's password) to join."""
    return _join_form(request, token, FormState())


@router.post("/join/{token}")
def accept_invitation(
    token: Annotated[str, Path(max_length=100)],
    form: FormDep,
    session: SessionDep,
    request: Request,
) -> Response:
    """Accept the invitation (``people.invitations.accept``) and sign in, like
    ``POST /auth/invitations/{token}/accept`` does for JSON."""
    settings = runtime_of(request).settings
    try:
        body = validate(InvitationAccept, {k: form.get(k, "") for k in ("name", "password")})
        passwords = signin.People.from_settings(settings).passwords
        ip = client_ip(request)
        user = invitations.accept(session, passwords, token, body.name, body.password, ip)
        old = request.cookies.get(SESSION_COOKIE)
        if old:
            signin.end_session(session, old)
        agent = request.headers.get("user-agent", "")
        _row, raw = signin.start_session(session, settings, user, ip, agent)
    except AvsbError as exc:
        session.rollback()
        shown = FormState.failed({"name": form.get("name", "")}, exc)
        return _join_form(request, token, shown, form_failure(exc))
    response = see_other("/", "Welcome: you joined the organisation.")
    signin.set_session_cookies(response, settings, raw)
    return response
