"""A whole results read against hand-written DuckDB queries computing the same aggregates.

    .venv/bin/python -m bench.bench_results [--units 1000000 --events 5000000 --metrics 5]
        [--pg-url postgresql://... --pg-scale 0.2] [--ch-scale 1.0] [--repeat 2]

Data: ``bench_analysis``'s generator (integer hashing in SQL, the same rows in every
engine). The results read is ``avsb.server.results.service.compute``, what
``GET /experiments/{id}/results`` runs after reading the metadata: one query per metric
(per variant and first-exposure day, CUPED ``auto``, identity stitching, exclusions, the
rate-spike bot rule), the health query, the late-events query, SRM, and the statistics with
the correction across the primary family. The baseline is ``bench_analysis``'s hand-written
query per metric (per-variant sufficient statistics with a pre-period covariate, no
stitching, exclusion, bot or day logic), written in DuckDB SQL and timed on DuckDB; on the
other engines it is transpiled. Both best of ``--repeat``; the per-variant unit counts are
checked to agree.
"""

from __future__ import annotations

import argparse
import math
import time
from functools import partial

import sqlglot

from avsb.server.config import Settings
from avsb.server.events import EventStore
from avsb.server.results.readout import AnalysisSettings, MetricSpec
from avsb.server.results.service import Design, compute
from bench.bench_analysis import SCOPE, arguments, best_of, each_backend, load, metrics


def design(count: int) -> Design:
    specs = tuple(
        MetricSpec(f"met_{k}", m.definition.key, m.definition.key,
                   "primary" if k == 0 else "secondary", m.definition)
        for k, m in enumerate(metrics(count))
    )  # fmt: skip
    return Design(
        scope=SCOPE,
        experiment_id="exp_bench",
        variants=("control", "treatment"),
        weights=(48.0, 49.0),  # the generator's split: (i * 40503) % 97 < 48
        settings=AnalysisSettings(method="frequentist", cuped=True, correction="holm"),
        metrics=specs,
        segment=None,
        unit_filter=None,
        attribute_keys=(),
    )


def bench_store(store: EventStore, units: int, events: int, args: argparse.Namespace) -> None:
    store.ensure_schema()
    seconds = load(store, units, events)
    print(f"\n## {store.dialect}: {units:,} units x {events:,} events x {args.metrics} metrics "
          f"(loaded in {seconds:.1f} s)")  # fmt: skip
    plan = design(args.metrics)
    config = Settings()
    t_results, computed = math.inf, None
    for _ in range(args.repeat):
        started = time.perf_counter()
        computed = compute(store, plan, config)
        t_results = min(t_results, time.perf_counter() - started)
    assert computed is not None
    t_base, base_n = 0.0, None
    for metric in metrics(args.metrics):
        sql = sqlglot.transpile(metric.baseline_sql, "duckdb", store.dialect)[0]
        seconds, rows = best_of(args.repeat, partial(store.query, sql))
        t_base += seconds
        base_n = {str(r[0]): int(r[1]) for r in rows}  # type: ignore[call-overload]
    out = computed.out
    results_n = dict(zip(plan.variants, out.srm.observed, strict=True))
    same = base_n == results_n and all(m.error is None for m in out.metrics)
    print(f"{'results read (bots, 5 metrics, health, late, stats)':<58}{t_results:>8.2f} s")
    print(f"{'hand-written per-metric queries (baseline)':<58}{t_base:>8.2f} s")
    print(f"{'ratio':<58}{t_results / t_base:>8.2f}   units agree: {'yes' if same else 'NO'}")


def main() -> None:
    each_backend(arguments(__doc__.splitlines()[0]), bench_store)


if __name__ == "__main__":
    main()
