"""Workspaces for the workspace tests: a realistic one built over HTTP, and a small valid
document built in memory."""

from __future__ import annotations

import copy
from typing import Any

from tests.integration.design import factories as f
from tests.support.servers import ApiClient

PUBLIC_URL = "https://93.184.215.14/hooks/avsb"
SEGMENT_SIZE = 100_000


def _metrics(api: ApiClient, project_id: str) -> dict[str, f.Json]:
    specs: dict[str, f.Json] = {
        "purchase": {"type": "binary", "event_name": "purchase"},
        "pageviews": {"type": "count", "event_name": "pageview", "window_hours": 24},
        "revenue": {
            "type": "sum",
            "event_name": "purchase",
            "value_property": "amount",
            "winsorize_percentile": 99,
        },
        "basket": {"type": "mean", "event_name": "checkout", "winsorize_cap": 500.0},
        "ctr": {
            "type": "ratio",
            "event_name": "click",
            "denominator_event_name": "impression",
            "lower_is_better": False,
        },
        "bounce": {"type": "binary", "event_name": "bounce", "lower_is_better": True},
    }
    return {key: f.create_metric(api, project_id, key=key, **s) for key, s in specs.items()}


def _targeting(api: ApiClient, project_id: str) -> tuple[f.Json, f.Json]:
    """A 100,000-id segment, a conditions segment, and a nested audience using the first."""
    ids = [f"user_{i:06d}" for i in range(SEGMENT_SIZE)]
    vip = f.create_segment(api, project_id, key="vip", unit_ids=ids)
    mobile = {"attribute": "platform", "operator": "in", "values": ["ios", "android"]}
    f.create_segment(
        api, project_id, key="mobile", type="conditions", conditions=mobile, unit_ids=None
    )
    tree = {
        "all": [
            {"attribute": "country", "operator": "in", "values": ["US", "CA"]},
            {
                "any": [
                    {"attribute": "age", "operator": "gte", "value": 18},
                    {"segment": vip["id"]},
                    {
                        "not": {
                            "attribute": "app_version",
                            "operator": "semver_lt",
                            "value": "2.0.0",
                        }
                    },
                ]
            },
        ]
    }
    audience = f.create_audience(api, project_id, key="na_adults", conditions=tree)
    return vip, audience


def _experiments(
    api: ApiClient, project_id: str, refs: dict[str, f.Json], metrics: dict[str, f.Json]
) -> dict[str, f.Json]:
    """Two layers, three experiments: one running whose traffic was raised (so its buckets
    are not contiguous) with a later plan version, a draft, and one stopped with a rollout."""
    layer_a = f.create_group(api, project_id, key="layer_a")
    layer_b = f.create_group(api, project_id, key="layer_b")
    roles = {
        "primary": [metrics["purchase"]["id"]],
        "secondary": [metrics["revenue"]["id"], metrics["ctr"]["id"]],
        "guardrail": [metrics["bounce"]["id"]],
    }
    button = f.create_experiment(
        api,
        project_id,
        key="button",
        exclusion_group_id=layer_a["id"],
        traffic_percent=30,
        audience_id=refs["audience"]["id"],
        metrics=roles,
        variants=f.variants({"color": "red"}, {"color": "blue"}, {"color": "green"}),
    )
    price = f.create_experiment(
        api, project_id, key="price", exclusion_group_id=layer_a["id"], traffic_percent=20
    )
    search = f.create_experiment(
        api,
        project_id,
        key="search",
        exclusion_group_id=layer_b["id"],
        variants=f.variants({"algo": "bm25"}, {"algo": "vector"}),
        metrics={"primary": [metrics["ctr"]["id"]]},
        analysis={"method": "bayesian", "cuped": False},
    )
    f.act(api, button["id"], "start")
    raised = api.patch(api.org(f"/experiments/{button['id']}"), json={"traffic_percent": 50})
    assert raised.status_code == 200, raised.text
    replanned = {"analysis": {"method": "frequentist", "alpha": 0.01, "planned_sample_size": 9000}}
    assert api.patch(api.org(f"/experiments/{button['id']}"), json=replanned).status_code == 200
    return {"button": button, "price": price, "search": search}


def _flags(api: ApiClient, project_id: str, refs: dict[str, f.Json]) -> None:
    experiments = refs["experiments"]
    f.create_flag(
        api, project_id, key="button_color", experiment_id=experiments["button"]["id"],
        experiment_param="color",
    )  # fmt: skip
    algo = f.create_flag(
        api, project_id, key="search_algo", default_value="bm25",
        experiment_id=experiments["search"]["id"], experiment_param="algo",
    )  # fmt: skip
    rules = [
        {"audience_id": refs["audience"]["id"], "rollout_percent": 50, "value": True},
        {"conditions": {"segment": refs["vip"]["id"]}, "value": True},
    ]
    f.create_flag(
        api, project_id, key="new_checkout", type="boolean", default_value=False, rules=rules
    )
    f.create_flag(
        api, project_id, key="limits", type="json", default_value={"max": 3, "tags": ["a"]},
        enabled=False,
    )  # fmt: skip
    f.act(api, experiments["search"]["id"], "start")
    stop = {"winner": "treatment_1", "reason": "vector wins", "rollout_flag_id": algo["id"]}
    f.act(api, experiments["search"]["id"], "stop", stop)


def build_workspace(api: ApiClient) -> dict[str, Any]:
    """A realistic organisation; answers the created resources by name."""
    project = f.create_project(api, key="checkout", name="Checkout", holdout_percent=5)
    pid = project["id"]
    metrics = _metrics(api, pid)
    vip, audience = _targeting(api, pid)
    refs: dict[str, Any] = {"vip": vip, "audience": audience}
    refs["experiments"] = _experiments(api, pid, refs, metrics)
    _flags(api, pid, refs)
    body = {
        "hypothesis": "Shorter forms convert",
        "audience_id": audience["id"],
        "traffic_percent": 40,
        "variants": f.variants({"form": "long"}, {"form": "short"}),
        "metrics": {"primary": [metrics["purchase"]["id"]]},
    }
    f.create_template(api, pid, key="form_test", body=body)
    other = f.create_project(api, key="search", name="Search")
    f.create_metric(api, other["id"], key="purchase")
    for project_id, events in ((pid, ["experiment.started", "flag.updated"]), (None, ["*"])):
        hook = {"url": PUBLIC_URL, "event_types": events, "project_id": project_id}
        assert api.post(api.org("/webhooks"), json=hook).status_code == 201
    return {"project": project, "other": other, **refs}


_COUNTRY_US = {"attribute": "country", "operator": "eq", "value": "US"}
MINIMAL: dict[str, Any] = {
    "format": "avsb.workspace",
    "version": 1,
    "projects": [
        {
            "key": "shop",
            "name": "Shop",
            "exclusion_groups": [{"key": "layer", "name": "Layer"}],
            "segments": [{"key": "vip", "name": "VIP", "type": "ids", "unit_ids": ["u1", "u2"]}],
            "audiences": [
                {
                    "key": "us",
                    "name": "US",
                    "conditions": {"any": [{"segment": "vip"}, _COUNTRY_US]},
                }
            ],
            "metrics": [{"key": "buy", "name": "Buy", "type": "binary", "event_name": "buy"}],
            "experiments": [
                {
                    "key": "exp",
                    "name": "Exp",
                    "exclusion_group": "layer",
                    "audience": "us",
                    "traffic_percent": 60,
                    "metrics": {"primary": ["buy"]},
                    "variants": f.variants({"color": "red"}, {"color": "blue"}),
                }
            ],
            "flags": [
                {
                    "key": "color",
                    "type": "string",
                    "default_value": "red",
                    "experiment": "exp",
                    "experiment_param": "color",
                }
            ],
        }
    ],
}  # fmt: skip


def minimal() -> dict[str, Any]:
    """A small valid document (a fresh copy to change)."""
    return copy.deepcopy(MINIMAL)
