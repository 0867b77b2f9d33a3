"""Evaluations per second of the AvsB evaluation core against the growthbook SDK, same run.

One evaluation = every experiment (10, in 2 shared layers and 5 own layers, 4 with an
audience) and every flag (20: bound to experiments, audience rules, percentage
rollouts, static, killed) for one unit. Both engines get the same units and
attributes and an equivalent config; the table of in-experiment shares shows the
workloads match. Run: `.venv/bin/python bench/bench_evaluation.py [--units N]`.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from growthbook import GrowthBook

from avsb_sdk.evaluation import (
    CompiledConfig,
    assign_experiments,
    compile_config,
    config_from_dict,
    evaluate,
)

Json = dict[str, Any]
Unit = tuple[str, dict[str, object]]

# Each audience in both dialects: (AvsB condition tree, GrowthBook condition).
AUDIENCES: dict[str, tuple[Json, Json]] = {
    "aud_na": (
        {"attribute": "country", "operator": "in", "values": ["US", "CA"]},
        {"country": {"$in": ["US", "CA"]}},
    ),
    "aud_adult_mobile": (
        {
            "all": [
                {"attribute": "age", "operator": "gte", "value": 18},
                {"attribute": "platform", "operator": "in", "values": ["ios", "android"]},
            ]
        },
        {"age": {"$gte": 18}, "platform": {"$in": ["ios", "android"]}},
    ),
    "aud_new_app": (
        {"attribute": "app_version", "operator": "semver_gte", "value": "2.0.0"},
        {"app_version": {"$vgte": "2.0.0"}},
    ),
    "aud_paying": (
        {
            "any": [
                {"attribute": "plan", "operator": "in", "values": ["pro", "enterprise"]},
                {"segment": "seg_beta"},
            ]
        },
        {"$or": [{"plan": {"$in": ["pro", "enterprise"]}}, {"id": {"$inGroup": "seg_beta"}}]},
    ),
}
EU = (
    {"attribute": "country", "operator": "in", "values": ["DE", "FR", "ES", "IT"]},
    {"country": {"$in": ["DE", "FR", "ES", "IT"]}},
)
IOS = ({"attribute": "platform", "operator": "eq", "value": "ios"}, {"platform": "ios"})


@dataclass(frozen=True)
class Exp:
    key: str
    layer: str | None
    start: int  # first bucket of its range in a shared layer
    traffic: float  # percent
    audience: str | None
    variants: tuple[tuple[str, float, dict[str, str]], ...]


def _two(param: str, a: str, b: str) -> tuple[tuple[str, float, dict[str, str]], ...]:
    return (("control", 50, {param: a}), ("treatment", 50, {param: b}))


EXPERIMENTS = (
    Exp("hero_copy", "home", 0, 30, None, _two("headline", "Save more", "Spend less")),
    Exp("nav_layout", "home", 3000, 30, "aud_na", _two("layout", "top", "side")),
    Exp("search_box", "home", 6000, 20, None, _two("size", "20", "28")),
    Exp("pay_button", "checkout", 0, 50, "aud_adult_mobile", _two("color", "red", "blue")),
    Exp("shipping_msg", "checkout", 5000, 40, None, _two("copy", "free", "fast")),
    Exp(
        "price_test",
        None,
        0,
        100,
        "aud_paying",
        (
            ("control", 34, {"price": "9.99"}),
            ("b", 33, {"price": "12.5"}),
            ("c", 33, {"price": "7"}),
        ),
    ),
    Exp("onboarding", None, 0, 50, None, _two("enabled", "false", "true")),
    Exp("reco_algo", None, 0, 100, "aud_new_app", _two("model", "als", "two_tower")),
    Exp("email_timing", None, 0, 20, None, _two("hour", "9", "18")),
    Exp("dark_mode", None, 0, 80, None, _two("theme", "light", "dark")),
)
# flag key -> (type, default, experiment key, param)
BOUND_FLAGS = {
    "button_color": ("string", "red", "pay_button", "color"),
    "price_value": ("number", 9.99, "price_test", "price"),
    "new_onboarding": ("boolean", False, "onboarding", "enabled"),
    "reco_model": ("string", "als", "reco_algo", "model"),
    "hero_text": ("string", "Save more", "hero_copy", "headline"),
}
# flag key -> (type, default, rule value, audience id or inline pair, rollout percent)
RULE_FLAGS: dict[str, tuple[str, Any, Any, str | tuple[Json, Json] | None, float]] = {
    "show_banner_na": ("boolean", False, True, "aud_na", 100),
    "mobile_nav": ("string", "classic", "compact", "aud_adult_mobile", 100),
    "new_app_features": ("boolean", False, True, "aud_new_app", 100),
    "pro_badge": ("boolean", False, True, "aud_paying", 100),
    "eu_cookie_banner": ("boolean", False, True, EU, 100),
    "rollout_search_v2": ("boolean", False, True, None, 10),
    "rollout_cache": ("boolean", False, True, None, 25),
    "rollout_api_v3": ("boolean", False, True, None, 50),
    "rollout_fonts": ("boolean", False, True, None, 90),
    "beta_checkout": ("boolean", False, True, "aud_paying", 50),
    "ios_widget": ("boolean", False, True, IOS, 30),
}
STATIC_FLAGS: dict[str, tuple[str, Any]] = {
    "max_items": ("number", 20),
    "support_email": ("string", "help@example.com"),
    "theme_tokens": ("json", {"primary": "#123456", "radius": 4}),
    "legacy_mode": ("boolean", False),  # killed: enabled false, its rule never applies
}


def _convert(flag_type: str, text: str) -> Any:
    if flag_type == "number":
        return float(text)
    if flag_type == "boolean":
        return text == "true"
    return text


def _avsb_flags(experiment_ids: dict[str, str]) -> list[Json]:
    """Return the 20 flags of the scenario in AvsB's config JSON."""
    ids = experiment_ids
    flags: list[Json] = [
        {
            "key": k,
            "type": t,
            "salt": k,
            "default_value": d,
            "experiment_id": ids[e],
            "experiment_param": p,
        }
        for k, (t, d, e, p) in BOUND_FLAGS.items()
    ]
    for k, (t, d, value, target, rollout) in RULE_FLAGS.items():
        rule: Json = {"value": value, "rollout_percent": rollout}
        if isinstance(target, str):
            rule["audience_id"] = target
        elif target is not None:
            rule["conditions"] = target[0]
        flags.append({"key": k, "type": t, "salt": k, "default_value": d, "rules": [rule]})
    for k, (t, d) in STATIC_FLAGS.items():
        killed = k == "legacy_mode"
        rules = [{"value": True}] if killed else []
        flags.append(
            {
                "key": k,
                "type": t,
                "salt": k,
                "default_value": d,
                "enabled": not killed,
                "rules": rules,
            }
        )
    return flags


def avsb_config(segment: Sequence[str]) -> Json:
    """Return the AvsB config JSON of the scenario."""
    ids = {e.key: f"exp_{i}" for i, e in enumerate(EXPERIMENTS)}
    layers: dict[str, Json] = {}
    for e in EXPERIMENTS:
        if e.layer is not None:
            layer = layers.setdefault(e.layer, {"key": e.layer, "salt": e.layer, "allocations": {}})
            layer["allocations"][ids[e.key]] = [[e.start, e.start + int(e.traffic * 100)]]
    experiments = [
        {
            "id": ids[e.key],
            "key": e.key,
            "salt": e.key,
            "status": "running",
            "layer_key": e.layer,
            "traffic_percent": e.traffic,
            "audience_id": e.audience,
            "variants": [
                {"key": k, "group_id": 100 * i + j, "weight": w, "params": p}
                for j, (k, w, p) in enumerate(e.variants)
            ],
        }
        for i, e in enumerate(EXPERIMENTS)
    ]
    return {
        "schema_version": 1,
        "project_id": "prj_bench",
        "project_key": "bench",
        "holdout_salt": "holdout",
        "layers": list(layers.values()),
        "experiments": experiments,
        "audiences": {k: v[0] for k, v in AUDIENCES.items()},
        "segments": {"seg_beta": {"unit_ids": list(segment)}},
        "flags": _avsb_flags(ids),
    }


def _gb_experiment_rule(e: Exp, variations: list[Any]) -> Json:
    total = sum(w for _, w, _ in e.variants)
    rule: Json = {
        "key": e.key,
        "seed": e.key,
        "hashVersion": 2,
        "variations": variations,
        "weights": [w / total for _, w, _ in e.variants],
    }
    if e.layer is not None:  # GrowthBook's namespaces are its exclusion groups
        rule["namespace"] = [e.layer, e.start / 10000, (e.start + e.traffic * 100) / 10000]
        rule["coverage"] = 1.0
    else:
        rule["coverage"] = e.traffic / 100
    if e.audience is not None:
        rule["condition"] = AUDIENCES[e.audience][1]
    return rule


def growthbook_features() -> Json:
    """Return the GrowthBook features payload equivalent to avsb_config."""
    by_key = {e.key: e for e in EXPERIMENTS}
    features: Json = {
        f"exp:{e.key}": {
            "defaultValue": {},
            "rules": [_gb_experiment_rule(e, [p for _, _, p in e.variants])],
        }
        for e in EXPERIMENTS
    }
    for k, (t, d, exp_key, param) in BOUND_FLAGS.items():
        e = by_key[exp_key]
        values = [_convert(t, p[param]) for _, _, p in e.variants]
        features[k] = {"defaultValue": d, "rules": [_gb_experiment_rule(e, values)]}
    for k, (_, d, value, target, rollout) in RULE_FLAGS.items():
        rule: Json = {"force": value}
        if isinstance(target, str):
            rule["condition"] = AUDIENCES[target][1]
        elif target is not None:
            rule["condition"] = target[1]
        if rollout < 100:
            rule.update(coverage=rollout / 100, seed=k, hashVersion=2)
        features[k] = {"defaultValue": d, "rules": [rule]}
    for k, (_, d) in STATIC_FLAGS.items():
        features[k] = {"defaultValue": d, "rules": []}
    return features


def make_units(count: int, seed: int = 42) -> list[Unit]:
    """Return `count` units with typed attributes, the same for both engines."""
    rng = random.Random(seed)
    versions = ["1.9.3", "2.0.0", "2.4.1", "3.0.0-beta.2", "3.1.0"]
    return [
        (
            f"user_{i:07d}",
            {
                "country": rng.choice(["US", "CA", "DE", "FR", "GB", "BR", "IN", "JP", "ES", "IT"]),
                "age": rng.randint(13, 70),
                "platform": rng.choice(["ios", "android", "web"]),
                "app_version": rng.choice(versions),
                "plan": rng.choice(["free", "free", "free", "pro", "enterprise"]),
            },
        )
        for i in range(count)
    ]


def run_avsb(compiled: CompiledConfig, units: Sequence[Unit]) -> dict[str, int]:
    """Evaluate every unit; return how many units each experiment assigned."""
    counts: dict[str, int] = {}
    for unit_id, attributes in units:
        for assignment in evaluate(compiled, unit_id, attributes).exposures():
            counts[assignment.experiment_key] = counts.get(assignment.experiment_key, 0) + 1
    return counts


def one_layer_seconds(compiled: CompiledConfig, units: Sequence[Unit], layer: str) -> float:
    """Return the seconds to assign every unit in one layer (one experiment, audience)."""
    start = time.perf_counter()
    for unit_id, attributes in units:
        assign_experiments(compiled, unit_id, attributes, layer_keys=(layer,))
    return time.perf_counter() - start


def run_growthbook(gb: GrowthBook, keys: Sequence[str], units: Sequence[Unit]) -> dict[str, int]:
    """Evaluate every feature for every unit; return how many units each experiment assigned."""
    counts: dict[str, int] = {}
    for unit_id, attributes in units:
        gb.set_attributes({"id": unit_id, **attributes})
        for key in keys:
            result = gb.eval_feature(key)
            if key.startswith("exp:") and result.source == "experiment":
                counts[key[4:]] = counts.get(key[4:], 0) + 1
    return counts


def timed(run: Callable[[], dict[str, int]]) -> tuple[float, dict[str, int]]:
    """Return (seconds, result) of one call."""
    start = time.perf_counter()
    result = run()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=20_000, help="units to evaluate")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds")
    args = parser.parse_args()
    units = make_units(args.units)
    segment = [unit_id for unit_id, _ in units[::40]]
    compiled = compile_config(config_from_dict(avsb_config(segment)))
    features = growthbook_features()
    gb = GrowthBook(features=features, saved_groups={"seg_beta": segment})
    keys = list(features)
    warmup = units[: min(1000, len(units))]
    run_avsb(compiled, warmup)
    run_growthbook(gb, keys, warmup)

    # Alternate the engines and keep each one's best round, so a noisy neighbour on the
    # machine penalises neither more than the other.
    ours_s = theirs_s = float("inf")
    for _ in range(args.rounds):
        seconds, ours = timed(lambda: run_avsb(compiled, units))
        ours_s = min(ours_s, seconds)
        seconds, theirs = timed(lambda: run_growthbook(gb, keys, units))
        theirs_s = min(theirs_s, seconds)
    n = len(units)
    print(f"{n} units x (10 experiments + 20 flags); one evaluation = all of them for one unit")
    print(f"best of {args.rounds} alternating rounds per engine")
    print(f"{'experiment':<14}{'avsb share':>12}{'growthbook share':>18}")
    for e in EXPERIMENTS:
        print(f"{e.key:<14}{ours.get(e.key, 0) / n:>12.3f}{theirs.get(e.key, 0) / n:>18.3f}")
    for name, seconds in (
        ("avsb_sdk.evaluation", ours_s),
        (f"growthbook {_gb_version()}", theirs_s),
    ):
        print(f"{name:<16}: {n / seconds:>10,.0f} evaluations/s ({seconds / n * 1e6:6.1f} us each)")
    print(f"ratio           : {theirs_s / ours_s:.1f}x (avsb / growthbook throughput)")
    one = min(one_layer_seconds(compiled, units, "price_test") for _ in range(args.rounds))
    print(
        f"avsb, one experiment with an audience (assign_experiments): {one / n * 1e6:.1f} us/unit"
    )


def _gb_version() -> str:
    from importlib.metadata import version

    return version("growthbook")


if __name__ == "__main__":
    main()
