"""The dashboard's machinery: page routes, page auth, rendering, flash messages, forms,
edit conflicts, pagination and the navigation registry (docs/dashboard.md shows how to use it).

A page is a FastAPI route on a ``page_router()`` (route class ``PageRoute``): it declares
``viewer: Annotated[Viewer, Depends(page("<family>:<access>"))]``, calls services with the
request's session, and answers ``render(...)`` or ``see_other(...)``. ``PageRoute`` commits the
request's transaction when the answer is below 400 and rolls it back otherwise, and turns any
error into a page: not signed in -> 303 to ``/login?next=...``; 403, 404 and the rest -> the
error page with the API's message.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import Depends, Request
from fastapi.routing import APIRoute, APIRouter
from jinja2 import Environment, PackageLoader, StrictUndefined
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from avsb.server.auth.principal import Principal
from avsb.server.auth.scopes import grants
from avsb.server.auth.sessions import SESSION_COOKIE, csrf_token
from avsb.server.deps import require
from avsb.server.errors import AvsbError, Forbidden, Unauthorized, ValidationFailed
from avsb.server.kit.etags import make_etag
from avsb.server.kit.pagination import Page, PageRequest
from avsb.server.orgs import service as orgs_service
from avsb.server.responses import as_avsb_error
from avsb.server.runtime import runtime_of

log = logging.getLogger("avsb.dashboard")

FLASH_COOKIE = "avsb_flash"
PAGE_SIZE = 50
Handler = Callable[[Request], Coroutine[Any, Any, Response]]

templates = Environment(
    loader=PackageLoader("avsb.server.dashboard", "templates"),
    autoescape=True,  # every value is escaped unless it is Markup (our own SVG, macros)
    undefined=StrictUndefined,  # a misspelt name fails the test instead of rendering blank
    trim_blocks=True,
    lstrip_blocks=True,
)


# Navigation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    """One entry of the side navigation: shown to viewers holding ``scope``."""

    label: str
    path: str  # may contain ``{org_id}``
    scope: str | None = None
    section: str = "Design"
    order: int = 100


NAV: list[NavItem] = []
SECTIONS = ("Design", "Results", "Tools", "Organisation", "Account")


def register_nav(item: NavItem) -> None:
    """Add a page to the navigation (once; modules call it at import time)."""
    if item not in NAV:
        NAV.append(item)


# Who is looking --------------------------------------------------------------------------


@dataclass(frozen=True)
class Viewer:
    """The signed-in person of a page: the same ``Principal`` the API resolves, acting in the
    path's organisation when there is one."""

    principal: Principal
    csrf: str  # the session's CSRF token, for the ``csrf_token`` field of every form
    orgs: tuple[tuple[str, str], ...] = ()  # (id, name) of the person's organisations

    @property
    def org_id(self) -> str:
        return self.principal.org_id

    @property
    def org_name(self) -> str:
        return dict(self.orgs).get(self.org_id, self.org_id)

    def can(self, scope: str) -> bool:
        """Whether the person's role here grants ``scope`` (templates hide what it does not)."""
        return grants(self.principal.scopes, scope)

    def nav(self) -> dict[str, list[tuple[str, str]]]:
        """The navigation this person may use: section -> [(label, url)]."""
        out: dict[str, list[tuple[str, str]]] = {}
        for item in sorted(NAV, key=lambda i: (SECTIONS.index(i.section), i.order, i.label)):
            if item.scope is None or self.can(item.scope):
                url = item.path.format(org_id=quote(self.org_id, safe=""))
                out.setdefault(item.section, []).append((item.label, url))
        return out


class SignInNeeded(Exception):  # noqa: N818 - a control-flow signal, answered as a redirect
    """No (valid) session: the page answers 303 to the sign-in page."""


def _org_names(request: Request, principal: Principal) -> tuple[tuple[str, str], ...]:
    with runtime_of(request).db.session(write=False) as session:
        names = {org.id: org.name for org in session.scalars(orgs_service.visible_orgs(principal))}
    return tuple((org, names.get(org, org)) for org, _ in principal.memberships)


def page(scope: str | None = None) -> Callable[[Request], Coroutine[Any, Any, Viewer]]:
    """A dependency: the signed-in person (the API's gate: session cookie, CSRF on every POST,
    rate limit, tenancy of the path's ``org_id``) holding ``scope`` (None: any person)."""
    gate = require(scope, family="dashboard")

    async def dependency(request: Request) -> Viewer:
        try:
            principal = await gate(request)
        except Unauthorized:
            raise SignInNeeded from None
        raw = request.cookies.get(SESSION_COOKIE)
        if principal.user_id is None or not raw:  # a bearer token is not a person's browser
            raise SignInNeeded
        orgs = await run_in_threadpool(_org_names, request, principal)
        viewer = Viewer(principal, csrf_token(raw), orgs)
        request.state.viewer = viewer
        return viewer

    dependency.page_scope = scope  # type: ignore[attr-defined]  # for the gate matrix test
    return dependency


def viewer_of(request: Request) -> Viewer | None:
    found: Viewer | None = getattr(request.state, "viewer", None)
    return found


# Rendering -------------------------------------------------------------------------------


def _read_flash(request: Request) -> list[dict[str, str]]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return []
    try:
        items = orjson.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return []
    if not isinstance(items, list):
        return []
    return [
        {"kind": str(i.get("kind", "info")), "text": str(i.get("text", ""))}
        for i in items[:5]
        if isinstance(i, dict)
    ]


def flash(response: Response, text: str, kind: str = "success") -> Response:
    """Show ``text`` on the next page this browser renders (post / redirect / get)."""
    payload = base64.urlsafe_b64encode(orjson.dumps([{"kind": kind, "text": text[:500]}]))
    response.set_cookie(
        FLASH_COOKIE, payload.decode().rstrip("="), max_age=60, httponly=True, samesite="lax",
        path="/",
    )  # fmt: skip
    return response


def render(
    request: Request, template: str, status_code: int = 200, /, **context: Any
) -> HTMLResponse:
    """``template`` rendered with ``context`` plus ``viewer``, ``can``, ``csrf``, ``flashes``,
    ``request`` and ``path``; any pending flash message is shown and cleared."""
    viewer = viewer_of(request)
    flashes = _read_flash(request)
    html = templates.get_template(template).render(
        request=request,
        path=request.url.path,
        viewer=viewer,
        can=viewer.can if viewer is not None else (lambda _scope: False),
        csrf=viewer.csrf if viewer is not None else "",
        flashes=flashes,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code)
    if flashes:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def see_other(url: str, message: str | None = None, kind: str = "success") -> Response:
    """303 to ``url`` (after a POST), with an optional flash message."""
    response = RedirectResponse(url, status_code=303)
    if message:
        flash(response, message, kind)
    return response


def login_url(next_path: str) -> str:
    return "/login?" + urlencode({"next": next_path})


_TITLES = {403: "Not allowed", 404: "Not found", 429: "Slow down", 412: "Changed meanwhile"}


def error_page(request: Request, exc: BaseException) -> Response:
    """The page an exception stands for (the API's message, never a trace)."""
    if isinstance(exc, SignInNeeded):
        target = request.url.path if request.method == "GET" else "/"
        if request.method == "GET" and request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(login_url(target), status_code=303)
    error = as_avsb_error(exc)  # logs the unexpected
    if error.code == "csrf_failed":
        error = Forbidden(
            "This form is out of date or did not come from this dashboard: nothing was changed. "
            "Reload the page and try again.",
            code="csrf_failed",
        )
    title = _TITLES.get(error.status_code, "Error" if error.status_code < 500 else "Server error")
    response = render(
        request, "error.html", error.status_code, title=title, error=error,
        request_id=getattr(request.state, "request_id", ""),
    )  # fmt: skip
    response.headers.update({"X-Error-Code": error.code, **error.headers})
    return response


def _finish(request: Request, commit: bool) -> None:
    session: Session | None = getattr(request.state, "db", None)
    if session is None:
        return
    try:
        if commit:
            session.commit()
        else:
            session.rollback()
    except Exception:
        session.rollback()
        raise
    finally:
        session.close()


class PageRoute(APIRoute):
    """A dashboard route: one transaction, committed when the page answers below 400 (a form
    shown again with its errors changed nothing); errors become pages."""

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                response = await inner(request)
            except Exception as exc:
                await run_in_threadpool(_finish, request, False)
                return error_page(request, exc)
            try:
                await run_in_threadpool(_finish, request, response.status_code < 400)
            except Exception as exc:
                return error_page(request, exc)
            return response

        return handler


def page_router(**kwargs: Any) -> APIRouter:
    """A router of dashboard pages (not in the OpenAPI document)."""
    kwargs.setdefault("route_class", PageRoute)
    kwargs.setdefault("include_in_schema", False)
    return APIRouter(**kwargs)


# Forms -----------------------------------------------------------------------------------


async def form_fields(request: Request) -> dict[str, str]:
    """The submitted form (urlencoded), one string per field (the first when repeated);
    ``csrf_token`` is left out (the page gate checked it)."""
    form = await request.form()
    values: dict[str, str] = {}
    for key, value in form.multi_items():
        if key != "csrf_token" and key not in values and isinstance(value, str):
            values[key] = value
    return values


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The submitted form with every value of repeated fields (checkbox groups)."""
    form = await request.form()
    values: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if key != "csrf_token" and isinstance(value, str):
            values.setdefault(key, []).append(value)
    return values


FormDep = Annotated[dict[str, str], Depends(form_fields)]
FormListsDep = Annotated[dict[str, list[str]], Depends(form_lists)]


def fields_of(exc: ValidationError) -> list[dict[str, str]]:
    """A pydantic error as the API's 422 ``details.fields`` (path, message, type)."""
    return [
        {"path": ".".join(str(p) for p in e["loc"]), "message": e["msg"], "type": e["type"]}
        for e in exc.errors()
    ]


def validate(schema: type[BaseModel], values: Mapping[str, Any]) -> Any:
    """``values`` (form strings; numbers are converted) checked by the API's own body schema;
    422 ``ValidationFailed`` with the API's ``details.fields`` otherwise."""
    try:
        return schema.model_validate(dict(values), strict=False)
    except ValidationError as exc:
        raise ValidationFailed("Some fields need attention.", fields_of(exc)) from None


@dataclass
class FormState:
    """What a form template needs: the values to show and the errors beside each field."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    message: str | None = None  # a form-wide error (e.g. a 409 from the service)

    @classmethod
    def failed(cls, values: Mapping[str, Any], error: AvsbError) -> FormState:
        """The form shown again after ``error``: a 422's ``details.fields`` go beside their
        fields (by the first part of their path), anything else above the form."""
        errors: dict[str, str] = {}
        fields = error.details.get("fields") if isinstance(error.details, dict) else None
        for item in fields if isinstance(fields, list) else []:
            path = str(item.get("path", ""))
            errors.setdefault(path.split(".")[0] or "_", str(item.get("message", "invalid")))
        message = error.message if not errors or "_" in errors else None
        return cls(dict(values), errors, message)


def form_failure(error: AvsbError) -> int:
    """The status a form shown again answers with (422 for field errors, else the error's)."""
    return error.status_code if error.status_code >= 400 else 400


# Edit conflicts --------------------------------------------------------------------------


def version_tag(resource_id: str, version: int) -> str:
    """The value of an edit form's hidden ``etag`` field: the API's ETag of this version."""
    return make_etag(resource_id, version)


def changed_since(submitted: str | None, resource_id: str, version: int) -> bool:
    """Whether the resource moved on since the form was read (``If-Match`` semantics: a form
    without its ``etag`` counts as stale, so nothing is ever overwritten silently)."""
    return submitted != make_etag(resource_id, version)


@dataclass(frozen=True)
class ConflictRow:
    label: str
    name: str
    yours: Any
    current: Any

    @property
    def differs(self) -> bool:
        return str(self.yours) != str(self.current)


def conflict_rows(
    labels: Iterable[tuple[str, str]], yours: Mapping[str, Any], current: Mapping[str, Any]
) -> list[ConflictRow]:
    """Field-by-field (name, label) rows of the conflict page: your value and the stored one."""
    return [
        ConflictRow(label, name, yours.get(name, ""), current.get(name, ""))
        for name, label in labels
    ]


# Pagination ------------------------------------------------------------------------------


def page_request(request: Request, limit: int = PAGE_SIZE) -> PageRequest:
    """The cursor page this list page was asked for (the API's signed cursors, bound to this
    path and its filters)."""
    query = request.query_params
    filters = sorted((k, v) for k, v in query.multi_items() if k != "cursor")
    scope = "dashboard:" + request.url.path + "?" + "&".join(f"{k}={v}" for k, v in filters)
    return PageRequest(runtime_of(request).signer, scope, limit, query.get("cursor") or None)


def next_url(request: Request, result: Page[Any]) -> str | None:
    """The link to the next page of ``result`` (None on the last page)."""
    if result.next_cursor is None:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    return request.url.path + "?" + urlencode([*params, ("cursor", result.next_cursor)])
