"""Editing a webhook and a template in the dashboard (issue #14): a save reaches the API, a stale
form shows both versions and overwrites nothing (until "save mine over it"), a bad value is
said beside its field (422), and a member without the write scope gets no Edit button and a 403.
A template's design is edited with the experiment form's fields (the JSON box is the advanced
alternative)."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from tests.integration.dashboard.conftest import Team, api_token, hidden, main_of
from tests.support.servers import LiveServer

# Public addresses (IP literals: no DNS lookup); nothing is delivered, no flag ever changes.
PUBLIC = "https://93.184.216.34/hook"


def _data(r: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert r.status_code == status, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def test_webhook_edit__save_conflict_bad_url_and_rights(
    dash_server: LiveServer, team: Team
) -> None:
    with api_token(dash_server, team.org_id) as api:
        hooks = f"/api/orgs/{team.org_id}/webhooks"
        spec = {"url": PUBLIC, "event_types": ["flag.updated"], "description": "old"}
        hook_id = _data(api.post(hooks, json=spec), 201)["id"]
        url = team.url(f"/webhooks/{hook_id}")
        admin = team["admin"]
        assert f'href="{url}/edit"' in main_of(admin.get(url).text)
        form = admin.get(url + "/edit")
        assert form.status_code == 200
        assert 'value="old"' in form.text or ">old</textarea>" in form.text
        etag = hidden(form.text, "etag")

        saved = {"etag": etag, "url": "https://93.184.216.34/v2", "event_types": "flag.created",
                 "description": "new"}  # fmt: skip
        r = admin.post_form(url + "/edit", saved)
        assert r.status_code == 303, main_of(r.text)
        stored = _data(api.get(f"{hooks}/{hook_id}"))
        assert stored["url"] == "https://93.184.216.34/v2"
        assert stored["event_types"] == ["flag.created"]
        assert stored["description"] == "new"

        # The same (now stale) form again: both versions, nothing overwritten.
        stale = {**saved, "url": "https://93.184.216.34/stale", "description": "mine"}
        r = admin.post_form(url + "/edit", stale)
        assert r.status_code == 409
        page = main_of(r.text)
        assert "https://93.184.216.34/stale" in page
        assert "https://93.184.216.34/v2" in page
        assert _data(api.get(f"{hooks}/{hook_id}"))["url"] == "https://93.184.216.34/v2"
        # "Save my version over it" carries the current version and the events it showed.
        over = {name: hidden(r.text, name) for name in ("etag", "url", "event_types")}
        over["description"] = hidden(r.text, "description")
        r = admin.post_form(url + "/edit", over)
        assert r.status_code == 303, main_of(r.text)
        stored = _data(api.get(f"{hooks}/{hook_id}"))
        assert (stored["url"], stored["description"]) == ("https://93.184.216.34/stale", "mine")
        assert stored["event_types"] == ["flag.created"]

        # A private network address is refused beside the URL field; nothing changes.
        etag = hidden(admin.get(url + "/edit").text, "etag")
        private = {**saved, "etag": etag, "url": "https://10.0.0.1/hook"}
        r = admin.post_form(url + "/edit", private)
        assert r.status_code == 422
        assert 'id="f-url-error"' in main_of(r.text)
        r = admin.post_form(url + "/edit", {**private, "url": "https://93.184.216.34/ok",
                                            "event_types": "no.such_event"})  # fmt: skip
        assert r.status_code == 422
        assert "has-error" in main_of(r.text)
        assert _data(api.get(f"{hooks}/{hook_id}"))["url"] == "https://93.184.216.34/stale"

    # An editor (no webhooks:write) gets no Edit button and a 403.
    editor = team["editor"]
    assert f'href="{url}/edit"' not in editor.get(url).text
    assert editor.get(url + "/edit").status_code == 403
    assert editor.post_form(url + "/edit", {**saved, "etag": etag}).status_code == 403


def test_template_edit__save_conflict_bad_design_and_rights(
    dash_server: LiveServer, team: Team
) -> None:
    with api_token(dash_server, team.org_id) as api:
        org = f"/api/orgs/{team.org_id}"
        prj = _data(api.post(f"{org}/projects", json={"key": "shop", "name": "Shop"}), 201)
        variants = [{"key": "control", "weight": 50, "params": {}},
                    {"key": "treatment", "weight": 50, "params": {}}]  # fmt: skip
        spec = {"project_id": prj["id"], "key": "base", "name": "Base",
                "body": {"variants": variants}}  # fmt: skip
        template_id = _data(api.post(f"{org}/templates", json=spec), 201)["id"]
        url = team.url(f"/templates/{template_id}")
        editor = team["editor"]
        assert f'href="{url}/edit"' in main_of(editor.get(url).text)
        form = editor.get(url + "/edit")
        assert form.status_code == 200
        etag = hidden(form.text, "etag")

        body = {"variants": variants, "traffic_percent": 40, "hypothesis": "Shorter wins"}
        saved = {"etag": etag, "name": "Renamed", "description": "edited",
                 "body": json.dumps(body)}  # fmt: skip
        r = editor.post_form(url + "/edit", saved)
        assert r.status_code == 303, main_of(r.text)
        stored = _data(api.get(f"{org}/templates/{template_id}"))
        assert (stored["name"], stored["description"]) == ("Renamed", "edited")
        assert stored["body"]["traffic_percent"] == 40
        assert stored["body"]["hypothesis"] == "Shorter wins"

        # Stale: both versions shown, nothing overwritten.
        r = editor.post_form(url + "/edit", {**saved, "name": "Stale name"})
        assert r.status_code == 409
        page = main_of(r.text)
        assert "Stale name" in page
        assert "Renamed" in page
        assert _data(api.get(f"{org}/templates/{template_id}"))["name"] == "Renamed"

        # Bad values beside their fields, nothing saved.
        etag = hidden(editor.get(url + "/edit").text, "etag")
        one_variant = json.dumps({"variants": variants[:1]})
        foreign = json.dumps({"variants": variants, "audience_id": "aud_elsewhere"})
        for bad, field in (
            ({"body": "{not json"}, "body"),
            ({"body": "null"}, "body"),
            ({"body": "[1, 2]"}, "body"),
            ({"body": one_variant}, "body"),
            ({"body": foreign}, "body"),  # the service's check: not in the template's project
            ({"name": ""}, "name"),
        ):
            r = editor.post_form(url + "/edit", {**saved, "etag": etag, **bad})
            assert r.status_code == 422, (bad, main_of(r.text))
            assert f'id="f-{field}-error"' in main_of(r.text), bad
        r = editor.post_form(url + "/edit", {**saved, "etag": etag, "body": foreign})
        beside = re.search(r'id="f-body-error"[^>]*>([^<]*)<', r.text)
        assert beside is not None
        assert "audience_id" in beside.group(1)  # which part of the design is wrong
        stored = _data(api.get(f"{org}/templates/{template_id}"))
        assert stored["name"] == "Renamed"
        assert len(stored["body"]["variants"]) == 2

    # A viewer gets no Edit button and a 403.
    viewer = team["viewer"]
    assert f'href="{url}/edit"' not in viewer.get(url).text
    assert viewer.get(url + "/edit").status_code == 403
    assert viewer.post_form(url + "/edit", {**saved, "etag": etag}).status_code == 403


def _selected(page: str, name: str) -> str:
    """The selected option's value of the select ``name``."""
    select = re.search(rf'<select[^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', page, re.S)
    assert select is not None, f"no select {name!r}"
    chosen = re.search(r'<option value="([^"]*)" selected', select.group(1))
    return chosen.group(1) if chosen else ""


def test_template_edit__design_form_save_errors_and_conflict(
    dash_server: LiveServer, team: Team
) -> None:
    with api_token(dash_server, team.org_id) as api:
        org = f"/api/orgs/{team.org_id}"
        prj = _data(api.post(f"{org}/projects", json={"key": "shop", "name": "Shop"}), 201)
        buys = {"project_id": prj["id"], "key": "buy", "name": "Buys", "type": "binary",
                "event_name": "buy"}  # fmt: skip
        metric_id = _data(api.post(f"{org}/metrics", json=buys), 201)["id"]
        variants = [{"key": "control", "weight": 50, "params": {}},
                    {"key": "treatment", "weight": 50, "params": {}}]  # fmt: skip
        spec = {"project_id": prj["id"], "key": "base", "name": "Base",
                "body": {"variants": variants}}  # fmt: skip
        template_id = _data(api.post(f"{org}/templates", json=spec), 201)["id"]
        url = team.url(f"/templates/{template_id}")
        editor = team["editor"]

        # The edit page is the experiment form's design fields, showing the stored design.
        form = editor.get(url + "/edit")
        assert form.status_code == 200
        page = main_of(form.text)
        assert 'name="body"' not in page
        assert 'id="f-variants.1.key" name="variants.1.key" type="text" value="treatment"' in page
        assert 'name="key"' not in page  # a template has no experiment key
        assert _selected(page, f"metric_role.{metric_id}") == ""
        assert _selected(page, "analysis.method") == "frequentist"
        assert f'href="{url}/edit?as=json"' in page
        assert 'name="body"' in main_of(editor.get(url + "/edit?as=json").text)
        first_etag = hidden(form.text, "etag")

        data = {
            "etag": first_etag, "name": "Checkout", "description": "three ways",
            "hypothesis": "Shorter wins", "traffic_percent": "30",
            "variants.0.key": "control", "variants.0.weight": "20", "variants.0.params": "steps=3",
            "variants.1.key": "short", "variants.1.weight": "30", "variants.1.params": "steps=1",
            "variants.2.key": "shorter", "variants.2.weight": "50",
            f"metric_role.{metric_id}": "primary",
            "analysis.method": "bayesian", "analysis.correction": "bh", "analysis.alpha": "0.1",
            "analysis.power": "0.9", "analysis.two_sided": "on",
        }  # fmt: skip
        r = editor.post_form(url + "/edit", data)
        assert r.status_code == 303, main_of(r.text)
        stored = _data(api.get(f"{org}/templates/{template_id}"))
        body = stored["body"]
        assert (stored["name"], stored["description"]) == ("Checkout", "three ways")
        assert [(v["key"], v["weight"], v["params"]) for v in body["variants"]] == [
            ("control", 20, {"steps": "3"}), ("short", 30, {"steps": "1"}), ("shorter", 50, {}),
        ]  # fmt: skip
        assert body["metrics"] == {"primary": [metric_id], "secondary": [], "guardrail": []}
        assert (body["traffic_percent"], body["hypothesis"]) == (30, "Shorter wins")
        analysis = body["analysis"]
        assert (analysis["method"], analysis["correction"], analysis["alpha"]) == (
            "bayesian", "bh", 0.1,
        )  # fmt: skip
        assert (analysis["cuped"], analysis["two_sided"]) == (False, True)
        version = stored["version"]
        again = editor.get(url + "/edit")
        shown = main_of(again.text)
        assert 'name="variants.2.key" type="text" value="shorter"' in shown
        assert _selected(shown, f"metric_role.{metric_id}") == "primary"
        etag = hidden(again.text, "etag")

        # A bad value is said beside its field (422), from the form's parsing or the service.
        for bad, field in (
            ({"variants.1.weight": "abc"}, "variants.1.weight"),
            ({"variants.1.params": "no equals sign"}, "variants.1.params"),
            ({"variants.2.weight": "10"}, "variants"),  # the weights sum to 60 (service)
            ({"variants.1.key": "", "variants.1.weight": "", "variants.1.params": "",
              "variants.2.key": "", "variants.2.weight": ""}, "variants"),  # one variant
            ({"audience_id": "aud_elsewhere"}, "audience_id"),  # not in the template's project
            ({"analysis.alpha": "2"}, "analysis.alpha"),
            ({"traffic_percent": "0"}, "traffic_percent"),
            ({"name": ""}, "name"),
        ):  # fmt: skip
            r = editor.post_form(url + "/edit", {**data, "etag": etag, **bad})
            assert r.status_code == 422, (bad, main_of(r.text))
            assert f'id="f-{field}-error"' in main_of(r.text), (bad, main_of(r.text))
        assert _data(api.get(f"{org}/templates/{template_id}"))["version"] == version

        # A form read before the last save: both versions, nothing changed ...
        stale = {**data, "etag": first_etag, "name": "Stale", "variants.1.weight": "40",
                 "variants.2.weight": "40"}  # fmt: skip
        r = editor.post_form(url + "/edit", stale)
        assert r.status_code == 409
        page = main_of(r.text)
        assert "Stale" in page
        assert "Checkout" in page
        after = _data(api.get(f"{org}/templates/{template_id}"))
        assert (after["version"], after["name"]) == (version, "Checkout")
        assert [v["weight"] for v in after["body"]["variants"]] == [20, 30, 50]
        # ... until "save my version over it", which carries the new version and every field.
        over = {name: hidden(r.text, name) for name in stale}
        assert over["etag"] == etag
        r = editor.post_form(url + "/edit", over)
        assert r.status_code == 303, main_of(r.text)
        after = _data(api.get(f"{org}/templates/{template_id}"))
        assert after["name"] == "Stale"
        assert [v["weight"] for v in after["body"]["variants"]] == [20, 40, 40]
        assert after["body"]["variants"][0]["params"] == {"steps": "3"}
        assert after["body"]["metrics"]["primary"] == [metric_id]

        # "Use template" makes a draft with the design the form saved.
        use = {"project_id": prj["id"], "key": "checkout-3", "name": "Checkout 3"}
        r = editor.post_form(url + "/use", use)
        assert r.status_code == 303, main_of(r.text)
        experiment_id = r.headers["location"].rsplit("/", 1)[-1]
        made = _data(api.get(f"{org}/experiments/{experiment_id}"))
        assert [v["weight"] for v in made["variants"]] == [20, 40, 40]
        assert made["metrics"]["primary"] == [metric_id]
