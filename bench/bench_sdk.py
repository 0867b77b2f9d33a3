"""Flag evaluations per second per core of the AvsB SDK against the `growthbook` and
`flagsmith-flag-engine` engines on the same 20-flag config, in one run; and the cost of the
SDK's exposure queue per evaluation.

Each engine is called as its SDK is used for one unit: AvsB `Client.get_boolean/get_string/
get_number/get_json` per flag (typed, with exposure logging of the experiment-bound flags),
GrowthBook `set_attributes` then `eval_feature` per flag, Flagsmith `get_evaluation_result`
once per unit (its engine resolves every flag of an identity in one call, as its SDK's local
evaluation does). A flag evaluation is one flag for one unit. The engines alternate for three
rounds in one thread (one core); the table has every round and the best.

Run: `.venv/bin/python bench/bench_sdk.py [--units N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from typing import Any

import httpx
from flag_engine.engine import get_evaluation_result
from growthbook import GrowthBook

from avsb_sdk import Client, Exposure, ExposureQueue
from avsb_sdk.evaluation import compile_config, config_from_dict, evaluate_flags

Json = dict[str, Any]
Unit = tuple[str, dict[str, object]]
Counts = dict[str, int]

# One targeting condition in the three dialects: (AvsB, GrowthBook, Flagsmith conditions).
NA = (
    {"attribute": "country", "operator": "in", "values": ["US", "CA"]},
    {"country": {"$in": ["US", "CA"]}},
    [{"property": "country", "operator": "IN", "value": "US,CA"}],
)
EU = (
    {"attribute": "country", "operator": "in", "values": ["DE", "FR", "ES", "IT"]},
    {"country": {"$in": ["DE", "FR", "ES", "IT"]}},
    [{"property": "country", "operator": "IN", "value": "DE,FR,ES,IT"}],
)
PRO = (
    {"attribute": "plan", "operator": "eq", "value": "pro"},
    {"plan": "pro"},
    [{"property": "plan", "operator": "EQUAL", "value": "pro"}],
)
ADULT_MOBILE = (
    {"all": [{"attribute": "age", "operator": "gte", "value": 18},
             {"attribute": "platform", "operator": "in", "values": ["ios", "android"]}]},
    {"age": {"$gte": 18}, "platform": {"$in": ["ios", "android"]}},
    [{"property": "age", "operator": "GREATER_THAN_INCLUSIVE", "value": "18"},
     {"property": "platform", "operator": "IN", "value": "ios,android"}],
)  # fmt: skip
Target = tuple[Json, Json, list[Json]]

# key -> (type, default, value when on, targeting or None, rollout percent)
RULE_FLAGS: dict[str, tuple[str, Any, Any, Target | None, float]] = {
    "banner_na": ("boolean", False, True, NA, 100),
    "cookie_banner_eu": ("boolean", False, True, EU, 100),
    "pro_badge": ("boolean", False, True, PRO, 100),
    "mobile_nav": ("string", "classic", "compact", ADULT_MOBILE, 100),
    "pro_limit": ("number", 20, 100, PRO, 100),
    "search_v2": ("boolean", False, True, None, 10),
    "cache_v2": ("boolean", False, True, None, 25),
    "api_v3": ("boolean", False, True, None, 50),
    "fonts_v2": ("boolean", False, True, None, 90),
    "beta_checkout_na": ("boolean", False, True, NA, 50),
    "ios_widget": ("boolean", False, True, ADULT_MOBILE, 30),
    "eu_pricing": ("string", "usd", "eur", EU, 100),
}
STATIC_FLAGS: dict[str, tuple[str, Any]] = {
    "max_items": ("number", 20),
    "support_email": ("string", "help@example.com"),
    "theme": ("json", {"primary": "#123456", "radius": 4}),
    "maintenance": ("boolean", False),
    "welcome_copy": ("string", "Hello"),
    "page_size": ("number", 50),
}
# key -> (type, values of the two 50/50 variants): flags chosen by a running experiment
SPLIT_FLAGS: dict[str, tuple[str, tuple[Any, Any]]] = {
    "button_color": ("string", ("red", "blue")),
    "new_onboarding": ("boolean", (False, True)),
}
FLAG_KEYS = [*RULE_FLAGS, *STATIC_FLAGS, *SPLIT_FLAGS]


def _text(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def avsb_config() -> Json:
    flags: list[Json] = []
    experiments: list[Json] = []
    for key, (kind, default, on, target, rollout) in RULE_FLAGS.items():
        rule: Json = {"value": on, "rollout_percent": rollout}
        if target is not None:
            rule["conditions"] = target[0]
        flags.append({"key": key, "type": kind, "salt": key, "default_value": default,
                      "rules": [rule]})  # fmt: skip
    for key, (kind, default) in STATIC_FLAGS.items():
        flags.append({"key": key, "type": kind, "salt": key, "default_value": default})
    for i, (key, (kind, values)) in enumerate(SPLIT_FLAGS.items()):
        variants = [{"key": f"v{j}", "group_id": 10 * i + j, "weight": 50,
                     "params": {"value": _text(v)}} for j, v in enumerate(values)]  # fmt: skip
        experiments.append({"id": f"exp_{key}", "key": key, "salt": key, "status": "running",
                            "traffic_percent": 100, "variants": variants})  # fmt: skip
        flags.append({"key": key, "type": kind, "salt": f"flag:{key}", "default_value": values[0],
                      "experiment_id": f"exp_{key}", "experiment_param": "value"})  # fmt: skip
    return {"schema_version": 1, "revision": 1, "project_id": "prj_bench",
            "project_key": "bench", "holdout_salt": "holdout", "experiments": experiments,
            "flags": flags}  # fmt: skip


def growthbook_features() -> Json:
    features: Json = {}
    for key, (_, default, on, target, rollout) in RULE_FLAGS.items():
        rule: Json = {"force": on}
        if target is not None:
            rule["condition"] = target[1]
        if rollout < 100:
            rule.update(coverage=rollout / 100, seed=key, hashVersion=2)
        features[key] = {"defaultValue": default, "rules": [rule]}
    for key, (_, default) in STATIC_FLAGS.items():
        features[key] = {"defaultValue": default, "rules": []}
    for key, (_, values) in SPLIT_FLAGS.items():
        rule = {"key": key, "seed": key, "hashVersion": 2, "variations": list(values),
                "weights": [0.5, 0.5], "coverage": 1.0}  # fmt: skip
        features[key] = {"defaultValue": values[0], "rules": [rule]}
    return features


def flagsmith_context() -> Json:
    features: Json = {}
    segments: Json = {}
    for key, (_, default) in STATIC_FLAGS.items():
        features[key] = {"key": key, "name": key, "enabled": True, "value": default}
    for key, (_, default, on, target, rollout) in RULE_FLAGS.items():
        features[key] = {"key": key, "name": key, "enabled": True, "value": default}
        conditions = list(target[2]) if target is not None else []
        if rollout < 100:
            conditions.append({"property": "", "operator": "PERCENTAGE_SPLIT",
                               "value": str(rollout)})  # fmt: skip
        override = {"key": key, "name": key, "enabled": True, "value": on, "priority": 0}
        segments[f"seg_{key}"] = {
            "key": f"seg_{key}", "name": f"seg_{key}",
            "rules": [{"type": "ALL", "conditions": conditions}], "overrides": [override],
        }  # fmt: skip
    for key, (_, values) in SPLIT_FLAGS.items():
        variants = [{"value": v, "weight": 50, "priority": j} for j, v in enumerate(values)]
        features[key] = {"key": key, "name": key, "enabled": True, "value": values[0],
                         "variants": variants}  # fmt: skip
    return {"environment": {"key": "bench", "name": "bench"}, "features": features,
            "segments": segments}  # fmt: skip


def make_units(count: int, seed: int = 7) -> list[Unit]:
    rng = random.Random(seed)
    return [
        (f"user_{i:07d}", {
            "country": rng.choice(["US", "CA", "DE", "FR", "GB", "BR", "IN", "JP", "ES", "IT"]),
            "age": rng.randint(13, 70),
            "platform": rng.choice(["ios", "android", "web"]),
            "plan": rng.choice(["free", "free", "free", "pro", "enterprise"]),
        })
        for i in range(count)
    ]  # fmt: skip


def _served(config: Json) -> httpx.MockTransport:
    body = json.dumps({"data": config}).encode()
    return httpx.MockTransport(
        lambda request: httpx.Response(200, content=body, headers={"etag": '"1"'})
    )


def _changed(counts: Counts, key: str, value: Any) -> None:
    if value != _DEFAULTS[key]:
        counts[key] = counts.get(key, 0) + 1


_DEFAULTS: dict[str, Any] = {
    **{k: v[1] for k, v in RULE_FLAGS.items()},
    **{k: v[1] for k, v in STATIC_FLAGS.items()},
    **{k: v[1][0] for k, v in SPLIT_FLAGS.items()},
}


def run_avsb(client: Client, units: Sequence[Unit]) -> Counts:
    by_kind: dict[str, Callable[..., Any]] = {
        "boolean": client.get_boolean,
        "string": client.get_string,
        "number": client.get_number,
        "json": client.get_json,
    }
    kinds = {k: v[0] for flags in (RULE_FLAGS, STATIC_FLAGS, SPLIT_FLAGS) for k, v in flags.items()}
    getters = [(key, by_kind[kinds[key]]) for key in FLAG_KEYS]
    counts: Counts = {}
    for unit_id, attributes in units:
        for key, getter in getters:
            _changed(counts, key, getter(key, unit_id, attributes))
    return counts


def run_growthbook(gb: GrowthBook, units: Sequence[Unit]) -> Counts:
    counts: Counts = {}
    for unit_id, attributes in units:
        gb.set_attributes({"id": unit_id, **attributes})
        for key in FLAG_KEYS:
            _changed(counts, key, gb.eval_feature(key).value)
    return counts


def run_flagsmith(context: Json, units: Sequence[Unit]) -> Counts:
    counts: Counts = {}
    for unit_id, attributes in units:
        identity = {"identifier": unit_id, "key": unit_id, "traits": attributes}
        flags = get_evaluation_result({**context, "identity": identity})["flags"]  # type: ignore[typeddict-item]
        for key in FLAG_KEYS:
            _changed(counts, key, flags[key]["value"])
    return counts


def exposure_costs(units: int) -> tuple[float, float, float]:
    """µs per `ExposureQueue.offer` of a new exposure and of a repeat, and µs per evaluation
    of an experiment-bound flag through the SDK minus the same through the bare core."""
    queue = ExposureQueue(capacity=units + 1, batch_size=units + 1, dedup_size=units)
    at = datetime.now(UTC)
    exposures = [Exposure("exp", "v1", f"u{i}", at) for i in range(units)]
    start = time.perf_counter()
    for e in exposures:
        queue.offer(e)
    new = (time.perf_counter() - start) / units * 1e6
    start = time.perf_counter()
    for e in exposures:
        queue.offer(e)
    repeat = (time.perf_counter() - start) / units * 1e6
    config = avsb_config()
    compiled = compile_config(config_from_dict(config))
    ids = [f"u{i}" for i in range(units)]
    with Client("http://bench", "k", stream=False, transport=_served(config)) as client:
        client.wait_until_ready(10)
        for unit in ids:  # first exposures queued; the timed pass is what a warm app pays
            client.get_string("button_color", unit)
        start = time.perf_counter()
        for unit in ids:
            client.get_string("button_color", unit)
        sdk = time.perf_counter() - start
    start = time.perf_counter()
    for unit in ids:
        evaluate_flags(compiled, unit, None, ("button_color",))
    core = time.perf_counter() - start
    return new, repeat, (sdk - core) / units * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--units", type=int, default=5_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    units = make_units(args.units)
    config = avsb_config()
    gb = GrowthBook(features=growthbook_features())
    context = flagsmith_context()
    client = Client("http://bench", "k", stream=False, transport=_served(config))
    assert client.wait_until_ready(10)
    runs: dict[str, Callable[[], Counts]] = {
        "avsb-sdk 0.1.0 (Client getters)": lambda: run_avsb(client, units),
        f"growthbook {version('growthbook')} (eval_feature)": lambda: run_growthbook(gb, units),
        f"flagsmith-flag-engine {version('flagsmith-flag-engine')} (per identity)": (
            lambda: run_flagsmith(context, units)
        ),
    }
    warm = units[:500]
    run_avsb(client, warm), run_growthbook(gb, warm), run_flagsmith(context, warm)
    load = [os.getloadavg()[0]]
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    shares: dict[str, Counts] = {}
    for _ in range(args.rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            shares[name] = run()
            seconds[name].append(time.perf_counter() - start)
        load.append(os.getloadavg()[0])
    client.close()
    n = len(units) * len(FLAG_KEYS)
    print(f"{len(units)} units x {len(FLAG_KEYS)} flags = {n:,} flag evaluations per round; "
          f"one thread; load average (1 min) {min(load):.1f}-{max(load):.1f}")  # fmt: skip
    print(f"{'engine':<48}" + "".join(f"{f'round {r + 1}':>12}" for r in range(args.rounds))
          + f"{'best /s':>12}{'µs/flag':>9}")  # fmt: skip
    for name, times in seconds.items():
        rates = "".join(f"{n / t:>12,.0f}" for t in times)
        print(f"{name:<48}{rates}{n / min(times):>12,.0f}{min(times) / n * 1e6:>9.2f}")
    names = list(runs)
    print(f"{'share of units off the default':<24}" + "".join(f"{x.split()[0]:>24}" for x in names))
    for key in FLAG_KEYS:
        cells = "".join(f"{shares[x].get(key, 0) / len(units):>24.3f}" for x in names)
        print(f"{key:<24}{cells}")
    new, repeat, overhead = exposure_costs(min(args.units * 4, 50_000))
    print(f"exposure queue: offer() {new:.2f} µs for a new exposure, {repeat:.2f} µs for a "
          f"repeat; SDK getter over the bare core, experiment-bound flag: "
          f"{overhead:+.2f} µs")  # fmt: skip


if __name__ == "__main__":
    main()
