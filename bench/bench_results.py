"""A whole results read against hand-written DuckDB queries computing the same aggregates.

    .venv/bin/python -m bench.bench_results [--units 1000000 --events 5000000 --metrics 5]
        [--pg-url postgresql://... --pg-scale 0.2] [--ch-scale 1.0] [--rounds 3]

Data: ``bench_analysis``'s generator (integer hashing in SQL, the same rows in every
engine). The results read is ``avsb.server.results.service.compute``, what
``GET /experiments/{id}/results`` runs after reading the metadata: the bot units found
once (``BotsPlan``), one query for all metrics (``MetricsPlan``: per variant and
first-exposure day, CUPED ``auto``, identity stitching, exclusions, the known bots), the
health query, the late-events query, SRM, and the statistics with
the correction across the primary family. The baseline is ``bench_analysis``'s hand-written
query per metric (per-variant sufficient statistics with a pre-period covariate, no
stitching, exclusion, bot or day logic), written in DuckDB SQL and timed on DuckDB; on the
other engines it is transpiled. Each of ``--rounds`` rounds times the lean queries and then
the read, and prints their ratio (wall and process CPU) with the load average; the summary
is the median and range. The per-variant unit counts are checked to agree. The process's
peak resident set during each read (``VmHWM`` after a reset) is printed too: DuckDB and chdb
run in this process, so it covers the engine's memory, but also what the bulk load left
allocated. On DuckDB a last read runs in a fresh process that opens the stored file, as the
server does, and its peak is printed.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
from functools import partial
from pathlib import Path

import sqlglot

from avsb.server.config import Settings
from avsb.server.events import EventStore, open_event_store
from avsb.server.results.readout import AnalysisSettings, MetricSpec
from avsb.server.results.service import Design, compute
from bench.bench_analysis import (
    CLOCKS,
    SCOPE,
    arguments,
    each_backend,
    load,
    load_average,
    metrics,
    spread,
    timed,
)


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


def peak_rss_reset() -> bool:
    """Reset the process's peak resident set (Linux: ``5`` to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_mib() -> float:
    """The process's peak resident set since the last reset, in MiB (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def fresh_read_peak(store: EventStore, args: argparse.Namespace) -> str:
    """DuckDB: the peak RSS of one results read in a fresh process opening the stored file, as
    the server does (this process still holds what the bulk load allocated). Closes ``store``."""
    if store.dialect != "duckdb":
        return "n/a (in-process DuckDB only)"
    ((path,),) = store.query(
        "SELECT path FROM duckdb_databases() WHERE database_name = current_database()"
    )
    store.close()
    command = [sys.executable, "-m", "bench.bench_results", "--read-peak", str(path)]
    done = subprocess.run([*command, str(args.metrics)], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def read_peak(path: str, count: int) -> None:
    """Print the RSS before and the peak RSS during one results read of the file at ``path``."""
    store = open_event_store(path)
    before = peak_rss_mib() if peak_rss_reset() else math.nan
    compute(store, design(count), Settings())
    print(f"RSS before {before:.0f} MiB, peak {peak_rss_mib():.0f} MiB")
    store.close()


def bench_store(store: EventStore, units: int, events: int, args: argparse.Namespace) -> None:
    store.ensure_schema()
    seconds = load(store, units, events)
    print(f"\n## {store.dialect}: {units:,} units x {events:,} events x {args.metrics} metrics "
          f"(loaded in {seconds:.1f} s)")  # fmt: skip
    plan = design(args.metrics)
    config = Settings()
    lean_sql = [
        sqlglot.transpile(m.baseline_sql, "duckdb", store.dialect)[0] for m in metrics(args.metrics)
    ]
    ratios: dict[str, list[float]] = {clock: [] for clock in CLOCKS}
    peaks: list[float] = []
    same = True
    for round_no in range(1, args.rounds + 1):
        load_before = load_average()
        lean = [timed(partial(store.query, sql)) for sql in lean_sql]
        reset = peak_rss_reset()
        t_results, computed = timed(partial(compute, store, plan, config))
        peaks.append(peak_rss_mib() if reset else math.nan)
        for clock in CLOCKS:
            ratios[clock].append(t_results[clock] / sum(t[clock] for t, _ in lean))
        base_n = {str(r[0]): int(r[1]) for r in lean[0][1]}  # type: ignore[call-overload]
        out = computed.out
        results_n = dict(zip(plan.variants, out.srm.observed, strict=True))
        same = same and base_n == results_n and all(m.error is None for m in out.metrics)
        print(
            f"round {round_no} (load {load_before}): results read {t_results['wall']:.2f} s, "
            f"lean queries {sum(t['wall'] for t, _ in lean):.2f} s (wall), "
            f"peak RSS {peaks[-1]:.0f} MiB"
        )
    print(f"load average after: {load_average()}")
    print(f"results read / lean queries, median (range) of {args.rounds} rounds: "
          f"wall {spread(ratios['wall'])}, CPU {spread(ratios['cpu'])}; "
          f"units agree: {'yes' if same else 'NO'}")  # fmt: skip
    print(f"peak RSS of this process during a results read: {spread(peaks)} MiB")
    print(f"one results read in a fresh process: {fresh_read_peak(store, args)}")


def main() -> None:
    if sys.argv[1:2] == ["--read-peak"]:
        read_peak(sys.argv[2], int(sys.argv[3]))
        return
    each_backend(arguments(__doc__.splitlines()[0]), bench_store)


if __name__ == "__main__":
    main()
