"""A shop's analytics over any period of up to a year: what the dashboard's Analytics page shows.

Per local day (the shop's time zone, DST included): conversations by channel, those the agent
handled without a person, bookings it made, messages it took, checkouts it recovered and their
revenue; over the period: outcomes, conversations per local hour, and the questions it could
not answer grouped into topics. Counts only, like the weekly report, and from the same
aggregates (``sera.reports.aggregates``): the two agree over any week.

"Handled without a person" is a conversation that ended with something the agent did itself:
not handed to the team (``transferred``, a ``message`` taken), not left without an outcome
(``abandoned``, ``voicemail``, none recorded): ``sera.reports.aggregates.NOT_HANDLED``.
"""

from __future__ import annotations

import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from sera.reports.questions import questions_between
from sera.reports.rollups import DayCounts, days_between
from sera.reports.service import MAX_TOPICS, HourCount, Topic, busiest_hours, question_topics
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant, UnansweredQuestion

MAX_DAYS = 366
CENT = Decimal("0.01")

# The per-day figures, in the order a table or an export lists them: (attribute, label).
METRICS: tuple[tuple[str, str], ...] = (
    ("calls", "Calls"),
    ("texts", "Text conversations"),
    ("web_chats", "Web chats"),
    ("handled", "Handled without a person"),
    ("bookings", "Bookings by the agent"),
    ("messages_taken", "Messages taken"),
    ("recovered_checkouts", "Recovered checkouts"),
)

_METRIC_NAMES = frozenset(name for name, _ in METRICS)


class PeriodError(ValueError):
    """A period that is empty, reversed, or longer than ``MAX_DAYS``."""


@dataclass(frozen=True)
class Day:
    day: date  # local to the shop
    calls: int  # voice conversations, both directions
    texts: int  # SMS conversations
    web_chats: int
    handled: int  # conversations that ended handled without a person
    bookings: int  # appointments the agent made
    messages_taken: int
    recovered_checkouts: int
    recovered_revenue: dict[str, Decimal]  # per currency, every currency of the period (0 when none)

    def metric(self, name: str) -> int:
        if name not in _METRIC_NAMES:
            raise KeyError(name)
        value: int = getattr(self, name)
        return value


@dataclass(frozen=True)
class Analytics:
    shop: str
    timezone: str
    since: date
    until: date  # exclusive
    currencies: tuple[str, ...]  # of the recovered revenue; the shop's own when nothing was recovered
    days: tuple[Day, ...]  # every day of the period, those without activity too
    outcomes: dict[str, int]  # ended conversations per outcome, the most frequent first
    by_hour: tuple[int, ...]  # conversations customers started, per local hour 0-23
    busiest_hours: tuple[HourCount, ...]
    unanswered: int
    topics: tuple[Topic, ...]
    more_topics: int  # topics beyond those listed

    def total(self, metric: str) -> int:
        return sum(day.metric(metric) for day in self.days)

    @property
    def recovered_revenue(self) -> dict[str, Decimal]:
        return {c: sum((day.recovered_revenue[c] for day in self.days), Decimal("0.00")) for c in self.currencies}

    @property
    def ended(self) -> int:
        """Conversations of the period that ended (those with an outcome)."""
        return sum(self.outcomes.values())


def check_period(since: date, until: date) -> None:
    if until <= since:
        raise PeriodError(f"the period must end after it starts ({since} to {until})")
    if (until - since).days > MAX_DAYS:
        raise PeriodError(f"a period is at most {MAX_DAYS} days; {since} to {until} is {(until - since).days}")


def analytics(uow: UnitOfWork, since: date, until: date) -> Analytics:
    """The shop's figures for the local days ``since`` up to, not including, ``until``."""
    check_period(since, until)
    merchant = uow.session.execute(
        select(Merchant.name, Merchant.timezone, Merchant.currency).where(Merchant.id == uow.merchant_id)
    ).one()
    zone = ZoneInfo(merchant.timezone)
    starts = datetime.combine(since, time(), zone)
    ends = datetime.combine(until, time(), zone)

    counted = days_between(uow, since, until, zone)
    none = DayCounts()

    currencies = tuple(sorted({c for day in counted.values() for c, _ in day.recovered_cents})) or (merchant.currency,)

    days = tuple(
        Day(
            day=d,
            calls=counted.get(d, none).calls,
            texts=counted.get(d, none).texts,
            web_chats=counted.get(d, none).web_chats,
            handled=counted.get(d, none).handled,
            bookings=counted.get(d, none).bookings,
            messages_taken=counted.get(d, none).messages_taken,
            recovered_checkouts=counted.get(d, none).recovered,
            recovered_revenue={
                c: (Decimal(dict(counted.get(d, none).recovered_cents).get(c, 0)) / 100).quantize(CENT)
                for c in currencies
            },
        )
        for d in (since + timedelta(days=i) for i in range((until - since).days))
    )
    by_hour = [sum(day.by_hour[h] for day in counted.values()) for h in range(24)]
    outcomes: Counter[str] = Counter()
    for day in counted.values():
        outcomes.update(dict(day.outcomes))
    unanswered, topics = _topics(uow, starts, ends)
    return Analytics(
        shop=merchant.name,
        timezone=merchant.timezone,
        since=since,
        until=until,
        currencies=currencies,
        days=days,
        outcomes=dict(sorted(outcomes.items(), key=lambda item: (-item[1], item[0]))),
        by_hour=tuple(by_hour),
        busiest_hours=tuple(busiest_hours(by_hour)),
        unanswered=unanswered,
        topics=tuple(topics[:MAX_TOPICS]),
        more_topics=max(0, len(topics) - MAX_TOPICS),
    )


# The topics of a period's questions, kept while the questions are the same ones (their number
# and newest id): grouping re-reads, opens and compares every question of the period.
_TOPICS_KEPT = 32
_topics_kept: OrderedDict[tuple[object, ...], tuple[int, list[Topic]]] = OrderedDict()
_topics_lock = threading.Lock()


def _topics(uow: UnitOfWork, starts: datetime, ends: datetime) -> tuple[int, list[Topic]]:
    period = (
        UnansweredQuestion.merchant_id == uow.merchant_id,
        UnansweredQuestion.asked_at >= starts,
        UnansweredQuestion.asked_at < ends,
    )
    count, newest = uow.session.execute(select(func.count(), func.max(UnansweredQuestion.id)).where(*period)).one()
    key = (uow.merchant_id, starts, ends, count, newest)
    with _topics_lock:
        if key in _topics_kept:
            _topics_kept.move_to_end(key)
            return _topics_kept[key]
    questions = questions_between(uow, starts, ends)
    found = (len(questions), question_topics(questions))
    with _topics_lock:
        _topics_kept[key] = found
        while len(_topics_kept) > _TOPICS_KEPT:
            _topics_kept.popitem(last=False)
    return found
