"""The dashboard's foundation over HTTP: sign-in, page auth (session, scope, tenancy, CSRF),
the projects pages (create, validation beside fields, edit conflict, archive, pagination),
logout and the organisation switcher."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from pathlib import Path

from pydantic import SecretStr

from avsb.server.dashboard import routes
from tests.integration.dashboard.conftest import (
    XSS,
    Team,
    add_to,
    api_token,
    browser_client,
    hidden,
    join,
    main_of,
    new_org,
)
from tests.support.servers import LiveServer, ServerFactory, free_port

ROOT = Path(__file__).resolve().parents[3]


def test_signed_out__start_and_pages_redirect_to_sign_in(dash_server: LiveServer) -> None:
    with browser_client(dash_server) as client:
        r = client.get("/")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2F"
        r = client.get("/orgs/org_x/projects?archived=true")
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Forgs%2Forg_x%2Fprojects%3Farchived%3Dtrue"
        # An unknown or expired session cookie is the same as none.
        client.cookies.set("avsb_session", "not-a-session")
        assert client.get("/orgs/org_x/projects").headers["location"].startswith("/login?")


def test_login_page__form_posts_to_auth_login_and_keeps_next(dash_server: LiveServer) -> None:
    with browser_client(dash_server) as client:
        r = client.get("/login", params={"next": "/orgs/a/projects"})
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/html")
        assert '<form method="post" action="/auth/login" data-login>' in r.text
        assert hidden(r.text, "next") == "/orgs/a/projects"
        assert '<label for="f-email">' in r.text
        assert '<label for="f-password">' in r.text
        assert "<title>Sign in · AvsB</title>" in r.text
        assert 'id="sso"' not in r.text  # no single sign-on configured on this server
        # Never an open redirect.
        assert hidden(client.get("/login?next=//evil.example").text, "next") == "/"


def test_sign_in__lands_on_the_projects_page(dash_server: LiveServer, team: Team) -> None:
    editor = team["editor"]
    r = editor.get("/")
    assert r.status_code == 303
    assert r.headers["location"] == team.url("/projects")
    page = editor.get(team.url("/projects"))
    assert page.status_code == 200
    assert editor.email in page.text
    assert 'href="#main"' in page.text
    assert '<main id="main"' in page.text
    assert "/static/dashboard.css" in page.text


def test_projects__create_validate_edit_archive_restore(team: Team) -> None:
    editor = team["editor"]
    new = editor.get(team.url("/projects/new"))
    assert new.status_code == 200
    # The API's 422 details, each beside its field; nothing is created.
    bad = editor.post_form(
        team.url("/projects/new"), {"name": "", "key": "bad key", "holdout_percent": "150"}
    )
    assert bad.status_code == 422
    body = main_of(bad.text)
    assert re.search(r'id="f-key"[^>]*aria-invalid="true"', body)
    assert 'id="f-key-error"' in body
    assert 'id="f-holdout_percent-error"' in body
    assert 'id="f-name-error"' in body
    assert 'value="bad key"' in body  # what was typed is kept
    listed = editor.get(team.url("/projects"))
    assert "No projects here yet." in listed.text

    made = editor.post_form(
        team.url("/projects/new"),
        {"name": "Checkout", "key": "checkout", "description": "d", "holdout_percent": "5"},
    )
    assert made.status_code == 303, made.text
    url = made.headers["location"]
    shown = editor.get(url)
    assert shown.status_code == 200
    assert "Project &#39;Checkout&#39; created." in shown.text  # the flash message
    assert "5.0 %" in shown.text
    assert "Project &#39;Checkout&#39; created." not in editor.get(url).text  # shown once

    # A duplicate key: the service's 409 above the form.
    dup = editor.post_form(team.url("/projects/new"), {"name": "Again", "key": "checkout"})
    assert dup.status_code == 409
    assert "already exists" in dup.text

    edit = editor.get(url + "/edit")
    etag = hidden(edit.text, "etag")
    assert etag.startswith('W/"')
    saved = editor.post_form(
        url + "/edit",
        {"etag": etag, "name": "Checkout v2", "key": "checkout", "description": "",
         "holdout_percent": "0"},
    )  # fmt: skip
    assert saved.status_code == 303, saved.text
    shown = editor.get(url)
    assert "Checkout v2" in shown.text
    assert "0.0 %" in shown.text

    confirm = editor.get(url + "/archive")
    assert confirm.status_code == 200
    assert "Archive project" in confirm.text
    assert 'href="' + url + '"' in confirm.text
    archived = editor.post_form(url + "/archive", {"etag": hidden(confirm.text, "etag")})
    assert archived.status_code == 303
    assert "archived" in editor.get(url).text
    assert "Checkout v2" not in editor.get(team.url("/projects")).text
    assert "Checkout v2" in editor.get(team.url("/projects?archived=true")).text
    restored = editor.post_form(url + "/restore", {"etag": hidden(editor.get(url).text, "etag")})
    assert restored.status_code == 303
    assert "Checkout v2" in editor.get(team.url("/projects")).text


def test_edit_conflict__both_versions_shown_nothing_overwritten(
    dash_server: LiveServer, team: Team
) -> None:
    editor, admin = team["editor"], team["admin"]
    made = editor.post_form(team.url("/projects/new"), {"name": "Base", "key": "conf"})
    url = made.headers["location"]
    mine = editor.get(url + "/edit")
    theirs = admin.get(url + "/edit")
    r = admin.post_form(
        url + "/edit",
        {"etag": hidden(theirs.text, "etag"), "name": "Theirs", "key": "conf",
         "description": "by admin", "holdout_percent": "1"},
    )  # fmt: skip
    assert r.status_code == 303
    stale = {"etag": hidden(mine.text, "etag"), "name": "Mine", "key": "conf",
             "description": "", "holdout_percent": "0"}  # fmt: skip
    conflict = editor.post_form(url + "/edit", stale)
    assert conflict.status_code == 409
    body = main_of(conflict.text)
    assert "Mine" in body
    assert "Theirs" in body
    assert "by admin" in body
    assert "Theirs" in editor.get(url).text  # nothing overwritten
    # A form without its version is never taken as current either.
    assert editor.post_form(url + "/edit", {**stale, "etag": ""}).status_code == 409
    # Choosing "save mine" posts the current version: it goes through.
    again = {**stale, "etag": hidden(conflict.text, "etag")}
    assert editor.post_form(url + "/edit", again).status_code == 303
    assert "Mine" in editor.get(url).text
    with api_token(dash_server, team.org_id) as api:
        project_id = url.rsplit("/", 1)[1]
        data = api.get(f"/api/orgs/{team.org_id}/projects/{project_id}").json()["data"]
    assert data["name"] == "Mine"


def test_viewer__no_edit_buttons_and_a_forged_post_is_refused(team: Team) -> None:
    editor, viewer = team["editor"], team["viewer"]
    url = editor.post_form(team.url("/projects/new"), {"name": "P", "key": "p"}).headers["location"]
    listing = main_of(viewer.get(team.url("/projects")).text)
    assert "New project" not in listing
    detail = main_of(viewer.get(url).text)
    assert "/edit" not in detail
    assert "/archive" not in detail
    assert "New project" in main_of(editor.get(team.url("/projects")).text)
    # The viewer's own valid CSRF token does not make a write allowed.
    for path in ("/projects/new",):
        r = viewer.post_form(team.url(path), {"name": "Forged", "key": "forged"})
        assert r.status_code == 403
        assert "projects:write" in r.text
    assert viewer.get(team.url("/projects/new")).status_code == 403
    assert viewer.post_form(url + "/archive", {"etag": "x"}).status_code == 403
    assert "Forged" not in editor.get(team.url("/projects")).text


def test_csrf__a_form_without_the_token_changes_nothing(team: Team) -> None:
    editor = team["editor"]
    r = editor.post_form(team.url("/projects/new"), {"name": "X", "key": "x"}, csrf=False)
    assert r.status_code == 403
    assert "nothing was changed" in r.text
    wrong = editor.client.post(
        team.url("/projects/new"), data={"name": "X", "key": "x", "csrf_token": "0" * 64}
    )
    assert wrong.status_code == 403
    assert "No projects here yet." in editor.get(team.url("/projects")).text


def test_tenancy__another_organisation_is_not_found(dash_server: LiveServer, team: Team) -> None:
    other = new_org(dash_server)
    r = team["owner"].get(f"/orgs/{other}/projects")
    assert r.status_code == 404
    assert "<title>Not found · AvsB</title>" in r.text
    assert team["owner"].get(team.url("/projects/prj_nope")).status_code == 404


def test_pagination__next_page_by_signed_cursor(dash_server: LiveServer, team: Team) -> None:
    with api_token(dash_server, team.org_id) as api:
        for i in range(52):
            r = api.post(team.url("/projects").replace("/orgs", "/api/orgs"),
                         json={"key": f"k{i:02d}", "name": f"Project {i:02d}"})  # fmt: skip
            assert r.status_code == 201, r.text
    viewer = team["viewer"]
    first = viewer.get(team.url("/projects"))
    assert first.text.count("<tr>") == 50 + 1  # the header row
    link = re.search(r'<a href="([^"]+)" rel="next">', first.text)
    assert link is not None
    second = viewer.get(link.group(1).replace("&amp;", "&"))
    assert second.status_code == 200
    assert "Project 50" in second.text
    assert "Project 51" in second.text
    assert "Project 00" not in second.text
    assert 'rel="next"' not in second.text
    tampered = viewer.get(team.url("/projects?archived=false&cursor=abc.def"))
    assert tampered.status_code == 400
    assert "invalid_cursor" in tampered.text


def test_logout__ends_the_session(team: Team) -> None:
    editor = team["editor"]
    cookie = editor.client.cookies["avsb_session"]
    assert editor.post_form("/logout", {}, csrf=False).status_code == 403
    r = editor.post_form("/logout", {})
    assert r.status_code == 303
    assert r.headers["location"] == "/login"
    assert "avsb_session" not in editor.client.cookies
    editor.client.cookies.set("avsb_session", cookie)  # the old cookie is worthless now
    assert editor.get("/").headers["location"].startswith("/login")


def test_org_switcher__for_people_in_several_organisations(
    dash_server: LiveServer, team: Team
) -> None:
    second = new_org(dash_server, name=f"Second {XSS}")
    owner = team["owner"]
    add_to(dash_server, second, owner, "viewer")
    page = owner.get(team.url("/projects")).text
    assert '<select id="org-switch" name="org" data-autosubmit>' in page
    assert f'<option value="{second}">Second &lt;script&gt;' in page
    r = owner.get("/", params={"org": second})
    assert r.status_code == 303
    assert r.headers["location"] == f"/orgs/{second}/projects"
    there = owner.get(f"/orgs/{second}/projects").text
    assert "New project" not in main_of(there)  # a viewer there
    # Someone else's organisation is not offered as a target.
    assert owner.get("/", params={"org": new_org(dash_server)}).headers["location"] == team.url(
        "/projects"
    )
    solo = join(dash_server, second, "editor")
    assert 'id="org-switch"' not in solo.get(f"/orgs/{second}/projects").text
    solo.client.close()


def test_static_files__served_from_the_package(dash_server: LiveServer) -> None:
    with browser_client(dash_server) as client:
        for name in ("dashboard.css", "dashboard.js", "favicon.svg"):
            r = client.get(f"/static/{name}")
            assert r.status_code == 200, name
            assert r.content == (routes.STATIC_DIR / name).read_bytes()


def test_package_data__templates_and_static_files_ship_in_the_wheel() -> None:
    """Every template and static file matches a package-data pattern of pyproject.toml."""
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "package-data"
    ]["avsb"]
    package = ROOT / "src" / "avsb"
    files = [
        p.relative_to(package).as_posix()
        for folder in ("templates", "static")
        for p in (package / "server" / "dashboard" / folder).rglob("*")
        if p.is_file()
    ]
    assert files
    assert [f for f in files if not any(fnmatch(f, pat) for pat in patterns)] == []


def test_templates__nothing_from_another_origin() -> None:
    """No CDN: pages load only this server's files (the CSP would block others anyway)."""
    folder = ROOT / "src" / "avsb" / "server" / "dashboard"
    for path in [*folder.glob("templates/*.html"), *folder.glob("static/*")]:
        text = path.read_text()
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), path
        assert not re.search(r"<[^>]*\sstyle=", text), path  # the CSP refuses inline styles


def test_login_page__sso_button_when_the_providers_say_so(servers: ServerFactory) -> None:
    port = free_port()
    sso = servers.start(
        port, public_url=f"http://127.0.0.1:{port}", oidc_issuer="http://127.0.0.1:9/issuer",
        oidc_client_id="avsb", oidc_client_secret=SecretStr("s"),
        oidc_allowed_domains="example.test",
    )  # fmt: skip
    try:
        with browser_client(sso) as client:
            providers = client.get("/auth/providers").json()["data"]
            assert providers["oidc"]["enabled"] is True
            page = client.get("/login")
            assert f'id="sso" href="{providers["oidc"]["login_url"]}"' in page.text
    finally:
        sso.stop()
