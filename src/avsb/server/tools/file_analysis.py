"""``POST /api/tools/analyze-file``: a per-unit file (CSV or Parquet) analysed like an
experiment's results.

DuckDB reads the file and aggregates it in one query into the sufficient statistics the
event store answers for an experiment (per variant and stratum: units, sums, sums of
squares, covariate sums and cross sums); the rows are never looped over in Python. Those
sums go through the same ``results.readout`` functions as experiment results: a metric
column is analysed as a ``sum`` metric of the unit (rows of one unit add up, an empty cell
counts as 0, as a unit without events does), the covariate column is the CUPED covariate
(as ingested covariates are), the stratum column post-stratifies, and the primary family
is corrected with the chosen method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, cast

import duckdb
import numpy as np

from avsb.server.analysis import MetricDefinition, MetricType
from avsb.server.errors import BadRequest, ValidationFailed
from avsb.server.results import health, readout
from avsb.server.results.readout import (
    COVERED,
    MIN_STRATUM_UNITS,
    SS,
    SUM,
    WIDTH,
    XS,
    XSS,
    XY,
    AnalysisSettings,
    Matrix,
    MetricSpec,
    N,
)
from avsb.server.tools.file_schemas import AnalyzeFileResult, FileSummary
from avsb.stats.analysis import Method
from avsb.stats.multiple_testing import CorrectionMethod

MAX_METRIC_COLUMNS = 50
MAX_VARIANTS = 20
MAX_STRATA = 1000
_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "UHUGEINT", "FLOAT", "DOUBLE", "DECIMAL", "BOOLEAN")  # fmt: skip
_METHODS = ("frequentist", "bayesian", "sequential")
_CORRECTIONS = ("none", "holm", "bh", "bonferroni")
__all__ = ["MIN_STRATUM_UNITS", "FileRequest", "analyze_file", "request_of"]


@dataclass(frozen=True, slots=True)
class FileRequest:
    """The form fields of an upload, checked."""

    unit_column: str
    variant_column: str
    metric_columns: tuple[str, ...]
    control: str
    covariate_column: str | None = None
    stratum_column: str | None = None
    method: Method = "frequentist"
    alpha: float = 0.05
    correction: CorrectionMethod = "holm"


def _field_error(name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{name}: {message}", [{"path": f"form.{name}", "message": message, "type": "value_error"}]
    )


def request_of(fields: dict[str, str]) -> FileRequest:
    """The analysis asked for by the form fields (422 naming the field at fault)."""

    def required(name: str) -> str:
        value = fields.get(name, "").strip()
        if not value:
            raise _field_error(name, "required")
        return value

    def optional(name: str) -> str | None:
        return fields.get(name, "").strip() or None

    metrics = tuple(c.strip() for c in required("metric_columns").split(",") if c.strip())
    if not metrics or len(metrics) > MAX_METRIC_COLUMNS:
        raise _field_error("metric_columns", f"name 1 to {MAX_METRIC_COLUMNS} columns")
    if len(set(metrics)) != len(metrics):
        raise _field_error("metric_columns", "a column is named twice")
    method = optional("method") or "frequentist"
    if method not in _METHODS:
        raise _field_error("method", f"one of {', '.join(_METHODS)}")
    correction = optional("correction") or "holm"
    if correction not in _CORRECTIONS:
        raise _field_error("correction", f"one of {', '.join(_CORRECTIONS)}")
    try:
        alpha = float(optional("alpha") or 0.05)
    except ValueError:
        raise _field_error("alpha", "a number in (0, 1)") from None
    if not (math.isfinite(alpha) and 0 < alpha < 1):
        raise _field_error("alpha", "a number in (0, 1)")
    return FileRequest(
        unit_column=required("unit_column"),
        variant_column=required("variant_column"),
        metric_columns=metrics,
        control=required("control"),
        covariate_column=optional("covariate_column"),
        stratum_column=optional("stratum_column"),
        method=cast(Method, method),
        alpha=alpha,
        correction=cast(CorrectionMethod, correction),
    )


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _column_error(column: str, code: str, message: str) -> BadRequest:
    return BadRequest(message, code=code, details={"column": column})


def _is_parquet(path: str) -> bool:
    with open(path, "rb") as handle:
        return handle.read(4) == b"PAR1"


def _source(path: str, parquet: bool) -> str:
    if parquet:
        return f"read_parquet({_literal(path)})"
    return f"read_csv({_literal(path)}, header = true, auto_detect = true)"


def _check_columns(con: duckdb.DuckDBPyConnection, source: str, req: FileRequest) -> None:
    try:
        sql = f"DESCRIBE SELECT * FROM {source}"  # noqa: S608 (the path is quoted)
        described = con.execute(sql).fetchall()
    except duckdb.Error as exc:
        raise BadRequest(
            f"The file cannot be read as CSV or Parquet: {str(exc).splitlines()[0]}",
            code="unreadable_file",
        ) from None
    types = {str(row[0]): str(row[1]).upper() for row in described}
    named = [req.unit_column, req.variant_column, *req.metric_columns]
    named += [c for c in (req.covariate_column, req.stratum_column) if c is not None]
    for column in named:
        if column not in types:
            raise _column_error(
                column, "column_missing",
                f"The file has no column {column!r} (columns: {', '.join(sorted(types))[:500]}).",
            )  # fmt: skip
    for column in [*req.metric_columns, *([req.covariate_column] if req.covariate_column else [])]:
        if not types[column].startswith(_NUMERIC):
            raise _column_error(
                column, "column_not_numeric",
                f"Column {column!r} is {types[column]}, not numeric: a metric or covariate "
                "needs numbers in every non-empty cell.",
            )  # fmt: skip


def _aggregate_sql(source: str, req: FileRequest) -> str:
    """One scan: per unit (its rows summed), then per (skipped, multiple variants, variant,
    stratum) the units, rows and the readout's sums. A row without a unit or a variant is
    skipped; a unit under two variants is flagged (left out, as results do)."""
    unit, variant = _ident(req.unit_column), _ident(req.variant_column)
    metric_sums = ", ".join(
        f"SUM(COALESCE(CAST({_ident(c)} AS DOUBLE), 0)) FILTER (WHERE v IS NOT NULL) AS m{i}"
        for i, c in enumerate(req.metric_columns)
    )
    cov = (
        f"ANY_VALUE(CAST({_ident(req.covariate_column)} AS DOUBLE))"
        if req.covariate_column
        else "CAST(NULL AS DOUBLE)"
    )
    stratum = (
        f"ANY_VALUE(CAST({_ident(req.stratum_column)} AS VARCHAR))"
        if req.stratum_column
        else "CAST(NULL AS VARCHAR)"
    )
    per_metric = ", ".join(
        f"SUM(m{i}), SUM(m{i} * m{i}), SUM(m{i} * COALESCE(x, 0))"
        for i in range(len(req.metric_columns))
    )
    # Identifiers are quoted by _ident, the path by _literal: nothing is spliced raw.
    return f"""
WITH rows_ AS (
  SELECT {unit} AS u, CAST({variant} AS VARCHAR) AS v, *
  FROM {source}
), units AS (
  SELECT u IS NULL AS no_unit, MIN(v) AS v, MIN(v) <> MAX(v) AS multi, COUNT(*) AS nrows,
         COUNT(v) AS nv, {metric_sums}, {cov} AS x, {stratum} AS s
  FROM rows_ GROUP BY u
)
SELECT no_unit OR v IS NULL, COALESCE(multi, FALSE), v, s, COUNT(*), SUM(nrows), SUM(nv),
       SUM(COALESCE(x, 0)), SUM(COALESCE(x, 0) * COALESCE(x, 0)), COUNT(x), {per_metric}
FROM units GROUP BY ALL
"""  # noqa: S608


def _run(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[object, ...]]:
    try:
        return con.execute(sql).fetchall()
    except duckdb.ConversionException as exc:
        raise BadRequest(
            f"A value of the file cannot be converted: {str(exc).splitlines()[0]}",
            code="unreadable_file",
        ) from None
    except duckdb.Error as exc:
        raise BadRequest(
            f"The file cannot be analysed: {str(exc).splitlines()[0]}", code="unreadable_file"
        ) from None


def _num(value: object) -> float:
    return 0.0 if value is None else float(cast(float, value))


def _spec(column: str) -> MetricSpec:
    definition = MetricDefinition(type=MetricType.SUM, event_name=column, key=column)
    return MetricSpec(column, column, column, "primary", definition)


def analyze_file(path: str, req: FileRequest) -> AnalyzeFileResult:
    """Aggregate the file in DuckDB, then analyse each metric column as results do."""
    parquet = _is_parquet(path)
    source = _source(path, parquet)
    con = duckdb.connect(":memory:")
    try:
        _check_columns(con, source, req)
        groups = _run(con, _aggregate_sql(source, req))
    finally:
        con.close()
    rows = sum(_num(g[5]) for g in groups)
    skipped = sum(_num(g[5]) if g[0] else _num(g[5]) - _num(g[6]) for g in groups)
    multiple = sum(_num(g[4]) for g in groups if g[1] and not g[0])
    # (variant, stratum, units, xs, xss, covered, per metric: sum, squares, cross)
    found = [(g[2], g[3], g[4], *g[7:]) for g in groups if not g[0] and not g[1]]
    variants = sorted({str(row[0]) for row in found})
    if req.control not in variants:
        raise _column_error(
            req.variant_column, "control_missing",
            f"No unit of column {req.variant_column!r} has the control {req.control!r} "
            f"(values: {', '.join(variants[:20])}).",
        )  # fmt: skip
    if len(variants) < 2:
        raise _column_error(
            req.variant_column, "one_variant",
            f"Column {req.variant_column!r} has one variant only ({req.control!r}): nothing to "
            "compare.",
        )  # fmt: skip
    if len(variants) > MAX_VARIANTS:
        raise _column_error(req.variant_column, "too_many_variants",
                            f"Column {req.variant_column!r} has {len(variants)} variants; at most "
                            f"{MAX_VARIANTS}.")  # fmt: skip
    keys = (req.control, *(v for v in variants if v != req.control))
    strata = sorted({None if row[1] is None else str(row[1]) for row in found}, key=str)
    if len(strata) > MAX_STRATA:
        raise _column_error(req.stratum_column or "", "too_many_strata",
                            f"Column {req.stratum_column!r} has {len(strata)} values; at most "
                            f"{MAX_STRATA}.")  # fmt: skip
    where = {(str(row[0]), None if row[1] is None else str(row[1])): row for row in found}
    settings = AnalysisSettings(
        method=req.method, alpha=req.alpha, cuped=req.covariate_column is not None,
        correction=req.correction,
    )  # fmt: skip
    weights = tuple(1.0 for _ in keys)
    readouts = []
    for i, column in enumerate(req.metric_columns):
        arms: list[Matrix] = []
        for key in keys:
            arm = np.zeros((len(strata), WIDTH))
            for s, stratum in enumerate(strata):
                row = where.get((key, stratum))
                if row is None:
                    continue
                n, xs, xss, covered = (float(cast(float, v or 0)) for v in row[2:6])
                total, squares, cross = (
                    float(cast(float, v or 0)) for v in row[6 + 3 * i : 9 + 3 * i]
                )
                arm[s, [N, SUM, SS, XS, XSS, XY, COVERED]] = [
                    n,
                    total,
                    squares,
                    xs,
                    xss,
                    cross,
                    covered,
                ]
            arms.append(arm)
        spec = _spec(column)
        options = readout.options_for(spec, settings, weights)
        covariate: readout.Covariate | None = "ingested" if req.covariate_column else None
        readouts.append(readout.prepare(spec, arms, options, covariate))
    corrected = readout.correct_family(readouts, "primary", settings)
    counts = [
        int(sum(float(cast(float, where[(k, s)][2])) for s in strata if (k, s) in where))
        for k in keys
    ]
    kind: Literal["csv", "parquet"] = "parquet" if parquet else "csv"
    return AnalyzeFileResult(
        file=FileSummary(
            format=kind,
            rows=int(cast(int, rows)),
            units=sum(counts),
            skipped_rows=int(cast(int, skipped)),
            multiple_variant_units=int(cast(int, multiple)),
        ),
        control=req.control,
        variants=list(keys),
        method=req.method,
        alpha=req.alpha,
        srm=health.srm(counts, weights, req.method).out,
        metrics=[readout.metric_out(r, keys) for r in corrected],
    )
