"""Analytics: charts rendered on the server as SVG, each with its table, and CSV.

The period is chosen by a GET form, so a period is a link that can be kept or shared: the last 7,
30 or 90 days up to today (the shop's today), or two dates, both included, at most a year apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from markupsafe import Markup

from sera.bootstrap import Sera
from sera.reports.analytics import MAX_DAYS, Analytics, PeriodError, analytics, check_period
from sera.web.api.deps import SeraDep
from sera.web.dashboard import charts
from sera.web.dashboard.access import Allowed, DashboardUser
from sera.web.dashboard.calls import OUTCOME_LABELS  # the same words for an outcome on every page
from sera.web.dashboard.csv_export import analytics_csv, topics_csv
from sera.web.dashboard.render import render

router = APIRouter()

LAST_DAYS = (7, 30, 90)
DEFAULT_DAYS = 30
DATES = "dates"  # the period choice that reads the two dates
EXPORTS = ("days", "topics")

Choice = Annotated[str | None, Query(max_length=8)]
DateText = Annotated[str | None, Query(alias="from", max_length=10)]
UntilText = Annotated[str | None, Query(alias="to", max_length=10)]


class PeriodInputError(ValueError):
    """A period the form cannot show: which field is wrong, and why in words."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Period:
    choice: str  # "7", "30", "90" or DATES
    since: date
    last: date  # included

    @property
    def until(self) -> date:
        return self.last + timedelta(days=1)

    @property
    def query(self) -> dict[str, str]:
        if self.choice == DATES:
            return {"period": DATES, "from": self.since.isoformat(), "to": self.last.isoformat()}
        return {"period": self.choice}

    @property
    def days(self) -> int:
        return (self.until - self.since).days


def choose_period(choice: str | None, since_text: str | None, last_text: str | None, today: date) -> Period:
    """The period the form asks for; two dates with no choice (a link) mean those dates."""
    since_text, last_text = (since_text or "").strip(), (last_text or "").strip()
    if not choice:
        choice = DATES if since_text or last_text else str(DEFAULT_DAYS)
    if choice != DATES:
        if choice not in {str(n) for n in LAST_DAYS}:
            raise PeriodInputError("period", "choose one of the periods in the list")
        days = int(choice)
        return Period(choice, today - timedelta(days=days - 1), today)
    since = _parse_date("from", since_text)
    last = _parse_date("to", last_text)
    if last < since:
        raise PeriodInputError("to", "the last day must be on or after the first day")
    try:
        check_period(since, last + timedelta(days=1))
    except PeriodError:
        raise PeriodInputError("to", f"a period is at most {MAX_DAYS} days: choose a shorter one") from None
    return Period(DATES, since, last)


def _parse_date(field: str, text: str) -> date:
    if not text:
        raise PeriodInputError(field, "enter a date (year-month-day)")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise PeriodInputError(field, "enter a date as year-month-day, e.g. 2026-11-01") from None


def shop_today(sera: Sera, zone: str) -> date:
    return sera.clock().astimezone(ZoneInfo(zone)).date()


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    svg: Markup
    table: Markup


def day_chart(report: Analytics, key: str, title: str, metric: str, unit: str) -> Chart:
    points = [(day.day, day.metric(metric)) for day in report.days]
    return Chart(
        key,
        title,
        charts.day_bars(key, title, points, unit=unit),
        charts.data_table(title, ["Day", title], points),
    )


def revenue_charts(report: Analytics) -> list[Chart]:
    found = []
    for currency in report.currencies:
        title = f"Revenue from recovered checkouts ({currency})"
        points = [(day.day, day.recovered_revenue[currency]) for day in report.days]
        rows = [(day.day, day.recovered_checkouts, day.recovered_revenue[currency]) for day in report.days]
        found.append(
            Chart(
                f"revenue-{currency}",
                title,
                charts.day_bars(f"revenue-{currency}", title, points, unit=currency),
                charts.data_table(title, ["Day", "Recovered checkouts", f"Revenue ({currency})"], rows),
            )
        )
    return found


def outcome_chart(report: Analytics) -> Chart:
    title = "How conversations ended"
    items = [(OUTCOME_LABELS.get(name, name.replace("_", " ").capitalize()), n) for name, n in report.outcomes.items()]
    ended = report.ended
    rows = [(label, n, f"{round(100 * n / ended)}%" if ended else "") for label, n in items]
    return Chart(
        "outcomes",
        title,
        charts.category_bars("outcomes", title, items, unit="conversations"),
        charts.data_table(title, ["Outcome", "Conversations", "Share"], rows),
    )


def hour_chart(report: Analytics) -> Chart:
    title = "Conversations started by customers, per hour of the day"
    rows = [(f"{h:02d}:00 to {(h + 1) % 24:02d}:00", n) for h, n in enumerate(report.by_hour)]
    return Chart(
        "hours",
        title,
        charts.hour_bars("hours", title, report.by_hour, unit="conversations"),
        charts.data_table(title, ["Hour (shop time)", "Conversations"], rows),
    )


def handled_share(report: Analytics) -> int | None:
    """Per cent of the period's ended conversations the agent handled without a person."""
    return round(100 * report.total("handled") / report.ended) if report.ended else None


def _page(
    request: Request,
    sera: Sera,
    user: DashboardUser,
    period: Period | None,
    error: PeriodInputError | None,
    form: dict[str, str],
) -> Response:
    report = None
    if period is not None:
        with sera.uow(user.merchant_id, readonly=True) as reader:
            report = analytics(reader, period.since, period.until)
    context: dict[str, Any] = {
        "period": period,
        "form": form,
        "error": error,
        "report": report,
        "last_days": LAST_DAYS,
        "dates": DATES,
        "max_days": MAX_DAYS,
    }
    if report is not None and period is not None:
        context |= {
            "day_charts": [
                day_chart(report, "calls", "Calls per day", "calls", "calls"),
                day_chart(report, "handled", "Conversations handled without a person", "handled", "conversations"),
                day_chart(report, "bookings", "Bookings made by the agent", "bookings", "bookings"),
            ],
            "revenue_charts": revenue_charts(report),
            "outcomes": outcome_chart(report),
            "hours": hour_chart(report),
            "handled_share": handled_share(report),
            "csv_days": "/dashboard/analytics.csv?" + urlencode(period.query),
            "csv_topics": "/dashboard/analytics.csv?" + urlencode({**period.query, "table": "topics"}),
        }
    # a history restore asks for the whole page, though it comes from htmx
    restoring = request.headers.get("hx-history-restore-request") == "true"
    return render(
        request,
        "dashboard/analytics.html",
        user=user,
        title="Analytics",
        zone=user.session.timezone,
        partial=None if restoring else "dashboard/_analytics_results.html",
        status_code=422 if error else 200,
        **context,
    )


@router.get("/analytics")
def analytics_page(
    request: Request,
    sera: SeraDep,
    user: Allowed("analytics.read"),  # type: ignore[valid-type]
    period: Choice = None,
    since: DateText = None,
    last: UntilText = None,
) -> Response:
    form = {"period": period or "", "from": since or "", "to": last or ""}
    try:
        chosen = choose_period(period, since, last, shop_today(sera, user.session.timezone))
    except PeriodInputError as error:
        return _page(request, sera, user, None, error, form)
    form = {"period": chosen.choice, "from": chosen.since.isoformat(), "to": chosen.last.isoformat()}
    return _page(request, sera, user, chosen, None, form)


@router.get("/analytics.csv")
def analytics_export(
    request: Request,
    sera: SeraDep,
    user: Allowed("analytics.export"),  # type: ignore[valid-type]
    period: Choice = None,
    since: DateText = None,
    last: UntilText = None,
    table: Annotated[str, Query(max_length=8)] = "days",
) -> Response:
    try:
        chosen = choose_period(period, since, last, shop_today(sera, user.session.timezone))
        if table not in EXPORTS:
            raise PeriodInputError("table", "there is no such table to export")
    except PeriodInputError as error:
        return render(
            request,
            "dashboard/error.html",
            user=user,
            title="Nothing to export",
            message=error.message,
            status_code=422,
        )
    with sera.uow(user.merchant_id, readonly=True) as reader:
        report = analytics(reader, chosen.since, chosen.until)
    body = analytics_csv(report) if table == "days" else topics_csv(report)
    name = f"analytics-{'questions-' if table == 'topics' else ''}{chosen.since}-to-{chosen.last}.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
