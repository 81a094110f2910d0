"""Analytics over any period: per local day in the shop's zone (DST included), the same figures
as the weekly report, another shop's activity never in them."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from sera.booking.service import book_appointment
from sera.bootstrap import Sera
from sera.calls.service import end_call, start_call
from sera.checkouts.service import CheckoutData, complete_checkout, record_checkout
from sera.outbound.drafts import RECOVERY, recovery_key
from sera.reports.aggregates import slice_seconds
from sera.reports.analytics import MAX_DAYS, PeriodError, analytics
from sera.reports.questions import record_unanswered
from sera.reports.service import parse_week, weekly_report
from sera.storage.models import OutboundAction, new_id
from sera.support.service import create_ticket
from sera.web.dashboard.csv_export import analytics_csv
from tests.conftest import Personas

CHICAGO = ZoneInfo("America/Chicago")
MONDAY, TUESDAY, WEDNESDAY = date(2026, 11, 16), date(2026, 11, 17), date(2026, 11, 18)  # ISO week 2026-W47
Conversation = tuple[datetime, str, str, str | None]  # started (UTC), channel, direction, outcome (None: not ended)


def _conversations(sera: Sera, merchant_id: str, seen: list[Conversation]) -> None:
    with sera.uow(merchant_id) as uow:
        for at, channel, direction, outcome in seen:
            call = start_call(
                uow, channel=channel, direction=direction, provider="local", from_number="+13125550142",
                to_number=None, started_at=at, customer_id=None, provider_call_id=uuid.uuid4().hex,
            )  # fmt: skip
            if outcome is not None:
                end_call(uow, call, ended_at=at + timedelta(minutes=2), outcome=outcome)
        uow.commit()


def _recovered_checkout(sera: Sera, merchant_id: str, *, texted: datetime, ordered: datetime, cents: int) -> None:
    """A checkout left, a recovery text sent, and the order placed after it."""
    external_id = uuid.uuid4().hex
    with sera.uow(merchant_id) as uow:
        data = CheckoutData(
            source="shopify", external_id=external_id, updated_at=texted - timedelta(hours=1),
            token=external_id, total_cents=cents, currency="USD",
        )  # fmt: skip
        checkout_id = record_checkout(uow, data, now=texted - timedelta(hours=1)).checkout_id
        uow.session.add(
            OutboundAction(
                id=new_id("out"),
                merchant_id=merchant_id,
                kind=RECOVERY,
                channel="sms",
                subject_id=checkout_id,
                status="sent",
                due_at=texted,
                idempotency_key=recovery_key(checkout_id, 1),
                created_at=texted,
                updated_at=texted,
                sent_at=texted,
            )
        )
        complete_checkout(
            uow, source="shopify", external_id=external_id, token=external_id, order_ref=uuid.uuid4().hex,
            completed_at=ordered, now=ordered,
        )  # fmt: skip
        uow.commit()


def _per_day(sera: Sera, merchant_id: str, since: date, until: date, metric: str) -> dict[date, int]:
    with sera.uow(merchant_id, readonly=True) as uow:
        report = analytics(uow, since, until)
    return {day.day: day.metric(metric) for day in report.days}


# -- days in the shop's zone ---------------------------------------------------------------------


def test_days_are_the_shops_local_days_when_the_clocks_go_back(sera: Sera, personas: Personas) -> None:
    # Chicago leaves DST at 02:00 on Sunday 1 November 2026: that day lasts 25 hours.
    utc = [
        datetime(2026, 10, 30, 4, 59, tzinfo=UTC),  # Thursday 23:59 CDT: before the period
        datetime(2026, 10, 31, 4, 30, tzinfo=UTC),  # Friday 23:30 CDT
        datetime(2026, 10, 31, 5, 30, tzinfo=UTC),  # Saturday 00:30 CDT
        datetime(2026, 11, 1, 4, 59, tzinfo=UTC),  # Saturday 23:59 CDT
        datetime(2026, 11, 1, 5, 0, tzinfo=UTC),  # Sunday 00:00 CDT
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),  # Sunday 01:30 CDT
        datetime(2026, 11, 1, 7, 30, tzinfo=UTC),  # Sunday 01:30 again, CST
        datetime(2026, 11, 2, 5, 30, tzinfo=UTC),  # Sunday 23:30 CST (UTC-5 would make it Monday)
        datetime(2026, 11, 2, 6, 0, tzinfo=UTC),  # Monday 00:00 CST
        datetime(2026, 11, 3, 6, 0, tzinfo=UTC),  # Tuesday 00:00 CST: the end of the period, excluded
    ]
    _conversations(sera, personas.northside_id, [(at, "voice", "inbound", "booked") for at in utc])
    with sera.uow(personas.northside_id, readonly=True) as uow:
        report = analytics(uow, date(2026, 10, 30), date(2026, 11, 3))
    assert [(day.day.isoformat(), day.calls) for day in report.days] == [
        ("2026-10-30", 1),
        ("2026-10-31", 2),
        ("2026-11-01", 4),
        ("2026-11-02", 1),
    ]
    assert report.by_hour[1] == 2  # both 01:30s
    assert report.by_hour[23] == 3 and report.by_hour[0] == 3


def test_days_are_the_shops_local_days_when_the_clocks_go_forward(sera: Sera, personas: Personas) -> None:
    # Chicago starts DST at 02:00 on Sunday 8 March 2026: that day lasts 23 hours.
    utc = [
        datetime(2026, 3, 8, 5, 59, tzinfo=UTC),  # Saturday 23:59 CST
        datetime(2026, 3, 8, 6, 0, tzinfo=UTC),  # Sunday 00:00 CST
        datetime(2026, 3, 8, 8, 0, tzinfo=UTC),  # Sunday 03:00 CDT, straight after 01:59 CST
        datetime(2026, 3, 9, 4, 59, tzinfo=UTC),  # Sunday 23:59 CDT (UTC-6 would make it Monday)
        datetime(2026, 3, 9, 5, 0, tzinfo=UTC),  # Monday 00:00 CDT
    ]
    _conversations(sera, personas.northside_id, [(at, "sms", "inbound", "knowledge") for at in utc])
    texts = _per_day(sera, personas.northside_id, date(2026, 3, 7), date(2026, 3, 10), "texts")
    assert texts == {date(2026, 3, 7): 1, date(2026, 3, 8): 3, date(2026, 3, 9): 1}


def test_days_are_right_in_zones_off_the_hour(sera: Sera, personas: Personas) -> None:
    from sera.storage.models import Merchant

    with sera.uow(personas.northside_id) as uow:
        merchant = uow.session.get(Merchant, personas.northside_id)
        assert merchant is not None
        merchant.timezone = "Asia/Kolkata"  # UTC+05:30
        uow.commit()
    utc = [
        datetime(2026, 11, 16, 18, 20, tzinfo=UTC),  # Monday 23:50
        datetime(2026, 11, 16, 18, 45, tzinfo=UTC),  # Tuesday 00:15, in the same UTC hour
    ]
    _conversations(sera, personas.northside_id, [(at, "web", "inbound", "knowledge") for at in utc])
    with sera.uow(personas.northside_id, readonly=True) as uow:
        report = analytics(uow, MONDAY, WEDNESDAY)
    assert [day.web_chats for day in report.days] == [1, 1]
    assert (report.by_hour[23], report.by_hour[0]) == (1, 1)


def test_slices_divide_every_offset_of_the_zone() -> None:
    def seconds(zone: str, since: date = date(2026, 1, 1), days: int = 366) -> int:
        start = datetime(since.year, since.month, since.day, tzinfo=ZoneInfo(zone))
        return slice_seconds(start, start + timedelta(days=days), ZoneInfo(zone))

    assert seconds("America/Chicago") == seconds("UTC") == 3600
    assert seconds("Asia/Kolkata") == 1800 and seconds("Asia/Kathmandu") == 900
    assert seconds("Australia/Lord_Howe", date(2026, 6, 1), 7) == 1800  # +10:30 in winter
    assert seconds("Australia/Lord_Howe", date(2026, 1, 1), 7) == 3600  # +11:00 in summer


# -- the figures -----------------------------------------------------------------------------------


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHICAGO).astimezone(UTC)


def _seed_week(sera: Sera, merchant_id: str, service: str = "Tune-up", start: datetime | None = None) -> None:
    """A week of activity: ``service`` booked by the agent for ``start`` (Wednesday 10:00 by default)."""
    _conversations(
        sera,
        merchant_id,
        [
            (_at(MONDAY, 9, 10), "voice", "inbound", "booked"),
            (_at(MONDAY, 9, 40), "voice", "inbound", "transferred"),
            (_at(MONDAY, 14), "sms", "inbound", "order_status"),
            (_at(TUESDAY, 9, 5), "web", "inbound", "knowledge"),
            (_at(TUESDAY, 11), "voice", "inbound", "message"),
            (_at(TUESDAY, 16), "voice", "outbound", "abandoned"),
            (_at(WEDNESDAY, 10), "voice", "inbound", None),  # still going: no outcome yet
        ],
    )
    with sera.uow(merchant_id) as uow:
        first = start or _at(WEDNESDAY, 10)
        book_appointment(uow, service_name=service, start=first, customer_id=None, now=_at(MONDAY, 9, 12))
        book_appointment(uow, service_name=service, start=first + timedelta(hours=2), customer_id=None,
                         now=_at(MONDAY, 15), source="dashboard")  # made by the team, not the agent  # fmt: skip
        create_ticket(uow, subject="Callback request", description="about a frame", tags=["callback"],
                      customer_id=None, now=_at(TUESDAY, 11, 2))  # fmt: skip
        create_ticket(uow, subject="Repair", description="a squeak", tags=["repair"],
                      customer_id=None, now=_at(TUESDAY, 11, 3))  # fmt: skip
        record_unanswered(uow, question="Can I bring my dog into the shop?", channel="voice",
                          asked_at=_at(TUESDAY, 12), call_id=None, customer_id=None)  # fmt: skip
        uow.commit()
    _recovered_checkout(sera, merchant_id, texted=_at(MONDAY, 20), ordered=_at(TUESDAY, 8), cents=12345)
    _recovered_checkout(sera, merchant_id, texted=_at(TUESDAY, 20), ordered=_at(WEDNESDAY, 23, 30), cents=5000)


def test_the_figures_of_each_day(sera: Sera, personas: Personas) -> None:
    _seed_week(sera, personas.northside_id)
    with sera.uow(personas.northside_id, readonly=True) as uow:
        report = analytics(uow, MONDAY, date(2026, 11, 23))
    days = {day.day: day for day in report.days}
    assert len(report.days) == 7 and report.currencies == ("USD",)
    assert [days[d].calls for d in (MONDAY, TUESDAY, WEDNESDAY)] == [2, 2, 1]
    assert [days[d].texts for d in (MONDAY, TUESDAY)] == [1, 0]
    assert days[TUESDAY].web_chats == 1
    # handled without a person: booked and order status on Monday, knowledge on Tuesday
    assert [days[d].handled for d in (MONDAY, TUESDAY, WEDNESDAY)] == [2, 1, 0]
    assert days[MONDAY].bookings == 1 and report.total("bookings") == 1
    assert days[TUESDAY].messages_taken == 1 and report.total("messages_taken") == 1
    assert [days[d].recovered_checkouts for d in (TUESDAY, WEDNESDAY)] == [1, 1]
    assert days[TUESDAY].recovered_revenue == {"USD": Decimal("123.45")}
    assert days[WEDNESDAY].recovered_revenue == {"USD": Decimal("50.00")}  # 23:30 local, Thursday in UTC
    assert days[MONDAY].recovered_revenue == {"USD": Decimal("0.00")}
    assert report.recovered_revenue == {"USD": Decimal("173.45")}
    assert report.outcomes == {
        "abandoned": 1, "booked": 1, "knowledge": 1, "message": 1, "order_status": 1, "transferred": 1,
    }  # fmt: skip
    assert report.busiest_hours[0].hour == 9 and report.busiest_hours[0].count == 3
    assert report.unanswered == 1 and "dog" in report.topics[0].example

    exported = analytics_csv(report).splitlines()
    assert exported[0] == (
        "date,calls,texts,web_chats,handled,bookings,messages_taken,recovered_checkouts,recovered_revenue_USD"
    )
    assert exported[2] == "2026-11-17,2,0,1,1,0,1,1,123.45"


def test_another_shops_activity_never_appears(sera: Sera, personas: Personas) -> None:
    next_monday = datetime(2026, 11, 23, 10, tzinfo=ZoneInfo("America/New_York"))
    _seed_week(sera, personas.southside_id, "Skate sharpening", next_monday)
    with sera.uow(personas.northside_id, readonly=True) as uow:
        ours = analytics(uow, MONDAY, date(2026, 11, 23))
    for name in ("calls", "texts", "web_chats", "handled", "bookings", "messages_taken", "recovered_checkouts"):
        assert ours.total(name) == 0, name
    assert ours.outcomes == {} and sum(ours.by_hour) == 0 and ours.unanswered == 0 and ours.topics == ()
    assert ours.recovered_revenue == {"USD": Decimal("0.00")}
    with sera.uow(personas.southside_id, readonly=True) as uow:
        theirs = analytics(uow, MONDAY, date(2026, 11, 23))
    assert theirs.total("calls") == 5 and theirs.timezone == "America/New_York"


def test_the_weekly_report_agrees_with_analytics_over_its_week(sera: Sera, personas: Personas) -> None:
    _seed_week(sera, personas.northside_id)
    _conversations(sera, personas.northside_id, [(_at(date(2026, 11, 23), 0, 30), "voice", "inbound", "booked")])
    week = parse_week("2026-W47", CHICAGO)
    with sera.uow(personas.northside_id, readonly=True) as uow:
        weekly = weekly_report(uow, week)
        report = analytics(uow, week.monday, week.monday + timedelta(days=7))
    assert sum(weekly.calls.values()) == report.total("calls") == 5
    assert weekly.texts["conversations"] == report.total("texts")
    assert weekly.web_chats == report.total("web_chats")
    assert weekly.outcomes == report.outcomes
    assert weekly.bookings == report.total("bookings")
    assert weekly.messages_taken == report.total("messages_taken")
    assert weekly.recovered_checkouts == report.total("recovered_checkouts") == 2
    assert {c: Decimal(n) / 100 for c, n in weekly.recovered_revenue.items()} == report.recovered_revenue
    assert tuple(weekly.by_hour) == report.by_hour
    assert tuple(weekly.busiest_hours) == report.busiest_hours
    assert weekly.unanswered == report.unanswered
    assert [(t.label, t.count, t.example) for t in weekly.topics] == [
        (t.label, t.count, t.example) for t in report.topics
    ]


# -- the period -------------------------------------------------------------------------------------


def test_a_period_is_one_day_to_a_year(sera: Sera, personas: Personas) -> None:
    start = date(2026, 1, 1)
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert len(analytics(uow, start, start + timedelta(days=1)).days) == 1
        assert len(analytics(uow, start, start + timedelta(days=MAX_DAYS)).days) == MAX_DAYS
        for until in (start, start - timedelta(days=1), start + timedelta(days=MAX_DAYS + 1)):
            with pytest.raises(PeriodError) as error:
                analytics(uow, start, until)
            assert isinstance(error.value, ValueError) and str(until) in str(error.value)
