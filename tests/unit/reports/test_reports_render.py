"""The report renderers on a hand-made report: escaping, formulas kept as text, numbers
printed alike, Latin-1 fallback in the PDF, chart geometry."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import openpyxl
import pypdf
import pytest

from avsb.server.reports import charts, render_binary, render_text
from avsb.server.reports.model import (
    Decision,
    ExperimentSection,
    MetricSection,
    Report,
    TrafficRow,
    VariantDesign,
    VariantRow,
    number,
)

HOSTILE = '<script>alert(1)</script> | *bold* [link](x) =HYPERLINK("x")'


def section(name: str = HOSTILE, key: str = "exp") -> ExperimentSection:
    rows = (
        VariantRow("control", 1000, 0.1),
        VariantRow(
            "treatment",
            1010,
            0.12,
            0.2,
            -0.05,
            0.45,
            0.0123456789,
            0.0246913578,
            0.9,
            False,
            "relative",
        ),
    )
    metric = MetricSection("conv", "=SUM(A1)", "primary", "binary", False, rows)
    return ExperimentSection(
        experiment_id="exp_1", key=key, name=name, project_id="prj_1", project_name="Shop ✓",
        status="running", hypothesis="=cmd|' /C calc'!A0",
        variants=(VariantDesign("control", 50, "{}"),),
        design=(("traffic percent", "100"),), plan=(("alpha", "0.05"),),
        traffic=(TrafficRow("control", 50, 1005, 1000), TrafficRow("treatment", 50, 1005, 1010)),
        srm_p_value=0.8, srm_detected=False, metrics=(metric,),
        decision=Decision("keep_running", None, ("Not enough data — ünïcode",)),
        computed_at=datetime(2026, 12, 2, tzinfo=UTC), snapshot_id="res_1",
    )  # fmt: skip


def report() -> Report:
    return Report("Report ✓", "experiment", datetime(2026, 12, 2, tzinfo=UTC), "ci", (section(),))


@pytest.mark.parametrize(
    ("value", "printed"),
    [(None, ""), (3, "3"), (0.0123456789, "0.0123457"), (1e-12, "1e-12"), (True, "yes"),
     (float("nan"), "")],
)  # fmt: skip
def test_number__six_significant_digits(value: float | None, printed: str) -> None:
    assert number(value) == printed


def test_html__no_markup_from_user_text() -> None:
    body = render_text.html(report())
    assert "<script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "0.0123457" in body


def test_markdown__user_text_cannot_break_the_table_or_inject_html() -> None:
    body = render_text.markdown(report())
    assert "<script" not in body
    assert "\\|" in body  # the pipe in the name is escaped
    table_lines = [line for line in body.splitlines() if line.startswith("| conv")]
    assert len(table_lines) == 2
    assert all(line.count(" | ") == 13 for line in table_lines)


def test_csv__text_guarded_numbers_kept() -> None:
    rows = list(csv.DictReader(io.StringIO(render_text.csv_text(report()))))
    assert rows[1]["lift"] == "0.2"
    assert rows[1]["ci_low"] == "-0.05"  # a negative number is not treated as a formula
    section_with_formula_key = Report(
        "r", "experiment", datetime.now(UTC), "ci", (section(key="=1+1"),)
    )
    guarded = list(csv.DictReader(io.StringIO(render_text.csv_text(section_with_formula_key))))
    assert guarded[0]["experiment"] == "'=1+1"


def test_xlsx__formula_like_text_stays_text() -> None:
    book = openpyxl.load_workbook(io.BytesIO(render_binary.xlsx(report())))
    overview = book["Overview"]
    header = [c.value for c in overview[1]]
    hypothesis = overview.cell(row=2, column=header.index("hypothesis") + 1)
    assert hypothesis.value == "=cmd|' /C calc'!A0"
    assert hypothesis.data_type == "s"
    metrics = book["Metrics"]
    assert metrics.cell(row=3, column=12).value == pytest.approx(0.0123456789)


def test_pdf__non_latin1_text_does_not_fail() -> None:
    body = render_binary.pdf(report())
    text = " ".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(body)).pages)
    assert "0.0123457" in text
    assert "Shop ?" in text


def test_forest__axis_holds_zero_and_every_interval() -> None:
    chart = charts.forest(section().metrics[0])
    assert chart is not None
    assert chart.lo < -0.05 < 0 < 0.45 < chart.hi
    assert 0 < chart.x(0.0) < chart.x(0.2) < 1
