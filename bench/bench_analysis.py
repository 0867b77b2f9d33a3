"""Generated analysis SQL vs lean hand-written queries computing the same aggregates.

    .venv/bin/python bench/bench_analysis.py [--units 1000000 --events 5000000 --metrics 5]
        [--pg-url postgresql://... --pg-scale 0.2] [--ch-scale 1.0] [--rounds 3]

Synthetic data is generated in SQL straight into each store (integer hashing, so every
engine holds the same rows). The baseline is one lean hand-written query per metric,
written once in DuckDB SQL and transpiled. Each round times the lean queries, then (1) the
generated query per metric (pre-period CUPED, no bot rule: the lean query's work), (2) one
``MetricsPlan`` query for all metrics (a shared scan), (3) the default rules as a results
refresh runs them (bots found once with ``BotsPlan``, then one shared-scan query with CUPED
auto), and checks the answers of (1) and (2) against the baseline. It prints each ratio to
the lean queries of the same round, wall and process CPU, as median and range over the
rounds, with the load average.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

import psycopg
import sqlglot

from avsb.server.analysis import (
    AnalysisPlan,
    BotsPlan,
    CupedSource,
    ExperimentScope,
    MetricDefinition,
    MetricsPlan,
    MetricType,
    UnitRules,
)
from avsb.server.events import EventStore, open_event_store
from avsb.server.results.service import MAX_KNOWN_BOTS

T = TypeVar("T")
SCOPE = ExperimentScope(org_id="org", project_id="prj", experiment="exp")
BASE_US = 1_772_323_200_000_000  # 2026-03-01 UTC
DAY_S = 86_400
WINDOW_H = 168.0
TYPES = [MetricType.BINARY, MetricType.COUNT, MetricType.SUM, MetricType.MEAN, MetricType.RATIO]

_EXPOSURES = """
INSERT INTO ev_exposure (org_id, project_id, event_id, ingest_seq, experiment, variant,
  unit_id, ts_us, attributes)
SELECT 'org', 'prj', 'x' || CAST(i AS VARCHAR), i, 'exp',
  CASE WHEN (i * 40503) % 97 < 48 THEN 'control' ELSE 'treatment' END,
  'u' || CAST(i AS VARCHAR), {base} + ((i * 2654435761) % {span}) * 1000000, '{{}}'
FROM {source}"""
_EVENTS = """
INSERT INTO ev_metric (org_id, project_id, event_id, ingest_seq, event_name, unit_id, value,
  ts_us, properties)
SELECT 'org', 'prj', 'm' || CAST(i AS VARCHAR), i, 'e' || CAST(i % 5 AS VARCHAR),
  'u' || CAST((i * 2654435761) % {units} AS VARCHAR), CAST((i * 48271) % 10000 AS DOUBLE) / 100,
  {base} + ((i * 69621) % {span} - {pre}) * 1000000, '{{}}'
FROM {source}"""
_SOURCES = {
    "duckdb": "range({n}) AS t(i)",
    "postgres": "generate_series(CAST(0 AS BIGINT), {n} - 1) AS t(i)",
    "clickhouse": "(SELECT toInt64(number) AS i FROM numbers({n})) AS t",
}

# The baseline: one hand-written query per metric (no identity, exclusion or bot logic,
# which the generated query carries as CTEs over empty tables).
_BASELINE = """
WITH u AS (
  SELECT unit_id, MIN(variant) AS v, MIN(ts_us) AS f FROM ev_exposure
  WHERE org_id = 'org' AND project_id = 'prj' AND experiment = 'exp'
  GROUP BY unit_id HAVING COUNT(DISTINCT variant) = 1),
a AS (
  SELECT m.unit_id AS unit_id,
    {y_agg} AS y, {d_agg} AS d, {x_agg} AS x
  FROM ev_metric AS m JOIN u ON u.unit_id = m.unit_id
  WHERE m.org_id = 'org' AND m.project_id = 'prj' AND m.event_name IN ('{num}', '{den}')
  GROUP BY m.unit_id),
p AS (
  SELECT u.v AS v, COALESCE(a.y, 0) AS y, COALESCE(a.d, 0) AS d, COALESCE(a.x, 0) AS x
  FROM u LEFT JOIN a ON a.unit_id = u.unit_id)
SELECT v, COUNT(*), SUM(y), SUM(y * y), SUM(x), SUM(x * x), SUM(x * y),
  SUM(d), SUM(d * d), SUM(y * d)
FROM p GROUP BY v ORDER BY v"""
_POST = "m.ts_us >= u.f AND m.ts_us < u.f + {w}"
_PRE = "m.ts_us < u.f AND m.ts_us >= u.f - {w}"
_VALUE = {
    MetricType.BINARY: "MAX(CASE WHEN m.event_name = '{num}' AND {when} THEN 1.0 ELSE 0.0 END)",
    MetricType.COUNT: "SUM(CASE WHEN m.event_name = '{num}' AND {when} THEN 1.0 ELSE 0.0 END)",
    MetricType.SUM: "SUM(CASE WHEN m.event_name = '{num}' AND {when} THEN m.value ELSE 0 END)",
    MetricType.MEAN: "SUM(CASE WHEN m.event_name = '{num}' AND {when} THEN m.value ELSE 0 END)",
    MetricType.RATIO: "SUM(CASE WHEN m.event_name = '{num}' AND {when} THEN m.value ELSE 0 END)",
}
_DEN = {
    MetricType.MEAN: "SUM(CASE WHEN m.event_name = '{num}' AND {when} THEN 1.0 ELSE 0.0 END)",
    MetricType.RATIO: "SUM(CASE WHEN m.event_name = '{den}' AND {when} THEN m.value ELSE 0 END)",
}


@dataclass(frozen=True)
class Metric:
    definition: MetricDefinition
    baseline_sql: str


def metrics(count: int) -> list[Metric]:
    out = []
    for k in range(count):
        kind = TYPES[k % len(TYPES)]
        num, den = f"e{k % 5}", f"e{(k + 1) % 5}"
        definition = MetricDefinition(
            type=kind,
            event_name=num,
            denominator_event_name=den if kind is MetricType.RATIO else None,
            window_hours=WINDOW_H,
            key=f"{kind.value}_{num}",
        )
        w = round(WINDOW_H * 3_600_000_000)
        post, pre = _POST.format(w=w), _PRE.format(w=w)
        den_t = _DEN.get(kind, "0.0")
        sql = _BASELINE.format(
            y_agg=_VALUE[kind].format(num=num, when=post),
            d_agg=den_t.format(num=num, den=den, when=post),
            x_agg=_VALUE[kind].format(num=num, when=pre),
            num=num,
            den=den,
        )
        out.append(Metric(definition, sql))
    return out


def load(store: EventStore, units: int, events: int) -> float:
    started = time.perf_counter()
    source = _SOURCES[store.dialect]
    exposures = _EXPOSURES.format(base=BASE_US, span=14 * DAY_S, source=source.format(n=units))
    metric_rows = _EVENTS.format(
        base=BASE_US, span=28 * DAY_S, pre=7 * DAY_S, units=units, source=source.format(n=events)
    )
    for sql in (exposures, metric_rows):
        text = sqlglot.transpile(sql, read="duckdb", write=store.dialect)[0]
        store.query(text)
    return time.perf_counter() - started


def best_of(
    repeat: int, fn: Callable[[], list[tuple[object, ...]]]
) -> tuple[float, list[tuple[object, ...]]]:
    best, rows = math.inf, []
    for _ in range(repeat):
        started = time.perf_counter()
        rows = fn()
        best = min(best, time.perf_counter() - started)
    return best, rows


# Wall and process CPU seconds. The CPU clock counts the in-process engines' threads (DuckDB,
# chdb) and is steadier than wall time on a shared box; PostgreSQL's server work is not in it.
CLOCKS = ("wall", "cpu")


def timed(fn: Callable[[], T]) -> tuple[dict[str, float], T]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}, out


def spread(values: list[float]) -> str:
    """Median and range: ``1.07 (1.03-1.12)``."""
    return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def close_enough(a: list[tuple[object, ...]], b: list[tuple[object, ...]]) -> bool:
    if len(a) != len(b):
        return False
    for ra, rb in zip(a, b, strict=True):
        for va, vb in zip(ra, rb, strict=False):
            if isinstance(va, float | int) and isinstance(vb, float | int):
                if not math.isclose(float(va), float(vb), rel_tol=1e-9, abs_tol=1e-6):
                    return False
            elif va != vb:
                return False
    return True


def refresh_rules(store: EventStore) -> UnitRules:
    """The default rules as a results refresh applies them: the bots found once."""
    rules = UnitRules()
    bots = store.query(BotsPlan(scope=SCOPE, rules=rules, limit=MAX_KNOWN_BOTS + 1))
    if len(bots) > MAX_KNOWN_BOTS:
        return rules
    return replace(rules, bot_units=tuple(str(row[0]) for row in bots))


def bench_store(store: EventStore, units: int, events: int, args: argparse.Namespace) -> None:
    """Per round, against the lean queries timed in the same round: (1) the generated query
    per metric (pre-period CUPED, no bot rule: the lean query's work); (2) one shared-scan
    query for all metrics (``MetricsPlan``), same rules; (3) the default rules as a refresh
    runs them: the bots found once, then one shared-scan query, CUPED auto."""
    store.ensure_schema()
    seconds = load(store, units, events)
    print(f"\n## {store.dialect}: {units:,} units x {events:,} events x {args.metrics} metrics "
          f"(loaded in {seconds:.1f} s)")  # fmt: skip
    chosen = metrics(args.metrics)
    no_bots = UnitRules(bot_rule=None)
    plans = [
        AnalysisPlan(scope=SCOPE, metric=m.definition, cuped=CupedSource.PRE_PERIOD, rules=no_bots)
        for m in chosen
    ]
    lean_sql = [sqlglot.transpile(m.baseline_sql, "duckdb", store.dialect)[0] for m in chosen]
    shared = MetricsPlan(tuple(plans))
    ratios: dict[tuple[str, str], list[float]] = {}
    for round_no in range(1, args.rounds + 1):
        load_before = load_average()
        lean = [timed(partial(store.query, sql)) for sql in lean_sql]
        generated = [timed(partial(store.query, plan)) for plan in plans]
        t_shared, shared_rows = timed(partial(store.query, shared))
        t_bots, rules = timed(partial(refresh_rules, store))
        default = MetricsPlan(
            tuple(AnalysisPlan(scope=SCOPE, metric=m.definition, rules=rules) for m in chosen)
        )
        t_default, _ = timed(partial(store.query, default))
        same = all(
            close_enough([_comparable(r) for r in rows], base)
            for (_, rows), (_, base) in zip(generated, lean, strict=True)
        ) and all(
            close_enough([_comparable(r) for r in rows], base)
            for rows, (_, base) in zip(shared.split(shared_rows), lean, strict=True)
        )
        for clock in CLOCKS:
            t_lean = sum(t[clock] for t, _ in lean)
            t_gen = sum(t[clock] for t, _ in generated)
            found = {
                "generated, one query per metric": t_gen / t_lean,
                "  worst single metric": max(
                    g[clock] / b[clock] for (g, _), (b, _) in zip(generated, lean, strict=True)
                ),
                "generated, all metrics in one shared scan": t_shared[clock] / t_lean,
                "default rules (bots once + shared scan, CUPED auto)": (
                    t_bots[clock] + t_default[clock]
                )
                / t_lean,
            }
            for name, ratio in found.items():
                ratios.setdefault((name, clock), []).append(ratio)
        wall = {
            "lean": sum(t["wall"] for t, _ in lean),
            "generated per metric": sum(t["wall"] for t, _ in generated),
            "shared scan": t_shared["wall"],
            "bots": t_bots["wall"],
            "default rules": t_default["wall"],
        }
        print(
            f"round {round_no} (load {load_before}), wall s: "
            + ", ".join(f"{k} {v:.2f}" for k, v in wall.items())
            + f"; same answers: {'yes' if same else 'NO'}"
        )
    print(f"load average after: {load_average()}")
    print(f"ratio to the lean queries, median (range) of {args.rounds} rounds:")
    print(f"  {'':<52}{'wall':<18}{'CPU':<18}")
    for name in dict.fromkeys(name for name, _ in ratios):
        print(f"  {name:<52}{spread(ratios[(name, 'wall')]):<18}{spread(ratios[(name, 'cpu')])}")


def _comparable(row: tuple[object, ...]) -> tuple[object, ...]:
    """Generated columns in the baseline's order (ratio columns as d sums)."""
    variant, n, s, ss, cs, css, cross, _ns, _nss, ds, dss, nd = row[:12]
    zero = 0.0
    return (variant, n, s, ss, cs, css, cross, ds or zero, dss or zero, nd or zero)


BenchStore = Callable[[EventStore, int, int, argparse.Namespace], None]


def arguments(description: str) -> argparse.Namespace:
    """The options every store benchmark takes (sizes, repeats, backends and their scales)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--units", type=int, default=1_000_000)
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--metrics", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pg-url", default=None)
    parser.add_argument("--pg-scale", type=float, default=0.2)
    parser.add_argument("--ch-scale", type=float, default=1.0)
    parser.add_argument("--backends", default="duckdb,clickhouse,postgres")
    return parser.parse_args()


def each_backend(args: argparse.Namespace, bench: BenchStore) -> None:
    """Run ``bench`` on a fresh store of each chosen backend, at that backend's scale."""
    backends = set(args.backends.split(","))
    with tempfile.TemporaryDirectory(prefix="avsb-bench-") as tmp:
        if "duckdb" in backends:
            store = open_event_store(str(Path(tmp) / "events.duckdb"))
            try:
                bench(store, args.units, args.events, args)
            finally:
                store.close()
        if "clickhouse" in backends and args.ch_scale > 0:
            store = open_event_store(f"chdb://{Path(tmp) / 'ch'}")
            try:
                scale = args.ch_scale
                bench(store, int(args.units * scale), int(args.events * scale), args)
            finally:
                store.close()
    if "postgres" not in backends:
        return
    if not args.pg_url:
        print("\n## postgres: skipped (pass --pg-url postgresql://... to run it)")
        return
    schema = f"avsb_bench_{os.getpid()}"  # a throwaway schema: never the real ev_* tables
    with psycopg.connect(args.pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE SCHEMA {schema}".encode())
    sep = "&" if "?" in args.pg_url else "?"
    store = open_event_store(f"{args.pg_url}{sep}options={quote(f'-csearch_path={schema}')}")
    try:
        scale = args.pg_scale
        bench(store, int(args.units * scale), int(args.events * scale), args)
    finally:
        store.close()
        with psycopg.connect(args.pg_url, autocommit=True) as admin:
            admin.execute(f"DROP SCHEMA {schema} CASCADE".encode())


def main() -> None:
    each_backend(arguments(__doc__.splitlines()[0]), bench_store)


if __name__ == "__main__":
    main()
