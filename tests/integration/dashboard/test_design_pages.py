"""The design pages over HTTP: experiments (create, validation beside fields, the estimate,
edit conflict, lifecycle with confirmation), flags, exclusion groups with their traffic bar,
audiences with "test this unit", segment members (removing asks first), the edit and delete
steps audiences, segments, groups and metrics share, and what a viewer may not do."""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest

from tests.integration.dashboard.conftest import XSS, Person, Team, api_token, hidden, main_of
from tests.support.servers import LiveServer


def _ok(r: httpx.Response, status: int = 201) -> dict[str, Any]:
    assert r.status_code == status, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


@pytest.fixture
def project(dash_server: LiveServer, team: Team) -> dict[str, Any]:
    """A project with a binary metric, an exclusion group and an audience (set up over the API)."""
    with api_token(dash_server, team.org_id) as api:
        org = f"/api/orgs/{team.org_id}"
        prj = _ok(api.post(f"{org}/projects", json={"key": "shop", "name": "Shop"}))
        scoped = {"project_id": prj["id"]}
        buys = {**scoped, "key": "buy", "name": "Buys", "type": "binary", "event_name": "buy"}
        metric = _ok(api.post(f"{org}/metrics", json=buys))
        group = _ok(api.post(f"{org}/exclusion-groups", json={**scoped, "key": "checkout",
                                                              "name": "Checkout"}))  # fmt: skip
        tree = {"all": [{"attribute": "country", "operator": "in", "values": ["DE", "FR"]}]}
        audience = _ok(api.post(f"{org}/audiences", json={**scoped, "key": "eu", "name": "EU",
                                                          "conditions": tree}))  # fmt: skip
    return {"project": prj, "metric": metric, "group": group, "audience": audience}


def _experiment_form(p: dict[str, Any], **extra: str) -> dict[str, str]:
    return {
        "project_id": p["project"]["id"], "key": "new-checkout", "name": "New checkout",
        "hypothesis": "Fewer steps sell more", "traffic_percent": "40",
        "exclusion_group_id": p["group"]["id"], "audience_id": p["audience"]["id"],
        "variants.0.key": "control", "variants.0.weight": "50", "variants.0.params": "steps=3",
        "variants.1.key": "short", "variants.1.weight": "50", "variants.1.params": "steps=1",
        f"metric_role.{p['metric']['id']}": "primary",
        "analysis.method": "frequentist", "analysis.alpha": "0.05", "analysis.power": "0.8",
        "analysis.correction": "holm", "analysis.mde_pct": "10", "analysis.two_sided": "on",
        "action": "save", **extra,
    }  # fmt: skip


def _create_experiment(editor: Person, team: Team, p: dict[str, Any], **extra: str) -> str:
    r = editor.post_form(team.url("/experiments/new"), _experiment_form(p, **extra))
    assert r.status_code == 303, main_of(r.text)
    return r.headers["location"]


def test_experiment__create_show_and_list(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    choose = editor.get(team.url("/experiments/new"))
    assert choose.status_code == 200, choose.text  # choose a project
    form = editor.get(team.url(f"/experiments/new?project_id={project['project']['id']}"))
    assert form.status_code == 200
    assert 'name="variants.0.key"' in form.text
    assert "Buys" in form.text
    url = _create_experiment(editor, team, project, name=XSS)
    page = editor.get(url)
    assert page.status_code == 200
    body = main_of(page.text)
    assert XSS not in page.text
    assert "&lt;script&gt;" in body
    assert "draft" in body
    assert "steps=1" in body
    assert f'href="{url}/start"' in body
    listing = main_of(editor.get(team.url("/experiments?status=draft&owner=me")).text)
    assert "new-checkout" in listing
    assert "new-checkout" not in main_of(editor.get(team.url("/experiments?status=running")).text)
    mine = team["admin"].get(team.url("/experiments?owner=me"))
    assert "new-checkout" not in main_of(mine.text)


def test_experiment__errors_beside_their_fields(
    dash_server: LiveServer, team: Team, project: dict[str, Any]
) -> None:
    editor = team["editor"]
    bad = _experiment_form(project, **{"variants.1.weight": "70", "analysis.alpha": "0.9",
                                       "variants.0.params": "no equals"})  # fmt: skip
    r = editor.post_form(team.url("/experiments/new"), bad)
    assert r.status_code == 422
    body = main_of(r.text)
    assert 'id="f-analysis.alpha-error"' in body
    assert 'id="f-variants.0.params-error"' in body
    assert re.search(r'id="f-analysis.alpha"[^>]*aria-invalid="true"', body)
    # The service's check (weights sum to 100) goes beside the variants table.
    bad = _experiment_form(project, **{"variants.1.weight": "70"})
    r = editor.post_form(team.url("/experiments/new"), bad)
    assert r.status_code == 422
    assert 'id="f-variants-error"' in main_of(r.text)
    assert "sum to 100" in main_of(r.text)
    with api_token(dash_server, team.org_id) as api:
        listed = api.get(f"/api/orgs/{team.org_id}/experiments").json()["data"]
    assert listed == []


def test_experiment__estimate_without_saving(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    form = _experiment_form(project, action="estimate", **{
        "estimate.baseline_value": "0.1", "estimate.expected_daily_traffic": "5000"})  # fmt: skip
    r = editor.post_form(team.url("/experiments/new"), form)
    assert r.status_code == 200
    found = re.search(r"<strong>([\d,]+)</strong> units per variant", r.text)
    assert found is not None
    assert int(found.group(1).replace(",", "")) > 1000
    assert "days" in r.text
    missing = editor.post_form(team.url("/experiments/new"), _experiment_form(project,
                               action="estimate"))  # fmt: skip
    assert 'id="f-estimate.baseline_value-error"' in main_of(missing.text)


def test_experiment__live_estimate_answers_200_with_the_estimate_or_the_problem(
    team: Team, project: dict[str, Any]
) -> None:
    """The route static/design.js posts the form to as it is typed: the button's parsing and
    the tools service, JSON, 200 whether the tools accept the input or not."""
    editor, url = team["editor"], team.url("/experiments/estimate")
    form = _experiment_form(project, **{"estimate.baseline_value": "0.1",
                                        "estimate.expected_daily_traffic": "5000"})  # fmt: skip
    ok = editor.post_form(url, form)
    assert ok.status_code == 200, ok.text
    assert ok.headers["content-type"] == "application/json"
    assert ok.json()["problems"] == []
    estimate = ok.json()["estimate"]
    assert estimate["sample_size_per_variant"][0] > 1000
    assert estimate["estimated_duration_days"] > 0
    # A binary baseline outside (0, 1): the tools refuse it, the answer says where and why.
    refused = editor.post_form(url, {**form, "estimate.baseline_value": "1.5"})
    assert refused.status_code == 200, refused.text
    assert refused.json() == {
        "estimate": None,
        "problems": [
            {"path": "estimate.baseline_value", "message": "a binary baseline must be in (0, 1)"}
        ],
    }
    alpha = editor.post_form(url, {**form, "analysis.alpha": "0.9"}).json()
    assert alpha["estimate"] is None
    assert [p["path"] for p in alpha["problems"]] == ["analysis.power"]  # must exceed alpha
    # The dashboard's gate: CSRF, and the experiments:write scope of the form itself.
    assert editor.post_form(url, form, csrf=False).status_code == 403
    assert team["viewer"].post_form(url, form).status_code == 403


def test_experiment__conflict_shows_both_versions(team: Team, project: dict[str, Any]) -> None:
    editor, admin = team["editor"], team["admin"]
    url = _create_experiment(editor, team, project)
    first = editor.get(url + "/edit")
    second = admin.get(url + "/edit")
    etag = hidden(first.text, "etag")
    assert hidden(second.text, "etag") == etag
    saved = admin.post_form(url + "/edit", _experiment_form(project, etag=etag,
                                                            name="Admin's name"))  # fmt: skip
    assert saved.status_code == 303
    lost = editor.post_form(url + "/edit", _experiment_form(project, etag=etag,
                                                            name="Editor's name"))  # fmt: skip
    assert lost.status_code == 409
    body = main_of(lost.text)
    assert "Editor&#39;s name" in body
    assert "Admin&#39;s name" in body
    assert "Admin&#39;s name" in main_of(editor.get(url).text)  # nothing overwritten
    # "Save my version over it" carries the new version: it saves.
    newer = hidden(lost.text, "etag")
    again = editor.post_form(url + "/edit", _experiment_form(project, etag=newer,
                                                             name="Editor's name"))  # fmt: skip
    assert again.status_code == 303
    assert "Editor&#39;s name" in main_of(editor.get(url).text)


def test_experiment__lifecycle_asks_first(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    url = _create_experiment(editor, team, project)
    ask = editor.get(url + "/start")
    assert ask.status_code == 200
    assert "can no longer change" in ask.text
    assert "draft" in main_of(editor.get(url).text)  # asking changed nothing
    done = editor.post_form(url + "/start", {"etag": hidden(ask.text, "etag")})
    assert done.status_code == 303
    page = main_of(editor.get(url).text)
    assert "running" in page
    assert f'href="{url}/pause"' in page
    # A stale confirmation (the version moved on) does nothing.
    stale = editor.post_form(url + "/pause", {"etag": hidden(ask.text, "etag")})
    assert stale.status_code == 303
    assert "running" in main_of(editor.get(url).text)
    # Started: the edit form leaves variants read-only and raising traffic is allowed.
    edit = editor.get(url + "/edit")
    assert re.search(r'id="f-variants.0.key"[^>]*disabled', edit.text)
    form = _experiment_form(project, etag=hidden(edit.text, "etag"), traffic_percent="50")
    for name in [k for k in form if k.startswith("variants.")] + [
        "key",
        "audience_id",
        "exclusion_group_id",
    ]:
        form.pop(name)
    assert editor.post_form(url + "/edit", form).status_code == 303
    stop = editor.get(url + "/stop")
    r = editor.post_form(url + "/stop", {"etag": hidden(stop.text, "etag"), "winner": "nope"})
    assert r.status_code == 422
    assert 'id="f-winner-error"' in main_of(r.text)
    r = editor.post_form(url + "/stop", {"etag": hidden(stop.text, "etag"), "winner": "short",
                                         "reason": "Shorter wins"})  # fmt: skip
    assert r.status_code == 303
    assert "Shorter wins" in main_of(editor.get(url).text)


def test_flag__bound_to_an_experiment_and_kill_switch(
    dash_server: LiveServer, team: Team, project: dict[str, Any]
) -> None:
    editor = team["editor"]
    exp_url = _create_experiment(editor, team, project)
    exp_id = exp_url.rsplit("/", 1)[-1]
    prj = project["project"]["id"]
    new = editor.get(team.url(f"/flags/new?project_id={prj}&experiment_id={exp_id}"))
    assert new.status_code == 200
    assert re.search(r'<option value="' + exp_id + '" selected', new.text)
    form = {"project_id": prj, "key": "checkout-steps", "type": "number", "default_value": "3",
            "enabled": "on", "experiment_id": exp_id, "experiment_param": "steps",
            "rules.0.audience_id": project["audience"]["id"], "rules.0.value": "2",
            "rules.0.rollout_percent": "50", "rules.0.conditions.mode": "rows",
            "rules.0.conditions.combine": "all",
            "rules.0.conditions.rows.0.attribute": "app",
            "rules.0.conditions.rows.0.operator": "semver_gte",
            "rules.0.conditions.rows.0.value": "2.0.0"}  # fmt: skip
    bad = editor.post_form(team.url("/flags/new"), {**form, "experiment_param": "missing"})
    assert bad.status_code == 422
    assert 'id="f-experiment_param-error"' in main_of(bad.text)
    bad = editor.post_form(team.url("/flags/new"), {**form, "rules.0.conditions.rows.0.value": "x"})
    assert bad.status_code == 422
    assert 'id="f-rules.0.conditions.rows.0-error"' in main_of(bad.text)
    r = editor.post_form(team.url("/flags/new"), form)
    assert r.status_code == 303, main_of(r.text)
    url = r.headers["location"]
    page = main_of(editor.get(url).text)
    assert "checkout-steps" in page
    assert "semver_gte" in page
    assert "checkout-steps" in main_of(editor.get(exp_url).text)  # shown on the experiment
    ask = editor.get(url + "/toggle")
    assert "Kill switch" in ask.text
    assert editor.post_form(url + "/toggle", {"etag": hidden(ask.text, "etag")}).status_code == 303
    with api_token(dash_server, team.org_id) as api:
        flag = api.get(f"/api/orgs/{team.org_id}/flags/{url.rsplit('/', 1)[-1]}").json()["data"]
    assert flag["enabled"] is False
    assert flag["rules"][0]["conditions"] == {
        "all": [{"attribute": "app", "operator": "semver_gte", "value": "2.0.0"}]
    }


def test_group__bar_shows_shares_and_free(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    _create_experiment(editor, team, project, name="Forty")
    empty = {"project_id": project["project"]["id"], "key": "", "name": ""}
    r = editor.post_form(team.url("/exclusion-groups/new"), empty)
    assert r.status_code == 422
    assert 'id="f-key-error"' in main_of(r.text)
    page = main_of(editor.get(team.url(f"/exclusion-groups/{project['group']['id']}")).text)
    assert "<svg" in page
    assert "Forty" in page
    assert "40.00%" in page
    assert "Free: 60.00%" in page


def test_audience__rows_editor_and_test_this_unit(
    dash_server: LiveServer, team: Team, project: dict[str, Any]
) -> None:
    editor = team["editor"]
    with api_token(dash_server, team.org_id) as api:
        beta = {"project_id": project["project"]["id"], "key": "beta", "name": "Beta",
                "type": "ids", "unit_ids": ["u1"]}  # fmt: skip
        segment = _ok(api.post(f"/api/orgs/{team.org_id}/segments", json=beta))
    form = {"project_id": project["project"]["id"], "key": "adults", "name": "Adults",
            "conditions.mode": "rows", "conditions.combine": "any",
            "conditions.rows.0.attribute": "age", "conditions.rows.0.operator": "gte",
            "conditions.rows.0.value": "18",
            "conditions.rows.1.attribute": "plan", "conditions.rows.1.operator": "in",
            "conditions.rows.1.value": "pro, team",
            "conditions.rows.2.attribute": "", "conditions.rows.2.operator": "segment",
            "conditions.rows.2.value": segment["id"]}  # fmt: skip
    r = editor.post_form(team.url("/audiences/new"), {**form, "conditions.rows.0.value": "old"})
    assert r.status_code == 422
    assert 'id="f-conditions.rows.0-error"' in main_of(r.text)
    r = editor.post_form(team.url("/audiences/new"), form)
    assert r.status_code == 303, main_of(r.text)
    url = r.headers["location"]
    test = editor.get(url, params={"unit_id": "u1", "attributes": "age=12\nplan=team"})
    body = main_of(test.text)
    assert "In the audience" in body
    rows = re.findall(r'<tr class="(matched|unmatched)">.*?<code>(.*?)</code>', body, re.S)
    assert rows == [
        ("matched", "any of"),
        ("unmatched", "age gte 18"),
        ("matched", "plan in [&#34;pro&#34;, &#34;team&#34;]"),
        ("matched", f"in segment {segment['id']}"),
    ]
    # Only the segment matches u1 now; u2 is in nothing.
    out = main_of(editor.get(url, params={"unit_id": "u1", "attributes": "age=12"}).text)
    assert "In the audience" in out
    out = main_of(editor.get(url, params={"unit_id": "u2", "attributes": "age=12"}).text)
    assert "Not in the audience" in out
    bad = main_of(editor.get(url, params={"unit_id": "u2", "attributes": "junk"}).text)
    assert "Line 1" in bad


def test_viewer__sees_no_edit_buttons_and_cannot_post(team: Team, project: dict[str, Any]) -> None:
    url = _create_experiment(team["editor"], team, project)
    viewer = team["viewer"]
    page = viewer.get(url)
    assert page.status_code == 200
    body = main_of(page.text)
    assert f'href="{url}/edit"' not in body
    assert f'href="{url}/start"' not in body
    assert "New experiment" not in main_of(viewer.get(team.url("/experiments")).text)
    assert viewer.get(url + "/edit").status_code == 403
    assert viewer.get(url + "/start").status_code == 403
    edit = team["editor"].get(url + "/edit")
    r = viewer.post_form(url + "/start", {"etag": hidden(edit.text, "etag")})
    assert r.status_code == 403
    assert "draft" in main_of(viewer.get(url).text)
    group = team.url(f"/exclusion-groups/{project['group']['id']}")
    assert "/edit" not in main_of(viewer.get(group).text)
    assert viewer.get(team.url("/flags/new")).status_code == 403


def test_metric__create_with_errors_then_edit(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    form = {"project_id": project["project"]["id"], "key": "revenue", "name": "Revenue",
            "type": "ratio", "event_name": "order", "window_hours": "72", "test": "welch",
            "interval": "normal"}  # fmt: skip
    r = editor.post_form(team.url("/metrics/new"), form)
    assert r.status_code == 422  # a ratio needs its denominator: said beside that field
    assert 'id="f-denominator_event_name-error"' in main_of(r.text)
    r = editor.post_form(team.url("/metrics/new"), {**form, "denominator_event_name": "visit"})
    assert r.status_code == 303, main_of(r.text)
    url = r.headers["location"]
    edit = editor.get(url + "/edit")
    assert hidden(edit.text, "etag")
    values = {**form, "denominator_event_name": "visit", "etag": hidden(edit.text, "etag"),
              "name": "Revenue per visit", "lower_is_better": "on"}  # fmt: skip
    assert editor.post_form(url + "/edit", values).status_code == 303
    page = main_of(editor.get(url).text)
    assert "Revenue per visit" in page
    assert "72" in page


def test_segment__ids_members_and_rules(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    prj = project["project"]["id"]
    ids = {"project_id": prj, "type": "ids", "key": "staff", "name": "Staff",
           "unit_ids": "u1\nu2, u3"}  # fmt: skip
    r = editor.post_form(team.url("/segments/new"), ids)
    assert r.status_code == 303, main_of(r.text)
    url = r.headers["location"]
    assert "<dd>3</dd>" in main_of(editor.get(url).text)
    r = editor.post_form(url + "/members", {"unit_ids": "u4\nu5", "change": "add"})
    assert r.status_code == 303  # adding asks nothing
    assert "<dd>5</dd>" in main_of(editor.get(url).text)
    # A rules segment may not name another segment: said beside the JSON box.
    tree = '{"any": [{"segment": "seg_x"}]}'
    rules = {"project_id": prj, "type": "conditions", "key": "mobile", "name": "Mobile",
             "conditions.mode": "json", "conditions.json": tree}  # fmt: skip
    r = editor.post_form(team.url("/segments/new"), rules)
    assert r.status_code == 422
    assert 'id="f-conditions.json-error"' in main_of(r.text)
    rules = {**rules, "conditions.mode": "rows", "conditions.rows.0.attribute": "os",
             "conditions.rows.0.operator": "eq", "conditions.rows.0.value": "ios"}  # fmt: skip
    r = editor.post_form(team.url("/segments/new"), rules)
    assert r.status_code == 303, main_of(r.text)
    edit = editor.get(r.headers["location"] + "/edit")
    assert 'value="ios"' in edit.text


def _members_confirmation(editor: Person, url: str, typed: str) -> tuple[str, dict[str, str]]:
    """The page the first "Remove" POST answers with, and what its button posts."""
    r = editor.post_form(url + "/members", {"unit_ids": typed, "change": "remove"})
    assert r.status_code == 200, r.headers.get("location")
    page = main_of(r.text)
    assert f'action="{url}/members"' in page
    fields = {name: hidden(page, name) for name in ("unit_ids", "change", "confirmed", "etag")}
    return page, fields


def test_segment__removing_members_asks_first(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    ids = {"project_id": project["project"]["id"], "type": "ids", "key": "beta",
           "name": "Beta testers", "unit_ids": "u1\nu2\nu3"}  # fmt: skip
    r = editor.post_form(team.url("/segments/new"), ids)
    assert r.status_code == 303, main_of(r.text)
    url = r.headers["location"]
    # The first POST removes nothing: it says how many of the typed ids go, from which segment
    # (the members typed after a thousand others are counted too).
    others = "\n".join(f"x{i}" for i in range(1000))
    page, fields = _members_confirmation(editor, url, others + "\nu2, u3\nu9, u2")
    assert "Remove 2 member(s) from Beta testers?" in page
    assert "2 member(s) will be removed from segment &#39;Beta testers&#39; (u2, u3)" in page
    assert "1001 unit id(s) typed are not members" in page
    assert 'name="csrf_token"' in page
    assert f'href="{url}"' in page  # cancel
    assert fields["change"] == "remove"
    assert "<dd>3</dd>" in main_of(editor.get(url).text)
    # The confirmed POST removes them.
    r = editor.post_form(url + "/members", fields)
    assert r.status_code == 303
    shown = main_of(editor.get(url).text)
    assert "<dd>1</dd>" in shown
    assert "2 unit(s) removed." in shown
    # A confirmation shown before the segment changed does nothing.
    _, stale = _members_confirmation(editor, url, "u1")
    added = editor.post_form(url + "/members", {"unit_ids": "u7", "change": "add"})
    assert added.status_code == 303
    r = editor.post_form(url + "/members", stale)
    assert r.status_code == 303
    shown = main_of(editor.get(url).text)
    assert "changed meanwhile" in shown
    assert "<dd>2</dd>" in shown
    # Ids none of which is a member: nothing to confirm, nothing removed.
    r = editor.post_form(url + "/members", {"unit_ids": "u8", "change": "remove"})
    assert r.status_code == 303
    shown = main_of(editor.get(url).text)
    assert "nothing removed" in shown
    assert "<dd>2</dd>" in shown


def test_template__save_an_experiment_and_use_it(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    exp_url = _create_experiment(editor, team, project)
    exp_id = exp_url.rsplit("/", 1)[-1]
    assert f"/templates/new?experiment_id={exp_id}" in main_of(editor.get(exp_url).text)
    data = {"experiment_id": exp_id, "key": "checkout-test", "name": "Checkout test"}
    r = editor.post_form(team.url("/templates/new"), data)
    assert r.status_code == 303, main_of(r.text)
    url = r.headers["location"]
    page = main_of(editor.get(url).text)
    assert "Use template" in page
    assert "steps=1" not in page  # params are in the JSON design, not the summary
    # Its edit form shows the saved design in the experiment form's fields.
    edit = main_of(editor.get(url + "/edit").text)
    assert ">steps=1</textarea>" in edit
    for name, chosen in (("audience_id", project["audience"]["id"]),
                         ("exclusion_group_id", project["group"]["id"]),
                         (f"metric_role.{project['metric']['id']}", "primary")):  # fmt: skip
        select = re.search(rf'name="{re.escape(name)}"[^>]*>(.*?)</select>', edit, re.S)
        assert select is not None, name
        assert f'<option value="{chosen}" selected' in select.group(1), name
    prj = project["project"]["id"]
    r = editor.post_form(url + "/use", {"project_id": prj, "key": "bad key", "name": "Again"})
    assert r.status_code == 422
    assert 'id="f-key-error"' in main_of(r.text)
    r = editor.post_form(url + "/use", {"project_id": prj, "key": "again", "name": "Again"})
    assert r.status_code == 303, main_of(r.text)
    made = main_of(editor.get(r.headers["location"]).text)
    assert "Again" in made
    assert "draft" in made
    assert "steps=1" in made  # the variants' params came with the template
    viewer = team["viewer"]
    assert "Use template" not in main_of(viewer.get(url).text)
    assert (
        viewer.post_form(url + "/use", {"project_id": prj, "key": "v", "name": "V"}).status_code
        == 403
    )


class _Controls(HTMLParser):
    """The page's title, its form controls' ids and the ids its labels point at."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str] = []
        self.labelled: set[str] = set()
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append(found.get("id") or f"<{tag} name={found.get('name')}>")
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))
        self._in_title = tag == "title" and not self.title  # the page's, not an SVG's

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


def test_every_design_page__has_a_title_and_labelled_fields(
    dash_server: LiveServer, team: Team, project: dict[str, Any]
) -> None:
    editor = team["editor"]
    exp = _create_experiment(editor, team, project).rsplit("/", 1)[-1]
    prj, grp = project["project"]["id"], project["group"]["id"]
    aud, met = project["audience"]["id"], project["metric"]["id"]
    pages = [
        "/experiments", f"/experiments/new?project_id={prj}", f"/experiments/{exp}",
        f"/experiments/{exp}/edit", f"/experiments/{exp}/start", f"/experiments/{exp}/delete",
        "/exclusion-groups", "/exclusion-groups/new", f"/exclusion-groups/{grp}",
        f"/exclusion-groups/{grp}/edit", "/audiences", "/audiences/new", f"/audiences/{aud}",
        f"/audiences/{aud}/edit", "/metrics", "/metrics/new", f"/metrics/{met}",
        f"/metrics/{met}/edit", "/flags", f"/flags/new?project_id={prj}&experiment_id={exp}",
        "/segments", "/segments/new", "/templates", f"/templates/new?experiment_id={exp}",
    ]  # fmt: skip
    data = {"experiment_id": exp, "key": "labelled", "name": "Labelled"}
    saved = editor.post_form(team.url("/templates/new"), data)
    assert saved.status_code == 303, main_of(saved.text)
    tpl = saved.headers["location"].rsplit("/", 1)[-1]
    pages += [f"/templates/{tpl}", f"/templates/{tpl}/edit", f"/templates/{tpl}/edit?as=json"]
    for path in pages:
        r = editor.get(team.url(path))
        assert r.status_code == 200, (path, r.status_code)
        parsed = _Controls()
        parsed.feed(r.text)
        assert parsed.title.strip().endswith("· AvsB"), path
        assert len(parsed.title.strip()) > len("· AvsB"), path
        unlabelled = [c for c in parsed.controls if c not in parsed.labelled]
        assert unlabelled == [], (path, unlabelled)


def test_conflicts__flag_audience_group_metric_show_both_versions(
    team: Team, project: dict[str, Any]
) -> None:
    editor, admin = team["editor"], team["admin"]
    prj = project["project"]["id"]
    r = editor.post_form(team.url("/flags/new"), {
        "project_id": prj, "key": "dark-mode", "type": "boolean", "default_value": "false",
        "enabled": "on"})  # fmt: skip
    assert r.status_code == 303, main_of(r.text)
    flag_url = r.headers["location"]
    aud, grp, met = (project[k]["id"] for k in ("audience", "group", "metric"))
    cases = [
        (flag_url, {"key": "dark-mode", "type": "boolean", "default_value": "false"}),
        (team.url(f"/audiences/{aud}"), {"key": "eu", "conditions.mode": "rows",
                                         "conditions.combine": "all",
                                         "conditions.rows.0.attribute": "country",
                                         "conditions.rows.0.operator": "eq",
                                         "conditions.rows.0.value": "DE"}),
        (team.url(f"/exclusion-groups/{grp}"), {"key": "checkout"}),
        (team.url(f"/metrics/{met}"), {"key": "buy", "type": "binary", "event_name": "buy",
                                       "test": "welch", "interval": "normal"}),
    ]  # fmt: skip
    for url, fields in cases:
        etag = hidden(editor.get(url + "/edit").text, "etag")
        first = admin.post_form(url + "/edit", {**fields, "etag": etag, "name": "Theirs"})
        assert first.status_code == 303, (url, main_of(first.text))
        second = editor.post_form(url + "/edit", {**fields, "etag": etag, "name": "Mine"})
        assert second.status_code == 409, url
        body = main_of(second.text)
        assert "<td>Mine</td>" in body, url
        assert "<td>Theirs</td>" in body, url
        assert "Theirs" in main_of(editor.get(url).text), url  # nothing was overwritten


def _flashes(html: str) -> list[str]:
    """The flash messages a page shows, as text."""
    return [html_lib.unescape(m) for m in re.findall(r'<p class="flash[^"]*">([^<]*)</p>', html)]


def test_audience_segment_group_metric__edit_and_delete_say_what_happened(
    team: Team, project: dict[str, Any]
) -> None:
    """The edit and delete steps the four pages share: saved, a form error beside its field,
    the delete confirmation, a stale or refused delete (nothing deleted), then deleted."""
    editor = team["editor"]
    exp_url = _create_experiment(editor, team, project)  # uses the group, metric and audience
    ids = {"project_id": project["project"]["id"], "type": "ids", "key": "beta", "name": "Beta",
           "unit_ids": "u1"}  # fmt: skip
    r = editor.post_form(team.url("/segments/new"), ids)
    assert r.status_code == 303, main_of(r.text)
    rows = {"conditions.mode": "rows", "conditions.combine": "all",
            "conditions.rows.0.attribute": "country", "conditions.rows.0.operator": "eq",
            "conditions.rows.0.value": "DE"}  # fmt: skip
    metric = {"key": "buy", "type": "binary", "event_name": "buy", "test": "welch",
              "interval": "normal"}  # fmt: skip
    aud, grp, met = (project[k]["id"] for k in ("audience", "group", "metric"))
    cases = [  # (url, list, noun, short, the edit form's other fields, used by the experiment)
        (team.url(f"/audiences/{aud}"), team.url("/audiences"), "audience", "audience",
         {"key": "eu", **rows}, True),
        (r.headers["location"], team.url("/segments"), "segment", "segment", {"key": "beta"},
         False),
        (team.url(f"/exclusion-groups/{grp}"), team.url("/exclusion-groups"), "exclusion group",
         "group", {"key": "checkout"}, True),
        (team.url(f"/metrics/{met}"), team.url("/metrics"), "metric", "metric", metric, True),
    ]  # fmt: skip
    for url, _listed, noun, short, fields, used in cases:
        etag = hidden(editor.get(url + "/edit").text, "etag")
        r = editor.post_form(url + "/edit", {**fields, "etag": etag, "name": ""})
        assert r.status_code == 422, url
        assert 'id="f-name-error"' in main_of(r.text), url
        r = editor.post_form(url + "/edit", {**fields, "etag": etag, "name": "Gone <soon>"})
        assert (r.status_code, r.headers["location"]) == (303, url)
        assert _flashes(editor.get(url).text) == [f"{noun.capitalize()} saved."]
        r = editor.post_form(url + "/edit", {**fields, "etag": etag, "name": "Mine"})  # stale
        assert r.status_code == 409, url
        what = f"{noun.capitalize()} &#39;Gone &lt;soon&gt;&#39; changed while you were editing"
        assert what in main_of(r.text)
        assert "<td>Mine</td>" in main_of(r.text)
        confirm = editor.get(url + "/delete")
        page = main_of(confirm.text)
        assert f"<h1>Delete {noun} Gone &lt;soon&gt;?</h1>" in page, url
        assert f'action="{url}/delete"' in page
        assert f">Delete {short}</button>" in page
        assert f'href="{url}"' in page
        etag = hidden(page, "etag")
        r = editor.post_form(url + "/delete", {"etag": "stale"})
        assert (r.status_code, r.headers["location"]) == (303, url)
        assert _flashes(editor.get(url).text) == [f"The {short} changed meanwhile; look again."]
        if used:
            r = editor.post_form(url + "/delete", {"etag": etag})
            assert (r.status_code, r.headers["location"]) == (303, url)
            shown = editor.get(url).text
            assert 'class="flash flash-error"' in shown, url
            assert exp_url.rsplit("/", 1)[-1] in _flashes(shown)[0], url  # who uses it
    delete = hidden(editor.get(exp_url + "/delete").text, "etag")
    assert editor.post_form(exp_url + "/delete", {"etag": delete}).status_code == 303
    for url, listed, _, short, _, _ in cases:
        etag = hidden(editor.get(url + "/delete").text, "etag")
        r = editor.post_form(url + "/delete", {"etag": etag})
        assert (r.status_code, r.headers["location"]) == (303, listed)
        shown = editor.get(listed).text
        assert _flashes(shown) == [f"{short.capitalize()} 'Gone <soon>' deleted."]
        assert editor.get(url).status_code == 404


def test_every_design_detail_page__links_its_history(team: Team, project: dict[str, Any]) -> None:
    editor = team["editor"]
    exp = _create_experiment(editor, team, project).rsplit("/", 1)[-1]
    for path, kind, resource_id in (
        (f"/experiments/{exp}", "experiment", exp),
        (f"/exclusion-groups/{project['group']['id']}", "exclusion_group", project["group"]["id"]),
        (f"/audiences/{project['audience']['id']}", "audience", project["audience"]["id"]),
        (f"/metrics/{project['metric']['id']}", "metric", project["metric"]["id"]),
    ):
        page = editor.get(team.url(path)).text
        history = team.url(f"/revisions/{kind}/{resource_id}")
        assert f'href="{history}"' in page, path
        listed = editor.get(history)
        assert listed.status_code == 200, (history, listed.status_code)
        assert resource_id in listed.text
