"""Audit log, revisions (diff, restore) and workspace export / import pages over HTTP."""

from __future__ import annotations

import re

import orjson

from tests.integration.dashboard.conftest import XSS, Team, api_token, hidden, main_of, new_org
from tests.support.servers import LiveServer


def _project(team: Team, name: str, key: str) -> str:
    r = team["editor"].post_form(team.url("/projects/new"), {"name": name, "key": key})
    assert r.status_code == 303, r.text
    location: str = r.headers["location"]
    return location


def _edit(team: Team, url: str, name: str, key: str) -> None:
    editor = team["editor"]
    etag = hidden(editor.get(url + "/edit").text, "etag")
    r = editor.post_form(
        url + "/edit",
        {"etag": etag, "name": name, "key": key, "description": "", "holdout_percent": "0"},
    )  # fmt: skip
    assert r.status_code == 303, r.text


def test_audit_log__filters_escaping_and_exports(team: Team) -> None:
    url = _project(team, XSS, "audited")
    project_id = url.rsplit("/", 1)[1]
    viewer = team["viewer"]
    page = viewer.get(team.url("/audit"))
    assert page.status_code == 200
    body = main_of(page.text)
    assert "project.created" in body
    assert "dashboard" in body  # the source of a change made on a page
    assert XSS not in page.text
    assert "&lt;script&gt;" in body
    only = viewer.get(team.url("/audit"), params={"action": "member.*"})
    assert "project.created" not in main_of(only.text)
    assert "member.added" in only.text
    by_resource = viewer.get(team.url("/audit"), params={"resource_id": project_id})
    assert main_of(by_resource.text).count("<tr>") == 2  # header + the one event
    bad = viewer.get(team.url("/audit"), params={"since": "yesterday"})
    assert bad.status_code == 422
    assert 'id="f-since-error"' in bad.text
    later = viewer.get(team.url("/audit"), params={"since": "2999-01-01T00:00"})
    assert "No audit events match." in later.text
    # The export links are the API's, answered with the session cookie.
    link = re.search(r'href="([^"]+format=csv)"', by_resource.text)
    assert link is not None
    csv = viewer.get(link.group(1).replace("&amp;", "&"))
    assert csv.status_code == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert project_id in csv.text
    assert "member.added" not in csv.text  # the page's filter goes with it
    jsonl = re.search(r'href="([^"]+format=jsonl)"', by_resource.text)
    assert jsonl is not None
    lines = viewer.get(jsonl.group(1).replace("&amp;", "&")).text.splitlines()
    assert [orjson.loads(line)["resource_id"] for line in lines] == [project_id]


def test_revisions__diff_and_restore_with_confirmation(team: Team) -> None:
    url = _project(team, "First", "revved")
    project_id = url.rsplit("/", 1)[1]
    _edit(team, url, "Second", "revved")
    _edit(team, url, XSS, "revved")
    editor, viewer = team["editor"], team["viewer"]
    assert "/revisions/project/" in editor.get(url).text
    revs = team.url(f"/revisions/project/{project_id}")
    page = editor.get(revs, params={"a": 1, "b": 3})
    assert page.status_code == 200
    body = main_of(page.text)
    assert re.search(r"<th scope=\"row\">name <span class=\"badge warn\">changed</span></th>"
                     r"<td><code>First</code></td><td><code>&lt;script&gt;", body)  # fmt: skip
    assert XSS not in page.text
    assert "Restore" in body
    assert "Restore" not in main_of(viewer.get(revs).text)
    confirm = editor.get(f"{revs}/1/restore")
    assert "Restore revision 1" in confirm.text
    etag = hidden(confirm.text, "etag")
    assert viewer.post_form(f"{revs}/1/restore", {"etag": etag}).status_code == 403
    stale = editor.post_form(f"{revs}/1/restore", {"etag": 'W/"0000000000000000"'})
    assert "changed meanwhile" in editor.get(stale.headers["location"]).text
    r = editor.post_form(f"{revs}/1/restore", {"etag": etag})
    assert r.status_code == 303
    assert "Revision 1 restored." in editor.get(r.headers["location"]).text
    assert "<h1>First</h1>" in editor.get(url).text
    assert "project.restored" in editor.get(revs).text
    assert editor.get(team.url(f"/revisions/nothing/{project_id}")).status_code == 404
    assert editor.get(team.url("/revisions/project/prj_missing")).status_code == 404


def test_workspace__export_download_and_import_with_problems_by_path(
    dash_server: LiveServer, team: Team
) -> None:
    source = new_org(dash_server)
    with api_token(dash_server, source) as api:
        r = api.post(f"/api/orgs/{source}/projects", json={"key": "shop", "name": XSS})
        assert r.status_code == 201
        document = api.get(f"/api/orgs/{source}/workspace/export").content
    admin, viewer = team["admin"], team["viewer"]
    page = viewer.get(team.url("/workspace"))
    assert page.status_code == 200
    assert "Import a document" not in page.text  # viewers: export only
    link = re.search(r'<a class="button secondary" href="([^"]+)" download>', page.text)
    assert link is not None
    download = viewer.get(link.group(1))
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert orjson.loads(download.content)["projects"] == []
    assert viewer.post_form(team.url("/workspace"), {"document": "{}"}).status_code == 403

    not_json = admin.post_form(team.url("/workspace"), {"document": "{oops", "mode": "import"})
    assert not_json.status_code == 422
    assert "<code>$</code>" in not_json.text
    broken = orjson.loads(document)
    broken["projects"][0]["key"] = "bad key"
    checked = admin.post_form(
        team.url("/workspace"), {"document": orjson.dumps(broken).decode(), "mode": "validate"}
    )
    assert checked.status_code == 422
    assert "<code>$.projects[0].key</code>" in checked.text
    valid = admin.post_form(
        team.url("/workspace"), {"document": document.decode(), "mode": "validate"}
    )
    assert "The document is valid." in valid.text
    assert "shop" not in admin.get(team.url("/projects")).text  # checking wrote nothing
    done = admin.post_form(
        team.url("/workspace"),
        {"document": document.decode(), "mode": "import", "on_group_id_conflict": "refuse"},
    )
    assert done.status_code == 200, done.text
    assert "Imported: 1 projects" in done.text
    assert "<code>shop</code>" in admin.get(team.url("/projects")).text
    again = admin.post_form(
        team.url("/workspace"), {"document": document.decode(), "mode": "import"}
    )
    assert again.status_code == 409  # the organisation is not empty any more
    assert "already has 1 project" in again.text
