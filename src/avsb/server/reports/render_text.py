"""Text renderers: standalone HTML (charts as inline SVG, every user text escaped),
Markdown and CSV, all drawn from the same ``Report``."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from avsb.server.reports import charts
from avsb.server.reports.model import (
    CATEGORY_COLUMNS,
    METRIC_COLUMNS,
    SHARED_COLUMNS,
    ExperimentSection,
    Report,
    category_cells,
    metric_cells,
    number,
    shared_cells,
    text,
)
from avsb.server.reports.safe_html import escape

_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:70em;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em;display:block;overflow-x:auto}"
    "td,th{border:1px solid #ccc;"
    "padding:.25em .5em;text-align:right}th{background:#f3f3f3}td.t,th.t{text-align:left}"
    ".sig{font-weight:bold}h2{border-bottom:2px solid #ddd;margin-top:2em}"
)


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], text_columns: int = 1) -> str:
    def cell(tag: str, i: int, value: str) -> str:
        cls = ' class="t"' if i < text_columns else ""
        return f"<{tag}{cls}>{escape(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _svg_forest(chart: charts.ForestChart) -> str:
    width, left, row_h = 560, 140, 26
    plot = width - left - 20
    height = row_h * len(chart.items) + 40
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(chart.title)}">',
        f'<text x="4" y="14" font-size="12">{escape(chart.title)}</text>',
    ]
    zero = left + plot * chart.x(0.0)
    parts.append(
        f'<line x1="{zero:.1f}" y1="20" x2="{zero:.1f}" y2="{height - 16}" stroke="#888" '
        'stroke-dasharray="3,3"/>'
    )
    for i, item in enumerate(chart.items):
        y = 20 + row_h * i + row_h / 2
        lo = left + plot * chart.x(chart.lo if item.low is None else item.low)
        hi = left + plot * chart.x(chart.hi if item.high is None else item.high)
        cx = left + plot * chart.x(item.estimate)
        colour = "#1a7f37" if item.significant else "#555"
        parts += [
            f'<text x="4" y="{y + 4:.1f}" font-size="11">{escape(item.label)}</text>',
            f'<line x1="{lo:.1f}" y1="{y:.1f}" x2="{hi:.1f}" y2="{y:.1f}" stroke="{colour}" '
            'stroke-width="2"/>',
            f'<circle cx="{cx:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>',
        ]
    parts += [
        f'<text x="{left}" y="{height - 2}" font-size="10">{escape(number(chart.lo))}</text>',
        f'<text x="{width - 20}" y="{height - 2}" font-size="10" text-anchor="end">'
        f"{escape(number(chart.hi))}</text>",
        "</svg>",
    ]
    return "".join(parts)


def _svg_traffic(chart: charts.TrafficChart) -> str:
    width, height, base = 560, 160, 130
    slot = (width - 20) / max(1, len(chart.bars))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'role="img" aria-label="Units per variant, observed and expected">'
    ]
    for i, bar in enumerate(chart.bars):
        x = 10 + slot * i
        h_obs, h_exp = 110 * chart.height(bar.observed), 110 * chart.height(bar.expected)
        parts += [
            f'<rect x="{x + 4:.1f}" y="{base - h_obs:.1f}" width="{slot / 2 - 6:.1f}" '
            f'height="{h_obs:.1f}" fill="#3b6ea5"/>',
            f'<rect x="{x + slot / 2:.1f}" y="{base - h_exp:.1f}" width="{slot / 2 - 6:.1f}" '
            f'height="{h_exp:.1f}" fill="#c9d6e6"/>',
            f'<text x="{x + 4:.1f}" y="{base + 14}" font-size="11">{escape(bar.label)}</text>',
        ]
    parts.append(
        f'<text x="10" y="{height - 2}" font-size="10">dark: observed units; light: expected</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _html_experiment(e: ExperimentSection) -> Iterator[str]:
    yield f"<h2>{escape(e.name)} <small>({escape(e.key)})</small></h2>"
    yield (
        f"<p>Project {escape(e.project_name)} &middot; status {escape(e.status)} &middot; "
        f"results computed {escape(e.computed_at.isoformat())} &middot; snapshot "
        f"{escape(e.snapshot_id or '')}</p>"
    )
    yield "<h3>Hypothesis</h3>"
    yield f"<p>{escape(e.hypothesis or '(none)')}</p>"
    yield "<h3>Design</h3>"
    yield _table(("field", "value"), list(e.design), 2)
    yield _table(
        ("variant", "weight", "params"),
        [(v.key, number(v.weight), v.params) for v in e.variants],
        1,
    )
    yield "<h3>Plan</h3>"
    yield _table(("setting", "value"), list(e.plan), 2)
    yield "<h3>Traffic and SRM</h3>"
    yield _table(
        ("variant", "weight", "expected units", "observed units"),
        [(t.variant, number(t.weight), number(t.expected), number(t.observed)) for t in e.traffic],
    )
    verdict = "detected" if e.srm_detected else "not detected"
    yield f"<p>SRM p-value {escape(number(e.srm_p_value))}: sample ratio mismatch {verdict}.</p>"
    chart = charts.traffic(e)
    if chart is not None:
        yield _svg_traffic(chart)
    yield "<h3>Metrics</h3>"
    header = METRIC_COLUMNS[1:]
    for m in e.metrics:
        yield f"<h4>{escape(m.name)} ({escape(m.key)}, {escape(m.role)})</h4>"
        if m.error:
            yield f"<p>Not analysed: {escape(m.error)}</p>"
        rows = [tuple(text(c) for c in metric_cells(e, m, r)[1:]) for r in m.rows]
        yield _table(header, rows, 5)
        forest = charts.forest(m)
        if forest is not None:
            yield _svg_forest(forest)
        if m.categorical is not None:
            c = m.categorical
            yield (
                f"<p>Chi-square {escape(number(c.chi2))}, df {escape(number(c.df))}, "
                f"p-value {escape(number(c.p_value))}</p>"
            )
            cat_rows = [tuple(text(v) for v in category_cells(e, m, r)[2:]) for r in c.rows]
            yield _table(CATEGORY_COLUMNS[2:], cat_rows, 2)
    yield "<h3>Decision</h3>"
    d = e.decision
    yield f"<p><strong>{escape(d.decision)}</strong> {escape(d.variant or '')}</p>"
    yield "<ul>" + "".join(f"<li>{escape(r)}</li>" for r in d.reasons) + "</ul>"


def html(report: Report) -> str:
    """One standalone HTML file: no scripts, no external resources."""
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{escape(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(report.title)}</h1>",
        f"<p>Generated {escape(report.generated_at.isoformat())} by "
        f"{escape(report.generated_by)}</p>",
    ]
    if report.comparison is not None:
        keys = tuple(e.key for e in report.experiments)
        out.append("<h2>Design differences</h2>")
        out.append(
            _table(
                ("field", *keys),
                [(d.field, *d.values) for d in report.comparison.differences],
                len(keys) + 1,
            )
        )
        shared = ", ".join(report.comparison.shared_metrics) or "(none)"
        out.append(f"<p>Shared metrics: {escape(shared)}</p>")
        out.append("<h2>Results on shared metrics</h2>")
        rows = [shared_cells(item) for item in report.comparison.results]
        out.append(_table(SHARED_COLUMNS, rows, 3))
    for experiment in report.experiments:
        out.extend(_html_experiment(experiment))
    out.append("</body></html>")
    return "\n".join(out)


def _md_escape(value: str) -> str:
    """Markdown text: HTML-escaped (no raw HTML passes through) and with the characters
    that would start Markdown syntax or break a table cell backslash-escaped."""
    escaped = escape(value).replace("\\", "\\\\")
    for ch in "|`*_[]#<>!":
        escaped = escaped.replace(ch, "\\" + ch)
    return escaped.replace("\r", " ").replace("\n", " ")


def _md_table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |"]
    lines.append("|" + "---|" * len(header))
    lines += ["| " + " | ".join(_md_escape(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def _md_experiment(e: ExperimentSection) -> list[str]:
    out = [f"## {_md_escape(e.name)} ({_md_escape(e.key)})", ""]
    out += [
        f"Project {_md_escape(e.project_name)}; status {_md_escape(e.status)}; results "
        f"computed {e.computed_at.isoformat()}; snapshot {_md_escape(e.snapshot_id or '')}",
        "",
        "### Hypothesis",
        "",
        _md_escape(e.hypothesis or "(none)"),
        "",
        "### Design",
        "",
    ]
    out += _md_table(("field", "value"), list(e.design))
    out += _md_table(
        ("variant", "weight", "params"), [(v.key, number(v.weight), v.params) for v in e.variants]
    )
    out += ["### Plan", "", *_md_table(("setting", "value"), list(e.plan))]
    out += ["### Traffic and SRM", ""]
    out += _md_table(
        ("variant", "weight", "expected units", "observed units"),
        [(t.variant, number(t.weight), number(t.expected), number(t.observed)) for t in e.traffic],
    )
    verdict = "detected" if e.srm_detected else "not detected"
    out += [f"SRM p-value {number(e.srm_p_value)}: sample ratio mismatch {verdict}.", ""]
    out += ["### Metrics", ""]
    for m in e.metrics:
        out += [f"#### {_md_escape(m.name)} ({_md_escape(m.key)}, {m.role})", ""]
        if m.error:
            out += [f"Not analysed: {_md_escape(m.error)}", ""]
        rows = [tuple(text(c) for c in metric_cells(e, m, r)[1:]) for r in m.rows]
        out += _md_table(METRIC_COLUMNS[1:], rows)
        if m.categorical is not None:
            c = m.categorical
            out += [
                f"Chi-square {number(c.chi2)}, df {number(c.df)}, p-value {number(c.p_value)}",
                "",
            ]
            cat_rows = [tuple(text(v) for v in category_cells(e, m, r)[2:]) for r in c.rows]
            out += _md_table(CATEGORY_COLUMNS[2:], cat_rows)
    d = e.decision
    out += ["### Decision", "", f"**{d.decision}** {_md_escape(d.variant or '')}", ""]
    out += [f"- {_md_escape(r)}" for r in d.reasons] + [""]
    return out


def markdown(report: Report) -> str:
    out = [f"# {_md_escape(report.title)}", ""]
    out += [f"Generated {report.generated_at.isoformat()} by {_md_escape(report.generated_by)}"]
    out.append("")
    if report.comparison is not None:
        keys = tuple(e.key for e in report.experiments)
        out += ["## Design differences", ""]
        out += _md_table(
            ("field", *keys), [(d.field, *d.values) for d in report.comparison.differences]
        )
        shared = ", ".join(report.comparison.shared_metrics) or "(none)"
        out += [f"Shared metrics: {_md_escape(shared)}", "", "## Results on shared metrics", ""]
        out += _md_table(SHARED_COLUMNS, [shared_cells(i) for i in report.comparison.results])
    for experiment in report.experiments:
        out += _md_experiment(experiment)
    return "\n".join(out)


def _csv_safe(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_cell(value: str | float | int | bool | None) -> str:
    """Numbers as printed; user text guarded so a spreadsheet never runs it as a formula."""
    return _csv_safe(value) if isinstance(value, str) else text(value)


def csv_text(report: Report) -> str:
    """One row per metric x variant (categorical metrics: their rows, then one row per
    variant x category with the ``category`` columns filled)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*METRIC_COLUMNS, "decision", "category", "count", "share", "difference"))
    for e in report.experiments:
        for m in e.metrics:
            for row in m.rows:
                cells = (*metric_cells(e, m, row), e.decision.decision, None, None, None, None)
                writer.writerow([_csv_cell(c) for c in cells])
            for c in m.categorical.rows if m.categorical is not None else ():
                cells = (e.key, m.key, m.role, m.type, c.variant, None, None, None, "absolute",
                         c.ci_low, c.ci_high, c.p_value, None, None, None, e.decision.decision,
                         c.category, c.count, c.share, c.difference)  # fmt: skip
                writer.writerow([_csv_cell(v) for v in cells])
    return buffer.getvalue()
