"""A realistic project built through the management API: two exclusion groups (layers),
experiments with audiences (one paused, one in its own layer), a segment, flags bound to
experiments, rule and rollout flags, a static JSON flag and a killed flag."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from tests.integration.design import factories as f
from tests.integration.evaluation_api.support import SdkKey, create_sdk_key
from tests.support.servers import ApiClient

Json = dict[str, Any]
VIP_UNITS = [f"vip_{i}" for i in range(40)]


@dataclass
class Scenario:
    project: Json
    key: SdkKey
    experiments: dict[str, Json] = field(default_factory=dict)
    flags: dict[str, Json] = field(default_factory=dict)
    layers: dict[str, Json] = field(default_factory=dict)


def _experiment(api: ApiClient, sc: Scenario, name: str, **body: Any) -> Json:
    data = f.create_experiment(api, sc.project["id"], key=f.unique(name), **body)
    sc.experiments[name] = data
    return data


def _experiments(api: ApiClient, sc: Scenario, audiences: dict[str, Json]) -> None:
    pid = sc.project["id"]
    landing = sc.layers["landing"] = f.create_group(api, pid, key=f.unique("landing"))
    checkout = sc.layers["checkout"] = f.create_group(api, pid, key=f.unique("checkout"))
    colors = f.variants({"color": "red", "size": "20"}, {"color": "blue", "size": "24"})
    _experiment(api, sc, "button", exclusion_group_id=landing["id"], traffic_percent=40,
                audience_id=audiences["us_adults"]["id"], variants=colors)  # fmt: skip
    _experiment(api, sc, "hero", exclusion_group_id=landing["id"], traffic_percent=30)
    _experiment(api, sc, "pay", exclusion_group_id=checkout["id"], traffic_percent=50,
                audience_id=audiences["mobile"]["id"],
                variants=f.variants({"enabled": "false"}, {"enabled": "true"}))  # fmt: skip
    _experiment(api, sc, "shipping", exclusion_group_id=checkout["id"], traffic_percent=25)
    prices = [
        {"key": "control", "weight": 34, "params": {"price": "9.99"}},
        {"key": "cheap", "weight": 33, "params": {"price": "7"}},
        {"key": "dear", "weight": 33, "params": {"price": "12.5"}},
    ]
    _experiment(api, sc, "price", traffic_percent=60, audience_id=audiences["paying"]["id"],
                variants=prices)  # fmt: skip
    _experiment(api, sc, "onboarding", traffic_percent=50)
    for name in ("button", "hero", "pay", "shipping", "price", "onboarding"):
        f.act(api, sc.experiments[name]["id"], "start")
    f.act(api, sc.experiments["shipping"]["id"], "pause")


def _flags(api: ApiClient, sc: Scenario, audiences: dict[str, Json]) -> None:
    pid, exps = sc.project["id"], sc.experiments
    specs: dict[str, Json] = {
        "colour": {"type": "string", "default_value": "grey",
                   "experiment_id": exps["button"]["id"], "experiment_param": "color"},
        "price": {"type": "number", "default_value": 9.99,
                  "experiment_id": exps["price"]["id"], "experiment_param": "price"},
        "new_pay": {"type": "boolean", "default_value": False,
                    "experiment_id": exps["pay"]["id"], "experiment_param": "enabled"},
        "banner": {"type": "boolean", "default_value": False, "rules": [
            {"audience_id": audiences["us_adults"]["id"], "rollout_percent": 100, "value": True}]},
        "search_v2": {"type": "boolean", "default_value": False,
                      "rules": [{"rollout_percent": 30, "value": True}]},
        "max_items": {"type": "number", "default_value": 20, "rules": [
            {"audience_id": audiences["paying"]["id"], "rollout_percent": 50, "value": 50}]},
        "new_app": {"type": "string", "default_value": "old", "rules": [
            {"conditions": {"attribute": "app_version", "operator": "semver_gte",
                            "value": "2.0.0"}, "value": "new"}]},
        "theme": {"type": "json", "default_value": {"primary": "#123456", "radius": 4}},
        "legacy": {"type": "boolean", "default_value": False, "enabled": False,
                   "rules": [{"value": True}]},
    }  # fmt: skip
    for name, body in specs.items():
        sc.flags[name] = f.create_flag(api, pid, key=f.unique(name), **body)


def build_scenario(api: ApiClient, holdout_percent: float = 5) -> Scenario:
    project = f.create_project(api, holdout_percent=holdout_percent)
    pid = project["id"]
    vip = f.create_segment(api, pid, key=f.unique("vip"), unit_ids=VIP_UNITS)
    us_adults = {"all": [
        {"attribute": "country", "operator": "in", "values": ["US", "CA"]},
        {"attribute": "age", "operator": "gte", "value": "18"}]}  # fmt: skip
    mobile = {"attribute": "platform", "operator": "in", "values": ["ios", "android"]}
    paying = {"any": [{"attribute": "plan", "operator": "in", "values": ["pro"]},
                      {"segment": vip["id"]}]}  # fmt: skip
    audiences = {
        name: f.create_audience(api, pid, key=f.unique(name), conditions=conditions)
        for name, conditions in (("us_adults", us_adults), ("mobile", mobile), ("paying", paying))
    }
    sc = Scenario(project, create_sdk_key(api, pid))
    _experiments(api, sc, audiences)
    _flags(api, sc, audiences)
    return sc


def random_unit(rng: random.Random) -> tuple[str, dict[str, object]]:
    """A unit id and typed attributes drawn to hit every audience now and then."""
    unit = rng.choice(VIP_UNITS) if rng.random() < 0.02 else f"user_{rng.getrandbits(40):x}"
    attributes: dict[str, object] = {
        "country": rng.choice(["US", "CA", "DE", "FR", "BR"]),
        "age": rng.randint(12, 70),
        "platform": rng.choice(["ios", "android", "web"]),
        "plan": rng.choice(["free", "free", "pro"]),
        "app_version": rng.choice(["1.9.3", "2.0.0", "2.1.0-beta.1", "3.0"]),
    }
    for name in list(attributes):
        if rng.random() < 0.05:
            del attributes[name]
    return unit, attributes


def as_profiles(attributes: dict[str, object]) -> dict[str, Json]:
    """The ABC `profiles` form of typed attributes: every value as a list of strings."""
    return {k: {"user_attrs": [str(v)]} for k, v in attributes.items()}
