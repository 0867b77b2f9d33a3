"""Binary renderers: XLSX (openpyxl, a sheet per section, numbers as numbers) and PDF
(fpdf2 with its core fonts, charts drawn with fpdf2 lines and shapes), from the same
``Report`` as the text renderers."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence

from fpdf import FPDF
from fpdf.enums import MethodReturnValue
from openpyxl import Workbook
from openpyxl.worksheet.worksheet import Worksheet

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

Cell = str | float | int | bool | None


def _sheet(
    book: Workbook, title: str, header: Sequence[str], rows: Iterable[Sequence[Cell]]
) -> None:
    sheet: Worksheet = book.create_sheet(title)
    for r, row in enumerate([tuple(header), *rows], start=1):
        for c, value in enumerate(row, start=1):
            cell = sheet.cell(row=r, column=c)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # a text starting with "=" stays text, never a formula


def xlsx(report: Report) -> bytes:
    book = Workbook()
    book.remove(book.worksheets[0])
    es = report.experiments
    _sheet(
        book,
        "Overview",
        ("experiment", "name", "project", "status", "hypothesis", "decision", "variant",
         "srm_p_value", "srm_detected", "computed_at", "snapshot_id"),
        [(e.key, e.name, e.project_name, e.status, e.hypothesis, e.decision.decision,
          e.decision.variant, e.srm_p_value, e.srm_detected, e.computed_at.isoformat(),
          e.snapshot_id) for e in es],
    )  # fmt: skip
    if report.comparison is not None:
        _sheet(
            book,
            "Differences",
            ("field", *(e.key for e in es)),
            [(d.field, *d.values) for d in report.comparison.differences],
        )
        _sheet(book, "Shared results", SHARED_COLUMNS,
               [shared_cells(i) for i in report.comparison.results])  # fmt: skip
    design = [(e.key, label, value) for e in es for label, value in e.design]
    design += [(e.key, f"variant {v.key}", f"weight {number(v.weight)}; params {v.params}")
               for e in es for v in e.variants]  # fmt: skip
    _sheet(book, "Design", ("experiment", "field", "value"), design)
    _sheet(book, "Plan", ("experiment", "setting", "value"),
           [(e.key, label, value) for e in es for label, value in e.plan])  # fmt: skip
    traffic = [(e.key, t.variant, t.weight, t.expected, t.observed) for e in es for t in e.traffic]
    columns = ("experiment", "variant", "weight", "expected_units", "observed_units")
    _sheet(book, "Traffic", columns, traffic)
    _sheet(book, "Metrics", METRIC_COLUMNS,
           [metric_cells(e, m, r) for e in es for m in e.metrics for r in m.rows])  # fmt: skip
    categories = [
        category_cells(e, m, r)
        for e in es
        for m in e.metrics
        if m.categorical is not None
        for r in m.categorical.rows
    ]
    tests = [(e.key, m.key, m.categorical.chi2, m.categorical.df, m.categorical.p_value)
             for e in es for m in e.metrics if m.categorical is not None]  # fmt: skip
    _sheet(book, "Categories", CATEGORY_COLUMNS, categories)
    _sheet(book, "Chi-square", ("experiment", "metric", "chi2", "df", "p_value"), tests)
    _sheet(book, "Decision", ("experiment", "decision", "variant", "reason"),
           [(e.key, e.decision.decision, e.decision.variant, reason)
            for e in es for reason in (e.decision.reasons or ("",))])  # fmt: skip
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _latin1(value: str) -> str:
    """The PDF core fonts cover Latin-1 only: other characters print as '?'."""
    return value.encode("latin-1", "replace").decode("latin-1")


class _Pdf(FPDF):
    def heading(self, value: str, size: int) -> None:
        self.set_font("Helvetica", "B", size)
        self.multi_cell(0, size * 0.5, _latin1(value), new_x="LMARGIN", new_y="NEXT")
        self.set_font("Helvetica", "", 9)

    def para(self, value: str) -> None:
        self.set_font("Helvetica", "", 9)
        self.multi_cell(0, 4.5, _latin1(value), new_x="LMARGIN", new_y="NEXT")

    def _lines(self, value: str, width: float, line_h: float) -> int:
        found = self.multi_cell(width, line_h, value, dry_run=True, output=MethodReturnValue.LINES)
        return len(found) if isinstance(found, list) else 1

    def grid(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """A bordered table of equal columns; a cell too wide for its column wraps (the
        row grows), the others are single cells (fpdf2's ``table`` lays out every cell as a
        multi-line cell, ten times slower for a report's number tables)."""
        width, line_h = self.epw / max(1, len(header)), 3.6
        for index, row in enumerate([tuple(header), *rows]):
            self.set_font("Helvetica", "B" if index == 0 else "", 7)
            cells = [_latin1(value) for value in row]
            lines = [
                1
                if self.get_string_width(c) <= width - 2 * self.c_margin
                else self._lines(c, width, line_h)
                for c in cells
            ]
            height = line_h * max(lines)
            if self.will_page_break(height):
                self.add_page()
            x, y = self.l_margin, self.get_y()
            for c, count in zip(cells, lines, strict=True):
                self.set_xy(x, y)
                if count == 1:
                    self.cell(width, height, c, border=1)
                else:
                    self.rect(x, y, width, height)
                    self.multi_cell(width, line_h, c, new_x="RIGHT", new_y="TOP")
                x += width
            self.set_xy(self.l_margin, y + height)
        self.ln(2)
        self.set_font("Helvetica", "", 9)

    def forest(self, chart: charts.ForestChart) -> None:
        row_h, label_w = 6.0, 35.0
        height = row_h * len(chart.items) + 10
        if self.will_page_break(height):
            self.add_page()
        x0, y0 = self.l_margin, self.get_y()
        plot = self.epw - label_w - 5
        self.set_font("Helvetica", "", 7)
        zero = x0 + label_w + plot * chart.x(0.0)
        self.set_draw_color(150, 150, 150)
        self.set_dash_pattern(dash=1, gap=1)
        self.line(zero, y0, zero, y0 + row_h * len(chart.items))
        self.set_dash_pattern()
        for i, item in enumerate(chart.items):
            y = y0 + row_h * i + row_h / 2
            lo = x0 + label_w + plot * chart.x(chart.lo if item.low is None else item.low)
            hi = x0 + label_w + plot * chart.x(chart.hi if item.high is None else item.high)
            cx = x0 + label_w + plot * chart.x(item.estimate)
            colour = (26, 127, 55) if item.significant else (85, 85, 85)
            self.set_draw_color(*colour)
            self.set_fill_color(*colour)
            self.set_line_width(0.5)
            self.line(lo, y, hi, y)
            self.ellipse(cx - 1, y - 1, 2, 2, style="F")
            self.set_xy(x0, y - 2)
            self.cell(label_w, 4, _latin1(item.label))
        self.set_line_width(0.2)
        self.set_draw_color(0, 0, 0)
        self.set_xy(x0, y0 + row_h * len(chart.items) + 1)
        self.cell(label_w + 10, 4, f"axis {number(chart.lo)} .. {number(chart.hi)}")
        self.ln(6)

    def traffic(self, chart: charts.TrafficChart) -> None:
        height = 35.0
        if self.will_page_break(height + 8):
            self.add_page()
        x0, y0 = self.l_margin, self.get_y()
        slot = min(40.0, self.epw / max(1, len(chart.bars)))
        base = y0 + height
        self.set_font("Helvetica", "", 7)
        for i, bar in enumerate(chart.bars):
            x = x0 + slot * i
            h_obs, h_exp = height * chart.height(bar.observed), height * chart.height(bar.expected)
            self.set_fill_color(59, 110, 165)
            self.rect(x + 2, base - h_obs, slot / 2 - 3, h_obs, style="F")
            self.set_fill_color(201, 214, 230)
            self.rect(x + slot / 2, base - h_exp, slot / 2 - 3, h_exp, style="F")
            self.set_xy(x + 2, base + 1)
            self.cell(slot - 2, 4, _latin1(bar.label))
        self.set_xy(x0, base + 5)
        self.cell(0, 4, "dark: observed units; light: expected")
        self.ln(6)


def _pdf_experiment(pdf: _Pdf, e: ExperimentSection) -> None:
    pdf.add_page()
    pdf.heading(f"{e.name} ({e.key})", 13)
    pdf.para(
        f"Project {e.project_name}; status {e.status}; results computed "
        f"{e.computed_at.isoformat()}; snapshot {e.snapshot_id or ''}"
    )
    pdf.heading("Hypothesis", 11)
    pdf.para(e.hypothesis or "(none)")
    pdf.heading("Design", 11)
    pdf.grid(("field", "value"), list(e.design))
    pdf.grid(
        ("variant", "weight", "params"), [(v.key, number(v.weight), v.params) for v in e.variants]
    )
    pdf.heading("Plan", 11)
    pdf.grid(("setting", "value"), list(e.plan))
    pdf.heading("Traffic and SRM", 11)
    pdf.grid(
        ("variant", "weight", "expected units", "observed units"),
        [(t.variant, number(t.weight), number(t.expected), number(t.observed)) for t in e.traffic],
    )
    verdict = "detected" if e.srm_detected else "not detected"
    pdf.para(f"SRM p-value {number(e.srm_p_value)}: sample ratio mismatch {verdict}.")
    chart = charts.traffic(e)
    if chart is not None:
        pdf.traffic(chart)
    pdf.heading("Metrics", 11)
    for m in e.metrics:
        pdf.heading(f"{m.name} ({m.key}, {m.role})", 10)
        if m.error:
            pdf.para(f"Not analysed: {m.error}")
        rows = [tuple(text(c) for c in metric_cells(e, m, r)[4:]) for r in m.rows]
        pdf.grid(METRIC_COLUMNS[4:], rows)
        forest = charts.forest(m)
        if forest is not None:
            pdf.forest(forest)
        if m.categorical is not None:
            c = m.categorical
            pdf.para(f"Chi-square {number(c.chi2)}, df {number(c.df)}, p-value {number(c.p_value)}")
            cat_rows = [tuple(text(v) for v in category_cells(e, m, r)[2:]) for r in c.rows]
            pdf.grid(CATEGORY_COLUMNS[2:], cat_rows)
    pdf.heading("Decision", 11)
    pdf.para(f"{e.decision.decision} {e.decision.variant or ''}")
    for reason in e.decision.reasons:
        pdf.para(f"- {reason}")


def pdf(report: Report) -> bytes:
    doc = _Pdf(orientation="landscape", format="A4")
    doc.set_title(_latin1(report.title))
    doc.set_creator("AvsB")
    doc.set_auto_page_break(auto=True, margin=12)
    doc.add_page()
    doc.heading(report.title, 16)
    doc.para(f"Generated {report.generated_at.isoformat()} by {report.generated_by}")
    if report.comparison is not None:
        doc.heading("Design differences", 11)
        doc.grid(
            ("field", *(e.key for e in report.experiments)),
            [(d.field, *d.values) for d in report.comparison.differences],
        )
        doc.para("Shared metrics: " + (", ".join(report.comparison.shared_metrics) or "(none)"))
        doc.grid(SHARED_COLUMNS, [shared_cells(i) for i in report.comparison.results])
    for experiment in report.experiments:
        _pdf_experiment(doc, experiment)
    return bytes(doc.output())
