"""Dialect-neutral SQL in, engine SQL out: the one place that knows engine differences.

Queries are written once in sqlglot's default dialect with ``:name`` placeholders, which
are replaced by sqlglot literals (never by string concatenation), and with three marker
functions that engines spell differently:

- ``AVSB_PCT(x, p)``: the continuous percentile (linear interpolation, numpy's default):
  ``quantile_cont`` (DuckDB), ``percentile_cont ... within group`` (PostgreSQL),
  ``quantileExactInclusive`` (ClickHouse; exact, unlike ``quantile``);
- ``AVSB_JSON_TEXT(doc, key)`` / ``AVSB_JSON_NUMBER(doc, key)``: a top-level key of a JSON
  text column as text / as a double, NULL when missing.

On ClickHouse every ``ev_*`` table is read ``FINAL`` (ReplacingMergeTree collapses retried
rows that concurrent writers on a server may have inserted twice) and the query carries
``SETTINGS join_use_nulls = 1`` so an unmatched LEFT JOIN yields NULL as in standard SQL.
The rendered text therefore runs unchanged on a ClickHouse server.
"""

from __future__ import annotations

import re
from functools import lru_cache

import sqlglot
from sqlglot import exp

DUCKDB = "duckdb"
POSTGRES = "postgres"
CLICKHOUSE = "clickhouse"
DIALECTS = frozenset({DUCKDB, POSTGRES, CLICKHOUSE})

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_JSON_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,128}$")


def check_identifier(name: str) -> str:
    """Return name if it is a plain SQL identifier, else raise ValueError."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid identifier: {name!r}")
    return name


def check_json_key(key: str) -> str:
    """Return key if it is a plain JSON property name (letters, digits, _ and -)."""
    if not _JSON_KEY.match(key):
        raise ValueError(f"not a supported JSON property name: {key!r}")
    return key


@lru_cache(maxsize=512)
def _parsed(sql: str) -> exp.Expr:
    return sqlglot.parse_one(sql)


def fragment(sql: str, **values: object) -> exp.Expr:
    """Parse a constant SQL fragment (ours, never user text) and bind :name placeholders."""
    tree = _parsed(sql).copy()
    return exp.replace_placeholders(tree, **values) if values else tree


def render(tree: exp.Expr, dialect: str) -> str:
    """Engine SQL for a neutral expression tree."""
    if dialect not in DIALECTS:
        raise ValueError(f"unsupported dialect: {dialect!r}")
    tree = tree.copy().transform(lambda node: _rewrite(node, dialect))
    if dialect == CLICKHOUSE and isinstance(tree, exp.Select):
        setting = exp.EQ(this=exp.column("join_use_nulls"), expression=exp.Literal.number(1))
        tree.set("settings", [setting])
    return tree.sql(dialect=dialect)


def _rewrite(node: exp.Expr, dialect: str) -> exp.Expr:
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        args = list(node.expressions)
        if name == "AVSB_PCT":
            return _percentile(args[0], args[1], dialect)
        if name == "AVSB_JSON_TEXT":
            return _json_text(args[0], args[1], dialect)
        if name == "AVSB_JSON_NUMBER":
            return _json_number(args[0], args[1], dialect)
    if (
        dialect == CLICKHOUSE
        and isinstance(node, exp.Table)
        and node.name.startswith("ev_")
        and not isinstance(node.parent, exp.Final)
    ):
        return exp.Final(this=node)
    return node


def _percentile(x: exp.Expr, p: exp.Expr, dialect: str) -> exp.Expr:
    if dialect == CLICKHOUSE:
        return exp.ParameterizedAgg(this="quantileExactInclusive", expressions=[p], params=[x])
    if dialect == DUCKDB:
        return exp.Anonymous(this="QUANTILE_CONT", expressions=[x, p])
    order = exp.Order(expressions=[exp.Ordered(this=x, nulls_first=False)])
    return exp.WithinGroup(
        this=exp.Anonymous(this="PERCENTILE_CONT", expressions=[p]), expression=order
    )


def _json_text(doc: exp.Expr, key: exp.Expr, dialect: str) -> exp.Expr:
    if dialect == CLICKHOUSE:
        kind = exp.Literal.string("Nullable(String)")
        return exp.Anonymous(this="JSONExtract", expressions=[doc, key, kind])
    if dialect == DUCKDB:
        path = exp.Literal.string("$." + key.name)
        return exp.Anonymous(this="JSON_EXTRACT_STRING", expressions=[doc, path])
    as_json = exp.Cast(this=doc, to=exp.DataType.build("JSON"))
    return exp.Anonymous(this="JSON_EXTRACT_PATH_TEXT", expressions=[as_json, key])


def _json_number(doc: exp.Expr, key: exp.Expr, dialect: str) -> exp.Expr:
    if dialect == CLICKHOUSE:
        kind = exp.Literal.string("Nullable(Float64)")
        return exp.Anonymous(this="JSONExtract", expressions=[doc, key, kind])
    text = _json_text(doc, key, dialect)
    if dialect == DUCKDB:
        return exp.TryCast(this=text, to=exp.DataType.build("DOUBLE"))
    return exp.Cast(this=text, to=exp.DataType.build("DOUBLE"))
