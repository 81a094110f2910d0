"""A shop's counts per local day, kept once the day is over, so the analytics page reads a
row per day instead of counting 90 days of conversations on every view.

Invariants:
- a day is kept only once it is closed: it ended more than a day ago in the shop's zone (its
  conversations have ended and have their outcomes); the days after it are always counted live;
- a kept day holds counts only (no ids, no words), computed by the same aggregates as the live
  figures (``sera.reports.aggregates``), so kept and live days agree;
- a kept day belongs to the zone it was counted in: after the shop changes zone it is ignored
  (and counted again in the new one);
- the nightly job keeps the days of the last ``KEEP_DAYS`` for every shop, in bounded batches;
  a day that is missing is counted live, so a page is right before the job ever ran.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, select

from sera.bootstrap import Sera
from sera.calls.service import OUTCOMES
from sera.outbound.report import recoveries
from sera.reports.aggregates import (
    NOT_HANDLED,
    Window,
    agent_bookings,
    count_slices,
    messages_taken,
    per_day,
    window,
)
from sera.storage.database import UnitOfWork
from sera.storage.models import AnalyticsDay, Call, Merchant, new_id

KEEP_DAYS = 366  # the longest period the analytics page shows
BATCH_DAYS = 31  # days counted in one query when keeping


@dataclass(frozen=True)
class DayCounts:
    """One local day's conversation counts: what a period's figures are summed from."""

    calls: int = 0
    texts: int = 0
    web_chats: int = 0
    handled: int = 0
    bookings: int = 0
    messages_taken: int = 0
    by_hour: tuple[int, ...] = (0,) * 24  # conversations customers started, per local hour
    outcomes: tuple[tuple[str, int], ...] = ()  # ended conversations per outcome
    recovered: int = 0  # checkouts completed after a recovery message (the outbound report's rule)
    recovered_cents: tuple[tuple[str, int], ...] = ()  # their totals, per currency

    def as_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "texts": self.texts,
            "web_chats": self.web_chats,
            "handled": self.handled,
            "bookings": self.bookings,
            "messages_taken": self.messages_taken,
            "by_hour": list(self.by_hour),
            "outcomes": dict(self.outcomes),
            "recovered": self.recovered,
            "recovered_cents": dict(self.recovered_cents),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> DayCounts:
        return DayCounts(
            calls=int(data["calls"]),
            texts=int(data["texts"]),
            web_chats=int(data["web_chats"]),
            handled=int(data["handled"]),
            bookings=int(data["bookings"]),
            messages_taken=int(data["messages_taken"]),
            by_hour=tuple(int(n) for n in data["by_hour"]),
            outcomes=tuple(sorted((str(k), int(v)) for k, v in data["outcomes"].items())),
            recovered=int(data["recovered"]),
            recovered_cents=tuple(sorted((str(k), int(v)) for k, v in data["recovered_cents"].items())),
        )


def _outcome_key(outcome: str) -> str:
    return f"outcome:{outcome}"


def count_days(uow: UnitOfWork, win: Window) -> dict[date, DayCounts]:
    """Every local day of the window with activity, counted live."""
    named = {
        "voice": Call.channel == "voice",
        "sms": Call.channel == "sms",
        "web": Call.channel == "web",
        "inbound": Call.direction == "inbound",
        "handled": and_(Call.ended_at.is_not(None), Call.outcome.is_not(None), Call.outcome.not_in(NOT_HANDLED)),
        "unknown_outcome": and_(Call.ended_at.is_not(None), Call.outcome.is_(None)),
        **{_outcome_key(o): and_(Call.ended_at.is_not(None), Call.outcome == o) for o in OUTCOMES},
    }
    talks = count_slices(uow, Call, Call.started_at, win, count=named)
    bookings = per_day(agent_bookings(uow, win))
    taken = per_day(messages_taken(uow, win))
    recovered: Counter[date] = Counter()
    cents: dict[date, Counter[str]] = {}
    for item in recoveries(uow, win.since, win.until):
        local_day = item.completed_at.astimezone(win.zone).date()
        recovered[local_day] += 1
        cents.setdefault(local_day, Counter())[item.currency] += item.amount_cents
    days: dict[date, dict[str, Any]] = {}
    for tally in talks:
        local = tally.at.date()
        day = days.setdefault(local, {"counts": dict.fromkeys(named, 0), "hours": [0] * 24})
        for name, n in tally.counts.items():
            if name != "all":
                day["counts"][name] += n
        day["hours"][tally.at.hour] += tally.counts["inbound"]
    out: dict[date, DayCounts] = {}
    for local in sorted(set(days) | set(bookings) | set(taken) | set(recovered)):
        day = days.get(local, {"counts": dict.fromkeys(named, 0), "hours": [0] * 24})
        counts = day["counts"]
        outcomes = {o: counts[_outcome_key(o)] for o in OUTCOMES if counts[_outcome_key(o)]}
        if counts["unknown_outcome"]:
            outcomes["unknown"] = counts["unknown_outcome"]
        out[local] = DayCounts(
            calls=counts["voice"],
            texts=counts["sms"],
            web_chats=counts["web"],
            handled=counts["handled"],
            bookings=bookings[local],
            messages_taken=taken[local],
            by_hour=tuple(day["hours"]),
            outcomes=tuple(sorted(outcomes.items())),
            recovered=recovered[local],
            recovered_cents=tuple(sorted(cents.get(local, Counter()).items())),
        )
    return out


def closed_before(now: datetime, zone: ZoneInfo) -> date:
    """The first local day that is not closed yet: yesterday (today's and yesterday's
    conversations may still be going on, or waiting for their end)."""
    return now.astimezone(zone).date() - timedelta(days=1)


def kept_days(uow: UnitOfWork, since: date, until: date, zone: ZoneInfo) -> dict[date, DayCounts]:
    rows = uow.session.execute(
        select(AnalyticsDay.day, AnalyticsDay.figures).where(
            AnalyticsDay.merchant_id == uow.merchant_id,
            AnalyticsDay.day >= since,
            AnalyticsDay.day < until,
            AnalyticsDay.timezone == zone.key,
        )
    ).all()
    return {day: DayCounts.from_json(figures) for day, figures in rows}


def days_between(uow: UnitOfWork, since: date, until: date, zone: ZoneInfo) -> dict[date, DayCounts]:
    """Counts for the local days [since, until): kept days as kept, the rest (the open days,
    and any closed day not kept yet) counted live in one window from the first of them."""
    last_closed = min(until, closed_before(uow.now(), zone))
    kept = kept_days(uow, since, last_closed, zone) if since < last_closed else {}
    first_live = since
    while first_live < last_closed and first_live in kept:
        first_live += timedelta(days=1)
    if first_live >= until:
        return kept
    starts = datetime.combine(first_live, time(), zone)
    ends = datetime.combine(until, time(), zone)
    live = count_days(uow, window(starts, ends, zone))
    return {**{d: c for d, c in kept.items() if d < first_live}, **live}


def keep_closed_days(uow: UnitOfWork, *, now: datetime) -> int:
    """Keep the shop's closed days of the last ``KEEP_DAYS`` that are not kept yet (in the
    shop's current zone); returns how many were written. Bounded: at most ``BATCH_DAYS`` a query."""
    zone = ZoneInfo(uow.session.execute(select(Merchant.timezone).where(Merchant.id == uow.merchant_id)).scalar_one())
    until = closed_before(now, zone)
    since = until - timedelta(days=KEEP_DAYS)
    kept = kept_days(uow, since, until, zone)
    uow.session.execute(  # days counted in a zone the shop no longer has
        delete(AnalyticsDay).where(AnalyticsDay.merchant_id == uow.merchant_id, AnalyticsDay.timezone != zone.key)
    )
    written = 0
    day = since
    while day < until:
        if day in kept:
            day += timedelta(days=1)
            continue
        batch_end = min(until, day + timedelta(days=BATCH_DAYS))
        counted = count_days(
            uow, window(datetime.combine(day, time(), zone), datetime.combine(batch_end, time(), zone), zone)
        )
        for local in (day + timedelta(days=i) for i in range((batch_end - day).days)):
            if local in kept:
                continue
            figures = counted.get(local, DayCounts())
            uow.session.add(
                AnalyticsDay(
                    id=new_id("ard"),
                    merchant_id=uow.merchant_id,
                    day=local,
                    timezone=zone.key,
                    figures=figures.as_json(),
                )
            )
            written += 1
        day = batch_end
    return written


def keep_every_shops_days(sera: Sera) -> int:
    """The nightly job: each active shop's closed days kept, one transaction per shop."""
    with sera.uow(readonly=True) as reader:
        shops = reader.session.execute(select(Merchant.id).where(Merchant.status == "active")).scalars().all()
    written = 0
    for merchant_id in shops:
        with sera.uow(merchant_id) as uow:
            written += keep_closed_days(uow, now=sera.clock())
            uow.commit()
    return written
