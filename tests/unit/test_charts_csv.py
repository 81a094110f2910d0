"""The dashboard's SVG charts and CSV export: valid, accessible, escaped, safe in a spreadsheet."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from datetime import date, timedelta
from decimal import Decimal

import pytest
from markupsafe import Markup

from sera.reports.analytics import Analytics, Day
from sera.reports.service import HourCount, Topic
from sera.web.dashboard.charts import category_bars, data_table, day_bars, hour_bars
from sera.web.dashboard.csv_export import analytics_csv, to_csv, topics_csv

SVG = "{http://www.w3.org/2000/svg}"
ATTACK = '<script>alert("x")</script>'


def _parsed(chart: Markup) -> ET.Element:
    assert isinstance(chart, Markup)
    root = ET.fromstring(str(chart))  # noqa: S314 - our own output, parsed to check it is well formed
    assert root.tag == f"{SVG}svg" and root.get("role") == "img" and root.get("viewBox", "").startswith("0 0 ")
    assert root.find(f"{SVG}title") is not None and root.find(f"{SVG}desc") is not None
    labelled = root.get("aria-labelledby", "")
    assert root.find(f"{SVG}title").get("id") == labelled  # type: ignore[union-attr]
    for element in root.iter():
        assert "style" not in element.attrib, element.tag  # the page's CSP forbids inline styles
        assert not any(name.startswith("on") for name in element.attrib), element.tag
        assert element.tag not in (f"{SVG}script", f"{SVG}foreignObject", f"{SVG}style")
    return root


def _texts(root: ET.Element) -> list[str]:
    return ["".join(e.itertext()) for e in root.iter(f"{SVG}text")]


WEEK = [date(2026, 11, 16) + timedelta(days=i) for i in range(7)]


@pytest.mark.parametrize(
    "chart",
    [
        day_bars("calls", "Calls per day", [(d, 0) for d in WEEK]),
        day_bars("calls", "Calls per day", []),
        hour_bars("hours", "Busiest hours", [0] * 24),
        category_bars("outcomes", "Outcomes", []),
    ],
)
def test_charts_with_no_data_are_valid_and_say_so(chart: Markup) -> None:
    root = _parsed(chart)
    assert root.find(f"{SVG}desc").text == "Nothing in this period."  # type: ignore[union-attr]
    assert "No data for this period" in _texts(root)
    assert list(root.iter(f"{SVG}rect")) == []


def test_categories_that_all_count_zero_are_listed_with_empty_bars() -> None:
    root = _parsed(category_bars("outcomes", "Outcomes", [("booked", 0), ("transferred", 0)]))
    assert root.find(f"{SVG}desc").text == "Nothing in this period."  # type: ignore[union-attr]
    assert _texts(root) == ["booked", "0", "transferred", "0"]
    assert [float(r.get("width", "-1")) for r in root.iter(f"{SVG}rect")] == [0, 0]


def test_a_day_chart_draws_a_bar_per_day_with_its_figures_in_words() -> None:
    root = _parsed(
        day_bars("calls", "Calls per day", list(zip(WEEK, [3, 0, 12, 1, 0, 0, 4], strict=True)), unit="calls")
    )
    bars = list(root.iter(f"{SVG}rect"))
    assert [b.find(f"{SVG}title").text for b in bars] == [  # type: ignore[union-attr]
        "16 Nov 2026: 3 calls",
        "18 Nov 2026: 12 calls",
        "19 Nov 2026: 1 calls",
        "22 Nov 2026: 4 calls",
    ]
    heights = [float(b.get("height", "0")) for b in bars]
    assert heights[1] == max(heights) and heights[1] > 3 * heights[0]
    desc = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert desc == "16 Nov 2026 to 22 Nov 2026: 20 calls in all; the most, 12 calls, on 18 Nov 2026."
    assert "16 Nov" in _texts(root) and "0" in _texts(root)


def test_a_year_of_days_fits_and_labels_only_some_days() -> None:
    year = [(date(2026, 1, 1) + timedelta(days=i), Decimal(i % 7) * Decimal("10.25")) for i in range(366)]
    root = _parsed(day_bars("revenue", "Recovered revenue", year, unit="USD"))
    day_labels = [t for t in _texts(root) if t[:1].isdigit() and " " in t]
    assert 4 <= len(day_labels) <= 8
    assert "61.50 USD" in root.find(f"{SVG}desc").text  # type: ignore[union-attr]


def test_hour_bars_name_the_busiest_hour() -> None:
    by_hour = [0] * 24
    by_hour[9], by_hour[14] = 7, 3
    root = _parsed(hour_bars("hours", "Conversations by hour", by_hour))
    desc = root.find(f"{SVG}desc").text  # type: ignore[union-attr]
    assert desc == "10 in all; the busiest hour, 09:00 to 10:00, had 7."
    assert {"00", "09", "21"} <= set(_texts(root))
    with pytest.raises(ValueError, match="24 hours"):
        hour_bars("hours", "Conversations by hour", [1, 2])


def test_labels_are_escaped() -> None:
    chart = category_bars(ATTACK, ATTACK, [(ATTACK, 3), ("booked & paid", 1)])
    assert "<script" not in str(chart)
    root = _parsed(chart)
    assert root.find(f"{SVG}title").text == ATTACK  # type: ignore[union-attr]  # shown as text, not run
    assert root.get("aria-labelledby") == "chart-script-alert-x-script-title"
    assert "booked & paid" in _texts(root)
    assert ATTACK in {"".join(b.itertext()).split(":")[0] for b in root.iter(f"{SVG}rect")}
    day = day_bars("d", ATTACK, [(WEEK[0], 1)], unit=ATTACK)
    assert "<script" not in str(day)
    _parsed(day)


def test_the_data_table_is_escaped_and_headed() -> None:
    table = data_table(ATTACK, ["Day", "Calls"], [[WEEK[0], 1234], [ATTACK, Decimal("5.5")]])
    assert "<script" not in str(table)
    root = ET.fromstring(str(table))  # noqa: S314
    assert root.find("caption").text == ATTACK  # type: ignore[union-attr]
    assert [th.get("scope") for th in root.iter("th")] == ["col", "col", "row", "row"]
    assert [td.text for td in root.iter("td")] == ["1,234", "5.50"]
    assert root.find("tbody/tr/th").text == "2026-11-16"  # type: ignore[union-attr]


# -- CSV ------------------------------------------------------------------------------------------


def _read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


def test_cells_a_spreadsheet_would_run_are_quoted() -> None:
    dangerous = ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://evil","x")']
    text = to_csv(["question"], [[cell] for cell in dangerous] + [["what's this?"], ["a, b"], ["1 = 1"]])
    rows = _read(text)
    assert [row[0] for row in rows[1:8]] == ["'" + cell for cell in dangerous]
    assert [row[0] for row in rows[8:]] == ["what's this?", "a, b", "1 = 1"]  # the rest untouched
    assert text.endswith("\r\n")


def test_numbers_stay_numbers_and_the_header_is_safe_too() -> None:
    rows = _read(to_csv(["=cmd", "n"], [[-3, Decimal("-1.50")], [None, 0]]))
    assert rows == [["'=cmd", "n"], ["-3", "-1.50"], ["", "0"]]


def _report() -> Analytics:
    days = tuple(
        Day(
            day=date(2026, 11, 16) + timedelta(days=i),
            calls=i,
            texts=1,
            web_chats=0,
            handled=i,
            bookings=0,
            messages_taken=0,
            recovered_checkouts=0,
            recovered_revenue={"EUR": Decimal("0.00"), "USD": Decimal("12.50") if i == 1 else Decimal("0.00")},
        )
        for i in range(2)
    )
    topic = Topic("parking", 2, "=cmd|' /C calc'!A0 where do I park?", "/dashboard/knowledge/new?question=x")
    return Analytics(
        shop="Northside", timezone="America/Chicago", since=date(2026, 11, 16), until=date(2026, 11, 18),
        currencies=("EUR", "USD"), days=days, outcomes={}, by_hour=(0,) * 24, busiest_hours=(HourCount(9, 1),),
        unanswered=2, topics=(topic,), more_topics=0,
    )  # fmt: skip


def test_analytics_export_has_a_row_per_day_and_a_column_per_currency() -> None:
    rows = _read(analytics_csv(_report()))
    assert rows == [
        ["date", "calls", "texts", "web_chats", "handled", "bookings", "messages_taken", "recovered_checkouts",
         "recovered_revenue_EUR", "recovered_revenue_USD"],
        ["2026-11-16", "0", "1", "0", "0", "0", "0", "0", "0.00", "0.00"],
        ["2026-11-17", "1", "1", "0", "1", "0", "0", "0", "0.00", "12.50"],
    ]  # fmt: skip


def test_a_callers_question_in_the_topics_export_cannot_run() -> None:
    rows = _read(topics_csv(_report()))
    assert rows == [["topic", "count", "example"], ["parking", "2", "'=cmd|' /C calc'!A0 where do I park?"]]
