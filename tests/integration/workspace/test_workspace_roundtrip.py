"""End to end: a realistic workspace exported, imported into a second organisation and
exported again gives the same document, and what assignment depends on survives the move."""

from __future__ import annotations

import copy
from typing import Any

from tests.integration.evaluation_api.support import abc, create_sdk_key, settle
from tests.integration.workspace.workspaces import PUBLIC_URL, SEGMENT_SIZE, build_workspace
from tests.support.servers import ApiClient, new_org_client

# The document carries a 100,000-id segment: export and import take about a second alone and
# many times that on a loaded 2-core CI box, where the client's default 30 s once ran out.
HEAVY_SECONDS = 180.0


def _export(api: ApiClient) -> dict[str, Any]:
    response = api.get(api.org("/workspace/export"), timeout=HEAVY_SECONDS)
    assert response.status_code == 200, response.text
    assert "attachment" in response.headers["content-disposition"]
    document: dict[str, Any] = response.json()
    return document


def _normalised(document: dict[str, Any]) -> dict[str, Any]:
    """The document without what an import changes on purpose: the export time, and webhooks
    (imported disabled)."""
    out = copy.deepcopy(document)
    out.pop("exported_at")
    out.pop("organization")
    hooks = [out["webhooks"], *(p["webhooks"] for p in out["projects"])]
    for hook in (h for found in hooks for h in found):
        hook.pop("enabled")
    return out


def _listed(api: ApiClient, path: str, **params: Any) -> dict[str, dict[str, Any]]:
    response = api.get(api.org(path), params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return {item.get("key", item.get("url")): item for item in response.json()["data"]}


def _assignment_facts(api: ApiClient) -> dict[str, Any]:
    """Everything the evaluator hashes with and answers, per resource key (ids aside)."""
    experiments = {
        key: {
            "salt": e["salt"],
            "status": e["status"],
            "traffic_percent": e["traffic_percent"],
            "allocation": e["allocation"],
            "variants": [
                {k: v[k] for k in ("key", "weight", "params", "group_id")} for v in e["variants"]
            ],
            "started_at": e["started_at"],
        }
        for key, e in _listed(api, "/experiments").items()
    }
    groups = {key: g["salt"] for key, g in _listed(api, "/exclusion-groups").items()}
    flags = {key: (f["salt"], f["default_value"]) for key, f in _listed(api, "/flags").items()}
    projects = {p["key"]: p["salt"] for p in api.get(api.org("/projects")).json()["data"]}
    return {"experiments": experiments, "groups": groups, "flags": flags, "projects": projects}


def _check_source(document: dict[str, Any], api: ApiClient) -> None:
    """The export holds what was built, by key, and no secret."""
    (checkout,) = [p for p in document["projects"] if p["key"] == "checkout"]
    experiments = {e["key"]: e for e in checkout["experiments"]}
    button = experiments["button"]
    assert button["status"] == "running"
    assert button["allocation"] == [[0, 3000], [5000, 7000]]  # raised around "price"
    assert [p["version"] for p in button["plans"]] == [1, 2]
    assert button["metrics"]["secondary"] == ["revenue", "ctr"]
    assert button["audience"] == "na_adults"
    assert button["exclusion_group"] == "layer_a"
    assert experiments["search"]["decision"]["rollout_flag"] == "search_algo"
    (vip,) = [s for s in checkout["segments"] if s["key"] == "vip"]
    assert len(vip["unit_ids"]) == SEGMENT_SIZE
    (audience,) = checkout["audiences"]
    assert audience["conditions"]["all"][1]["any"][1] == {"segment": "vip"}
    for secret in ("whsec_", "avsb_svc_", api.token, "token_hash", "signing_secret"):
        assert secret not in str(document)


def test_export_import_export__equal_and_assignments_kept(api: ApiClient, live_server: Any) -> None:
    # Given a realistic workspace
    build_workspace(api)
    source = _export(api)
    _check_source(source, api)

    with new_org_client(live_server) as target:
        # When it is validated and imported into a new organisation
        validated = target.post(
            target.org("/workspace/validate"), json=source, timeout=HEAVY_SECONDS
        )
        assert validated.status_code == 200, validated.text
        assert validated.json()["data"] == {"valid": True, "problems": []}
        imported = target.post(target.org("/workspace/import"), json=source, timeout=HEAVY_SECONDS)
        assert imported.status_code == 201, imported.text
        result = imported.json()["data"]

        # Then exporting it again gives the same document
        assert _normalised(_export(target)) == _normalised(source)
        assert result["counts"] == {
            "projects": 2, "exclusion_groups": 2, "segments": 2, "segment_members": SEGMENT_SIZE,
            "audiences": 1, "metrics": 7, "experiments": 3, "flags": 4, "templates": 1,
            "webhooks": 2,
        }  # fmt: skip
        new_ids = {p["key"]: p["id"] for p in result["projects"]}
        assert set(new_ids) == {"checkout", "search"}
        assert not set(new_ids.values()) & {
            p["id"] for p in api.get(api.org("/projects")).json()["data"]
        }

        # and every salt, bucket range, status and group id the evaluator uses is the same,
        # so the ABC API answers the same group ids to clients that stored them
        assert _assignment_facts(target) == _assignment_facts(api)
        assert _abc_answers(target, live_server) == _abc_answers(api, live_server)
        _check_target(target)


def _abc_answers(api: ApiClient, live_server: Any) -> list[dict[str, Any]]:
    """What POST /abc/get_experiments answers units of project "checkout"."""
    (project,) = [p for p in api.get(api.org("/projects")).json()["data"] if p["key"] == "checkout"]
    key = create_sdk_key(api, project["id"])
    settle(live_server)
    profiles = {"country": {"user_attrs": ["US"]}, "age": {"user_attrs": ["30"]}}
    answers = []
    for i in range(20):
        body = {"project_id": "checkout", "unit_id": f"u{i}", "profiles": profiles}
        answer = abc(api, "get_experiments", key, body).json()
        assert answer["ret_code"] == 100, answer
        answers.append(answer["exp_data"])
    assert any(a["group_id"] != -1 for layers in answers for a in layers.values())
    return answers


def _check_target(target: ApiClient) -> None:
    """Imported webhooks are disabled; the import is audited once plus a created event each."""
    hooks = target.get(target.org("/webhooks")).json()["data"]
    assert [h["enabled"] for h in hooks] == [False, False]
    assert all(h["url"] == PUBLIC_URL and h["disabled_reason"] for h in hooks)
    assert sorted(str(h["project_id"])[:4] for h in hooks) == ["None", "prj_"]
    audit = target.get(target.org("/audit"), params={"limit": 1000}).json()["data"]
    actions = [event["action"] for event in audit]
    assert actions.count("workspace.imported") == 1
    assert actions.count("experiment.created") == 3
    assert actions.count("segment.created") == 2
    assert "experiment.started" not in actions
    plans = target.get(
        target.org(f"/experiments/{_listed(target, '/experiments')['button']['id']}/plans")
    )
    assert [p["version"] for p in plans.json()["data"]] == [1, 2]
