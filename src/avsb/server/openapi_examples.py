"""An example body for every JSON request body of the management API, by (method, path).

tests/integration/openapi checks that every request body has one and that each validates
against its operation's schema; docs/quickstart.md shows the same shapes."""

from __future__ import annotations

from typing import Any

Json = dict[str, Any]

ORG = "/api/orgs/{org_id}"
PRJ = "prj_01JDXAMPLE0000000000000000"
MET = "met_01JDXAMPLE0000000000000000"
FLAG_RULE = {
    "conditions": {"all": [{"attribute": "country", "operator": "in", "values": ["DE", "AT"]}]},
    "rollout_percent": 50,
    "value": True,
}
VARIANTS = [
    {"key": "control", "weight": 50, "params": {"color": "grey"}},
    {"key": "treatment", "weight": 50, "params": {"color": "green"}},
]
DESIGN = {
    "hypothesis": "A green checkout button increases purchases",
    "variants": VARIANTS,
    "metrics": {"primary": [MET], "secondary": [], "guardrail": []},
    "analysis": {"method": "frequentist", "alpha": 0.05, "power": 0.8},
}
CONDITIONS = {"all": [{"attribute": "country", "operator": "in", "values": ["DE"]}]}
UNIT_VALUES = [
    {"key": "control", "values": [12.5, 3.0, 8.25, 0.0, 19.9]},
    {"key": "treatment", "values": [14.0, 5.5, 9.75, 2.0, 21.0]},
]
STATS = [
    {"key": "control", "n": 5000, "sum": 500},
    {"key": "treatment", "n": 5000, "sum": 560},
]
SIZING = {"metric_type": "binary", "baseline_value": 0.1, "alpha": 0.05, "power": 0.8}
EVENT_TIME = "2026-11-22T10:00:00Z"
EXPOSURE = {
    "type": "exposure",
    "experiment": "checkout_button",
    "variant": "treatment",
    "unit_id": "user-42",
    "timestamp": EVENT_TIME,
    "attributes": {"country": "DE"},
}
PURCHASE = {
    "type": "metric",
    "event_name": "purchase",
    "unit_id": "user-42",
    "timestamp": "2026-11-22T10:05:00Z",
    "value": 49.9,
    "event_id": "order-1001",
}
WORKSPACE = {
    "format": "avsb.workspace",
    "version": 1,
    "projects": [{"key": "shop", "name": "Shop"}],
    "webhooks": [],
}

REQUEST_EXAMPLES: dict[tuple[str, str], Json] = {
    ("post", "/api/orgs"): {"name": "Acme"},
    ("post", f"{ORG}/tokens"): {"name": "ci", "kind": "service", "scopes": ["projects:read"]},
    ("patch", f"{ORG}/tokens/{{token_id}}"): {"name": "ci-readonly", "expires_at": None},
    ("post", f"{ORG}/tokens/{{token_id}}/rotate"): {"grace_period_seconds": 3600},
    ("post", f"{ORG}/projects"): {"key": "shop", "name": "Shop", "holdout_percent": 0},
    ("patch", f"{ORG}/projects/{{project_id}}"): {"description": "The web shop"},
    ("post", "/api/tools/analyze"): {"metric_type": "binary", "variants": STATS},
    ("post", "/api/tools/sample-size"): {**SIZING, "mde_pct": 5},
    ("post", "/api/v1/calculate"): {**SIZING, "mde_pct": 5},
    ("post", "/api/tools/srm"): {"observed": [5021, 4979]},
    ("post", "/api/tools/multiple-testing"): {"p_values": [0.01, 0.04, 0.2], "method": "holm"},
    ("post", "/api/tools/sensitivity"): {**SIZING, "expected_daily_traffic": 2000, "days": 14},
    ("post", "/api/tools/bandit-simulation"): {"true_rates": [0.1, 0.12], "seed": 7},
    ("post", "/api/tools/quantile"): {"variants": UNIT_VALUES, "quantile": 0.9},
    ("post", "/api/tools/rank-test"): {"variants": UNIT_VALUES},
    ("post", "/api/tools/bootstrap"): {"variants": UNIT_VALUES, "seed": 7},
    ("post", "/api/tools/categorical"): {
        "categories": ["card", "paypal", "invoice"],
        "variants": [
            {"key": "control", "counts": [120, 80, 40]},
            {"key": "treatment", "counts": [130, 95, 30]},
        ],
    },
    ("post", f"{ORG}/webhooks"): {
        "url": "https://hooks.example.com/avsb",
        "event_types": ["experiment.started", "experiment.stopped"],
    },
    ("patch", f"{ORG}/webhooks/{{webhook_id}}"): {"enabled": False},
    ("post", f"{ORG}/exclusion-groups"): {"project_id": PRJ, "key": "checkout", "name": "Checkout"},
    ("patch", f"{ORG}/exclusion-groups/{{resource_id}}"): {"name": "Checkout layer"},
    ("post", f"{ORG}/experiments"): {
        "project_id": PRJ,
        "key": "checkout_button",
        "name": "Checkout button",
        **DESIGN,
    },
    ("patch", f"{ORG}/experiments/{{resource_id}}"): {"traffic_percent": 50},
    ("post", f"{ORG}/experiments/{{resource_id}}/stop"): {
        "winner": "treatment",
        "reason": "Purchases +6%, guardrails flat",
    },
    ("post", f"{ORG}/flags"): {
        "project_id": PRJ,
        "key": "new_checkout",
        "type": "boolean",
        "default_value": False,
        "rules": [FLAG_RULE],
    },
    ("patch", f"{ORG}/flags/{{resource_id}}"): {"enabled": False},
    ("post", f"{ORG}/audiences"): {
        "project_id": PRJ,
        "key": "germany",
        "name": "Germany",
        "conditions": CONDITIONS,
    },
    ("patch", f"{ORG}/audiences/{{resource_id}}"): {"name": "Germany (all)"},
    ("post", f"{ORG}/segments"): {
        "project_id": PRJ,
        "key": "vip",
        "name": "VIPs",
        "type": "ids",
        "unit_ids": ["user-1", "user-2"],
    },
    ("patch", f"{ORG}/segments/{{resource_id}}"): {"name": "VIP customers"},
    ("post", f"{ORG}/segments/{{resource_id}}/members"): {"unit_ids": ["user-3"]},
    ("delete", f"{ORG}/segments/{{resource_id}}/members"): {"unit_ids": ["user-1"]},
    ("post", f"{ORG}/metrics"): {
        "project_id": PRJ,
        "key": "purchase",
        "name": "Purchase",
        "type": "binary",
        "event_name": "purchase",
    },
    ("patch", f"{ORG}/metrics/{{resource_id}}"): {"description": "Any completed order"},
    ("post", f"{ORG}/templates"): {
        "project_id": PRJ,
        "key": "two_arm",
        "name": "Two-arm test",
        "body": DESIGN,
    },
    ("patch", f"{ORG}/templates/{{resource_id}}"): {"name": "Two-arm A/B test"},
    ("post", f"{ORG}/templates/{{resource_id}}/use"): {
        "project_id": PRJ,
        "key": "checkout_copy",
        "name": "Checkout copy",
    },
    ("post", f"{ORG}/projects/{{project_id}}/events"): {"events": [EXPOSURE, PURCHASE]},
    ("post", f"{ORG}/experiments/{{experiment_id}}/exposures"): {
        "events": [{"variant": "treatment", "unit_id": "user-42", "timestamp": EVENT_TIME}]
    },
    ("post", f"{ORG}/experiments/{{experiment_id}}/conversions"): {
        "events": [
            {"event_name": "purchase", "unit_id": "user-42", "timestamp": EVENT_TIME, "value": 49.9}
        ]
    },
    ("post", f"{ORG}/experiments/{{experiment_id}}/identities"): {
        "events": [{"anonymous_id": "anon-7", "canonical_id": "user-42", "timestamp": EVENT_TIME}]
    },
    ("post", f"{ORG}/experiments/{{experiment_id}}/exclusions"): {
        "events": [{"unit_id": "qa-bot-1", "reason": "internal", "timestamp": EVENT_TIME}]
    },
    ("post", f"{ORG}/experiments/{{experiment_id}}/holdout"): {
        "events": [{"unit_id": "user-42", "timestamp": EVENT_TIME}]
    },
    ("post", f"{ORG}/experiments/{{experiment_id}}/pre-period"): {
        "events": [{"unit_id": "user-42", "value": 37.5}]
    },
    ("post", f"{ORG}/experiments/{{experiment_id}}/strata"): {
        "events": [{"unit_id": "user-42", "stratum": "returning"}]
    },
    ("post", f"{ORG}/workspace/validate"): WORKSPACE,
    ("post", f"{ORG}/workspace/import"): WORKSPACE,
    ("post", f"{ORG}/compare"): {
        "experiment_ids": ["exp_01JDXAMPLE0000000000000001", "exp_01JDXAMPLE0000000000000002"]
    },
    ("post", f"{ORG}/members"): {"email": "ana@example.com", "role": "editor"},
    ("patch", f"{ORG}/members/{{user_id}}"): {"role": "admin"},
    ("post", f"{ORG}/invitations"): {"email": "ben@example.com", "role": "viewer"},
    ("post", "/auth/invitations/{token}/accept"): {"name": "Ben", "password": "a long passphrase"},
    ("post", "/api/me/password"): {
        "current_password": "the old passphrase",
        "new_password": "a new long passphrase",
    },
    ("post", "/api/me/tokens"): {"name": "laptop", "scopes": ["experiments:read"]},
    ("post", f"{ORG}/experiments/{{experiment_id}}/review"): {
        "expected_daily_units": 12000,
        "planned_duration_days": 14,
        "baselines": {MET: {"baseline_value": 0.042}},
    },
    ("post", "/api/tools/review"): {
        "hypothesis": "If we make the checkout button green, then purchases will increase "
        "because it stands out",
        "variants": VARIANTS,
        "metrics": [
            {"key": "purchase", "role": "primary", "type": "binary", "baseline_value": 0.042},
            {"key": "errors", "role": "guardrail", "type": "count", "lower_is_better": True},
        ],
        "analysis": {"method": "frequentist", "alpha": 0.05, "power": 0.8, "mde_pct": 5},
        "expected_daily_units": 12000,
        "planned_duration_days": 14,
    },
    ("post", "/api/tools/hypotheses"): {"goal": "conversion", "context": "the checkout page"},
    ("post", f"{ORG}/slack/links"): {"code": "q3Hk9tQ0zS1vW8yB2nD4fA"},
    ("put", f"{ORG}/projects/{{project_id}}/slack"): {"channel_id": "C0123ABCD"},
}
