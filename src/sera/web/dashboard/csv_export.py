"""The analytics as CSV, safe to open in a spreadsheet.

A cell that begins with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is read by
spreadsheets as a formula, and a formula can run commands or send the sheet's data away
(OWASP, "CSV Injection"). Text cells, a topic's example question above all (a caller's own
words), get a leading single quote: the spreadsheet shows the text instead of running it.
Numbers are written as numbers: a number is not a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal

from sera.reports.analytics import METRICS, Analytics

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Cell = str | int | float | Decimal | date | None


def safe_cell(value: Cell) -> str | int | float | Decimal:
    """The cell as written: text that a spreadsheet would run, quoted."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float | Decimal):
        return value
    text = value.isoformat() if isinstance(value, date) else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """RFC 4180 CSV (CRLF line ends, quotes where needed), every cell made safe, the header too."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return out.getvalue()


def analytics_rows(report: Analytics) -> tuple[list[str], list[list[Cell]]]:
    """One row per local day: the date, each metric, the recovered revenue per currency."""
    header = ["date", *(name for name, _ in METRICS), *(f"recovered_revenue_{c}" for c in report.currencies)]
    rows: list[list[Cell]] = [
        [
            day.day,
            *(day.metric(name) for name, _ in METRICS),
            *(day.recovered_revenue[c] for c in report.currencies),
        ]
        for day in report.days
    ]
    return header, rows


def topic_rows(report: Analytics) -> tuple[list[str], list[list[Cell]]]:
    """The questions the agent could not answer: a row per topic, with its count and an example."""
    return ["topic", "count", "example"], [[t.label, t.count, t.example] for t in report.topics]


def analytics_csv(report: Analytics) -> str:
    return to_csv(*analytics_rows(report))


def topics_csv(report: Analytics) -> str:
    return to_csv(*topic_rows(report))
