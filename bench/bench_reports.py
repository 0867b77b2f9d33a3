"""Report rendering and file analysis, in one run.

    .venv/bin/python -m bench.bench_reports [--metrics 20 --variants 4] [--rows 1000000]
        [--rounds 3] [--no-http]

1. PDF and XLSX (and HTML, CSV) rendering of one experiment report of ``--metrics`` metrics
   x ``--variants`` variants: the report model is built once from synthetic results, then
   each renderer is timed (what ``GET .../report`` spends after computing the results).
2. ``POST /api/tools/analyze-file`` on a ``--rows``-row CSV (unit, variant of 4, two metric
   columns, a covariate and a stratum) against DuckDB reading the same file directly with the
   simplest per-variant aggregate (count, sum, sum of squares of one metric), and with the
   rows grouped per unit first (as any per-unit analysis must): rows/s of
   ``file_analysis.analyze_file`` (per-unit grouping, both metrics, CUPED and strata sums,
   statistics) and, unless ``--no-http``, of the whole HTTP upload to an ``avsb serve``
   process (multipart streamed to a temporary file, then the same analysis).

Each of ``--rounds`` rounds prints its times with the load average; the summary is the
median and range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import httpx

from avsb.server.reports import render_binary, render_text
from avsb.server.reports.model import (
    Decision,
    ExperimentSection,
    MetricSection,
    Report,
    TrafficRow,
    VariantDesign,
    VariantRow,
)
from avsb.server.tools import file_analysis
from bench._harness import ADMIN, server

VARIANT_NAMES = ("control", "treatment_a", "treatment_b", "treatment_c", "treatment_d")


def report(metrics: int, variants: int) -> Report:
    keys = [f"v{i}" if i >= len(VARIANT_NAMES) else VARIANT_NAMES[i] for i in range(variants)]
    sections = []
    for m in range(metrics):
        rows = [VariantRow(keys[0], 50_000 + m, 0.1 + m / 1000)]
        rows += [
            VariantRow(
                k,
                50_000 + m + i,
                0.1 + (m + i) / 1000,
                0.01 * i,
                -0.02 + 0.01 * i,
                0.04 + 0.01 * i,
                0.001 * (i + m),
                0.002 * (i + m),
                0.6,
                i % 2 == 0,
                "relative",
            )
            for i, k in enumerate(keys[1:], start=1)
        ]
        sections.append(
            MetricSection(
                f"metric_{m}",
                f"Metric {m}",
                "primary" if m == 0 else "secondary",
                "binary",
                False,
                tuple(rows),
            )
        )
    experiment = ExperimentSection(
        experiment_id="exp_bench",
        key="bench",
        name="Benchmark report",
        project_id="prj_b",
        project_name="Bench",
        status="running",
        hypothesis="Twenty metrics move.",
        variants=tuple(VariantDesign(k, 100 / variants, "{}") for k in keys),
        design=(("traffic percent", "100"),),
        plan=(("method", "frequentist"),),
        traffic=tuple(TrafficRow(k, 100 / variants, 50_000.0, 50_000) for k in keys),
        srm_p_value=0.5,
        srm_detected=False,
        metrics=tuple(sections),
        decision=Decision("keep_running", None, ("Underpowered.",)),
        computed_at=datetime.now(UTC),
        snapshot_id="res_bench",
    )
    return Report("Benchmark", "experiment", datetime.now(UTC), "bench", (experiment,))


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def spread(values: list[float]) -> str:
    """Median and range: ``1,234 (1,200-1,300)``."""
    return f"{statistics.median(values):,.0f} ({min(values):,.0f}-{max(values):,.0f})"


def write_csv(path: Path, rows: int) -> None:
    duckdb.execute(f"""
COPY (
  SELECT 'u' || i AS user,
         ['control', 'treatment_a', 'treatment_b', 'treatment_c'][i % 4 + 1] AS arm,
         (hash(i) % 10000) / 100.0 AS revenue, hash(i * 7) % 5 AS clicks,
         (hash(i * 13) % 5000) / 100.0 AS pre_revenue,
         ['ios', 'android', 'web'][CAST(hash(i * 3) % 3 AS BIGINT) + 1] AS device
  FROM range({rows}) AS t(i)
) TO '{path}' (FORMAT csv, HEADER)""")


REQUEST = file_analysis.FileRequest(
    unit_column="user",
    variant_column="arm",
    metric_columns=("revenue", "clicks"),
    control="control",
    covariate_column="pre_revenue",
    stratum_column="device",
)
FIELDS = {
    "unit_column": "user",
    "variant_column": "arm",
    "metric_columns": "revenue,clicks",
    "control": "control",
    "covariate_column": "pre_revenue",
    "stratum_column": "device",
}


def direct(path: Path) -> None:
    duckdb.connect(":memory:").execute(
        f"SELECT arm, COUNT(*), SUM(revenue), SUM(revenue * revenue) "
        f"FROM read_csv('{path}', header = true) GROUP BY arm"
    ).fetchall()


def direct_per_unit(path: Path) -> None:
    """The same, but per unit first (what a per-unit analysis cannot skip)."""
    duckdb.connect(":memory:").execute(
        "SELECT arm, COUNT(*), SUM(r), SUM(r * r) FROM (SELECT user, MIN(arm) AS arm, "
        f"SUM(revenue) AS r FROM read_csv('{path}', header = true) GROUP BY user) GROUP BY arm"
    ).fetchall()


def upload(url: str, token: str, path: Path) -> None:
    with path.open("rb") as handle:
        r = httpx.post(
            f"{url}/api/tools/analyze-file",
            data=FIELDS,
            files={"file": ("data.csv", handle)},
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        )
    assert r.status_code == 200, r.text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=20)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()

    model = report(args.metrics, args.variants)
    renderers = {
        "pdf": render_binary.pdf,
        "xlsx": render_binary.xlsx,
        "html": render_text.html,
        "csv": render_text.csv_text,
    }
    times: dict[str, list[float]] = {name: [] for name in renderers}
    print(f"report: {args.metrics} metrics x {args.variants} variants")
    for round_ in range(args.rounds):
        found = {name: seconds(lambda fn=fn: fn(model)) for name, fn in renderers.items()}  # type: ignore[misc]
        for name, value in found.items():
            times[name].append(value)
        shown = ", ".join(f"{name} {value * 1000:.0f} ms" for name, value in found.items())
        print(f"  round {round_ + 1}: {shown}; load {load_average()}")
    for name, values in times.items():
        print(f"  {name}: {spread([v * 1000 for v in values])} ms")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.csv"
        write_csv(path, args.rows)
        size = path.stat().st_size
        print(f"analyze-file: {args.rows} rows, {size / 1e6:.1f} MB CSV")
        rates: dict[str, list[float]] = {
            "duckdb direct": [],
            "duckdb per unit": [],
            "analyze_file": [],
            "http": [],
        }
        env = {
            "AVSB_MAX_BODY_BYTES": str(size * 2),
            "AVSB_ANALYZE_FILE_MAX_BYTES": str(size * 2),
            "AVSB_RATE_LIMIT_PER_MINUTE": "100000000",
            "AVSB_RATE_LIMIT_BURST": "100000000",
        }
        with server(**env) if not args.no_http else _nothing() as url:
            for round_ in range(args.rounds):
                base = seconds(lambda: direct(path))
                per_unit = seconds(lambda: direct_per_unit(path))
                rates["duckdb per unit"].append(args.rows / per_unit)
                ours = seconds(lambda: file_analysis.analyze_file(str(path), REQUEST))
                rates["duckdb direct"].append(args.rows / base)
                rates["analyze_file"].append(args.rows / ours)
                line = (
                    f"  round {round_ + 1}: duckdb direct {args.rows / base:,.0f} rows/s, "
                    f"per unit {args.rows / per_unit:,.0f} rows/s, "
                    f"analyze_file {args.rows / ours:,.0f} rows/s ({ours / base:.2f}x)"
                )
                if url is not None:
                    http = seconds(lambda: upload(url, ADMIN, path))
                    rates["http"].append(args.rows / http)
                    line += f", HTTP upload {args.rows / http:,.0f} rows/s ({http / base:.2f}x)"
                print(f"{line}; load {load_average()}")
        for name, values in rates.items():
            if values:
                print(f"  {name}: {spread(values)} rows/s")


class _nothing:  # noqa: N801 (a context manager standing in for the server)
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


if __name__ == "__main__":
    main()
