"""A shop's activity counted over a window, by aggregate SQL, into its local hours and days.

One definition of each figure, read by the weekly report and by the analytics page alike.

The database knows no time zones (SQLite), so rows are counted per slice of UTC time in SQL
(``GROUP BY`` the slice, a conditional count per figure) and each slice is put in its local
hour and day here. A slice never straddles a local hour: it is an hour long when every UTC offset the zone
has in the window is whole hours (America/Chicago, across its DST changes too), and half or a
quarter of one when not (Asia/Kolkata, Asia/Kathmandu). So the rows read grow with the
length of the window (a year: at most 24 * 366 rows a query, in most zones), not with the
number of calls.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import BigInteger, Integer, String, and_, case, cast, func, literal_column, select

from sera.storage.database import UnitOfWork
from sera.storage.models import Appointment, Call, Message, Ticket

HOUR_S = 3600
# Outcomes of a conversation the agent did not handle by itself: handed to the team, or none.
NOT_HANDLED = ("transferred", "message", "abandoned", "voicemail")


@dataclass(frozen=True)
class Window:
    """[since, until) in the shop's zone, and the length of the slices SQL counts in."""

    since: datetime
    until: datetime
    zone: ZoneInfo
    slice_s: int


def window(since: datetime, until: datetime, zone: ZoneInfo) -> Window:
    return Window(since, until, zone, slice_seconds(since, until, zone))


def slice_seconds(since: datetime, until: datetime, zone: ZoneInfo) -> int:
    """The longest slice, at most an hour, that divides every UTC offset of ``zone`` in the window.

    Offsets are read at both ends and at each local midnight between: a change of offset
    shows at the next midnight at the latest."""
    first, last = since.astimezone(zone).date(), until.astimezone(zone).date()
    moments = [since, until]
    moments += [datetime.combine(first + timedelta(days=i), time(), zone) for i in range((last - first).days + 1)]
    seconds = HOUR_S
    for moment in moments:
        offset = moment.astimezone(zone).utcoffset() or timedelta()
        seconds = math.gcd(seconds, int(offset.total_seconds()))
    return seconds


@dataclass(frozen=True)
class Tally:
    """What one slice of time holds: a count per name (``all``: every row of it)."""

    at: datetime  # the slice's start, in the shop's zone
    counts: dict[str, int]


def count_slices(
    uow: UnitOfWork, model: Any, column: Any, win: Window, *where: Any, count: Mapping[str, Any] | None = None
) -> list[Tally]:
    """The merchant's rows of ``model`` whose ``column`` is in the window, counted per slice: all
    of them, and those meeting each named condition of ``count`` (one row per slice, however
    many conditions)."""
    named = dict(count or {})
    if uow.session.get_bind().dialect.name == "sqlite":
        epoch = cast(func.strftime("%s", column), Integer)  # whole seconds, rounded down
    else:  # extract gives fractions, and a cast to an integer would round them up half the time
        epoch = cast(func.floor(func.extract("epoch", column)), BigInteger)
    piece = (epoch // literal_column(str(win.slice_s), Integer)).label("piece")  # whole slices
    sums = [func.sum(case((condition, 1), else_=0)) for condition in named.values()]
    rows = uow.session.execute(
        select(piece, func.count(), *sums)
        .where(model.merchant_id == uow.merchant_id, column >= win.since, column < win.until, *where)
        .group_by(piece)
    ).all()
    names = ["all", *named]
    return [
        Tally(
            datetime.fromtimestamp(int(row[0]) * win.slice_s, win.zone),
            {n: int(v or 0) for n, v in zip(names, row[1:], strict=True)},
        )
        for row in rows
    ]


# -- folding the slices --------------------------------------------------------------------------


def total(tallies: Iterable[Tally], name: str = "all") -> int:
    return sum(tally.counts[name] for tally in tallies)


def per_day(tallies: Iterable[Tally], name: str = "all") -> Counter[date]:
    """The ``name`` counts per local day."""
    counted: Counter[date] = Counter()
    for tally in tallies:
        counted[tally.at.date()] += tally.counts[name]
    return counted


def per_hour(tallies: Iterable[Tally], name: str = "all") -> list[int]:
    """The ``name`` counts per local hour of the day, 0-23."""
    hours = [0] * 24
    for tally in tallies:
        hours[tally.at.hour] += tally.counts[name]
    return hours


# -- the figures ---------------------------------------------------------------------------------


def conversations(uow: UnitOfWork, win: Window) -> list[Tally]:
    """Conversations (calls, SMS threads, web chats) by when they started: ``all``, by channel
    and direction (``voice_inbound``, ``voice_outbound``, ``sms``, ``web``, ``inbound``), and
    those the agent ``handled`` without a person."""
    return count_slices(
        uow,
        Call,
        Call.started_at,
        win,
        count={
            "voice_inbound": and_(Call.channel == "voice", Call.direction == "inbound"),
            "voice_outbound": and_(Call.channel == "voice", Call.direction == "outbound"),
            "sms": Call.channel == "sms",
            "web": Call.channel == "web",
            "inbound": Call.direction == "inbound",
            "handled": and_(Call.ended_at.is_not(None), Call.outcome.is_not(None), Call.outcome.not_in(NOT_HANDLED)),
        },
    )


def outcome_counts(uow: UnitOfWork, win: Window) -> dict[str, int]:
    """Ended conversations per outcome, by when they started, the most frequent first."""
    rows = uow.session.execute(
        select(Call.outcome, func.count())
        .where(Call.merchant_id == uow.merchant_id, Call.started_at >= win.since, Call.started_at < win.until)
        .where(Call.ended_at.is_not(None))
        .group_by(Call.outcome)
    ).all()
    counted: Counter[str] = Counter()
    for outcome, n in rows:
        counted[outcome or "unknown"] += int(n)
    return dict(sorted(counted.items(), key=lambda item: (-item[1], item[0])))


def text_messages(uow: UnitOfWork, win: Window) -> list[Tally]:
    """Messages sent and received: ``all``, ``inbound``, ``outbound``."""
    return count_slices(
        uow,
        Message,
        Message.created_at,
        win,
        count={"inbound": Message.direction == "inbound", "outbound": Message.direction == "outbound"},
    )


def agent_bookings(uow: UnitOfWork, win: Window) -> list[Tally]:
    """Appointments the agent made, by when it made them."""
    return count_slices(uow, Appointment, Appointment.created_at, win, Appointment.source == "agent")


def messages_taken(uow: UnitOfWork, win: Window) -> list[Tally]:
    """Messages the agent took for the team to call back (tickets tagged ``callback``)."""
    return count_slices(
        uow,
        Ticket,
        Ticket.created_at,
        win,
        Ticket.source == "agent",
        cast(Ticket.tags, String).like('%"callback"%'),
    )
