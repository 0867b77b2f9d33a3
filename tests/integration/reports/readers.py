"""Reading reports back with real readers: html.parser, csv, openpyxl, pypdf, plain text."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from typing import Any

import openpyxl
import pypdf

Json = dict[str, Any]


def printed(value: float | int | bool | None) -> str:
    """A number as reports print it: 6 significant digits, integers whole."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    return f"{value:.6g}"


def expected_rows(results: Json) -> list[Json]:
    """Per metric x variant, from a results answer: the values every report shows."""
    rows = []
    for metric in results["metrics"]:
        comparisons = {c["variant"]: c for c in metric["comparisons"]}
        for v in metric["variants"]:
            c = comparisons.get(v["key"])
            rows.append({
                "metric": metric["key"], "variant": v["key"], "units": v["n"], "mean": v["mean"],
                "lift": c and c["estimate"], "ci_low": c and c["ci"][0],
                "ci_high": c and c["ci"][1], "p_value": c and c["p_value"],
                "adjusted_p_value": c and c["adjusted_p_value"],
            })  # fmt: skip
    return rows


FIELDS = ("units", "mean", "lift", "ci_low", "ci_high", "p_value", "adjusted_p_value")


def printed_row(row: Json) -> tuple[str, ...]:
    return (row["metric"], row["variant"], *(printed(row[f]) for f in FIELDS))


class Tables(HTMLParser):
    """Every table row's cell texts, and every start tag seen."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self.tags: list[str] = []
        self.text: list[str] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)


def html_rows(body: str) -> tuple[Tables, set[tuple[str, ...]]]:
    parser = Tables()
    parser.feed(body)
    # metric table: metric, role, type, variant, units, mean, lift, difference_type, ci_low,
    # ci_high, p_value, adjusted_p_value, chance_to_win, significant
    found: set[tuple[str, ...]] = {
        (r[0], r[3], r[4], r[5], r[6], r[8], r[9], r[10], r[11])
        for r in parser.rows
        if len(r) == 14
    }
    return parser, found


def md_rows(body: str) -> set[tuple[str, ...]]:
    found: set[tuple[str, ...]] = set()
    for line in body.splitlines():
        if not line.startswith("| "):
            continue
        cells = [re.sub(r"\\(.)", r"\1", c.strip()) for c in line.strip("|").split(" | ")]
        if len(cells) == 14:
            r = cells
            found.add((r[0], r[3], r[4], r[5], r[6], r[8], r[9], r[10], r[11]))
    return found


def csv_rows(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body)))


def xlsx_sheet(body: bytes, name: str) -> list[dict[str, Any]]:
    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True)
    rows = list(book[name].iter_rows(values_only=True))
    header = [str(h) for h in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


def pdf_text(body: bytes) -> str:
    reader = pypdf.PdfReader(io.BytesIO(body))
    return " ".join(page.extract_text() or "" for page in reader.pages)


def in_order(text: str, tokens: tuple[str, ...]) -> bool:
    """Whether the tokens occur in ``text`` in this order (whitespace-separated words)."""
    words = text.split()
    position = 0
    for token in (t for t in tokens if t):
        while position < len(words) and words[position] != token:
            position += 1
        if position == len(words):
            return False
        position += 1
    return True
