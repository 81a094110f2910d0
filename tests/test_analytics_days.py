"""Kept days: the analytics of closed days read from their kept counts agree with counting them
again; open days, a shop's new zone and days the job has not kept yet are always counted live."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta

from sqlalchemy import func, select, update

from sera.bootstrap import Sera
from sera.reports.analytics import analytics
from sera.reports.rollups import KEEP_DAYS, keep_closed_days, keep_every_shops_days
from sera.storage.models import AnalyticsDay, Merchant
from tests.conftest import FakeClock, Personas
from tests.test_analytics import MONDAY, _at, _conversations, _seed_week

NEXT_MONDAY = date(2026, 11, 23)


def _report(sera: Sera, merchant_id: str, since: date = MONDAY, until: date = date(2026, 11, 28)) -> dict[str, object]:
    with sera.uow(merchant_id, readonly=True) as reader:
        return dataclasses.asdict(analytics(reader, since, until))


def _kept(sera: Sera, merchant_id: str) -> int:
    with sera.uow(merchant_id, readonly=True) as reader:
        return int(
            reader.session.execute(
                select(func.count()).select_from(AnalyticsDay).where(AnalyticsDay.merchant_id == merchant_id)
            ).scalar_one()
        )


def test_kept_days_give_the_same_figures_as_counting_again(sera: Sera, personas: Personas) -> None:
    _seed_week(sera, personas.northside_id)
    live = _report(sera, personas.northside_id)
    written = keep_every_shops_days(sera)
    # today (Friday 27 November in Chicago) and yesterday are open: every closed day of a year, per shop
    assert _kept(sera, personas.northside_id) == KEEP_DAYS and written == 2 * KEEP_DAYS
    assert _report(sera, personas.northside_id) == live
    assert keep_every_shops_days(sera) == 0  # kept once


def test_open_days_are_counted_live(sera: Sera, personas: Personas, clock: FakeClock) -> None:
    _seed_week(sera, personas.northside_id)
    keep_every_shops_days(sera)
    thursday, friday = date(2026, 11, 26), date(2026, 11, 27)
    _conversations(
        sera,
        personas.northside_id,
        [(_at(thursday, 9), "voice", "inbound", "booked"), (_at(friday, 9), "voice", "inbound", "knowledge")],
    )
    report = _report(sera, personas.northside_id, since=thursday, until=friday + timedelta(days=1))
    assert [day["calls"] for day in report["days"]] == [1, 1]  # type: ignore[index]
    clock.advance(days=2)  # Thursday is closed now: kept by the next run, with its call
    with sera.uow(personas.northside_id) as uow:
        assert keep_closed_days(uow, now=clock()) == 2
        uow.commit()
    assert [
        day["calls"] for day in _report(sera, personas.northside_id, thursday, friday + timedelta(days=1))["days"]
    ] == [1, 1]  # type: ignore[index]


def test_days_kept_in_an_old_zone_are_counted_again_in_the_new_one(sera: Sera, personas: Personas) -> None:
    _seed_week(sera, personas.northside_id)
    keep_every_shops_days(sera)
    with sera.uow(personas.northside_id) as uow:
        uow.session.execute(
            update(Merchant).where(Merchant.id == personas.northside_id).values(timezone="Europe/London")
        )
        uow.commit()
    london = _report(sera, personas.northside_id)  # live: the kept Chicago days are not London's
    assert london["timezone"] == "Europe/London"
    # 09:10 and 09:40 in Chicago are 15:10 and 15:40 in London: the hours moved with the zone
    assert london["by_hour"][15] >= 2  # type: ignore[index]
    keep_every_shops_days(sera)
    assert _report(sera, personas.northside_id) == london
    for merchant_id, zone in ((personas.northside_id, "Europe/London"), (personas.southside_id, "America/New_York")):
        with sera.uow(merchant_id, readonly=True) as reader:
            kept = reader.session.execute(select(AnalyticsDay.timezone).where(AnalyticsDay.merchant_id == merchant_id))
            assert set(kept.scalars()) == {zone}  # the old zone's days went; Southside's are untouched


def test_a_shops_kept_days_are_its_own(sera: Sera, personas: Personas) -> None:
    _seed_week(sera, personas.northside_id)
    keep_every_shops_days(sera)
    southside = _report(sera, personas.southside_id)
    assert sum(day["calls"] for day in southside["days"]) == 0  # type: ignore[attr-defined]
    assert southside["outcomes"] == {}
