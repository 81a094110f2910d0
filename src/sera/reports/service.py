"""The weekly report of a shop: what the agent did in one ISO week of the shop's time zone.

Counts only: calls and texts, outcomes, bookings the agent made, messages it took, checkouts
it recovered and their revenue, the busiest hours, customer feedback, and the questions it
could not answer grouped into topics. No customer's name or number is in it: a topic's example
question passes ``scrub`` first. The same data feeds the email, ``sera report`` and the API.

Every figure is computed by aggregate SQL over the week's rows (``sera.reports.aggregates``,
shared with the analytics page; 100,000 calls take well under a second); only the week's
unanswered questions are read one by one, to group them.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import select

from sera.feedback.report import feedback_summary
from sera.outbound.report import recoveries
from sera.reports.aggregates import (
    agent_bookings,
    conversations,
    messages_taken,
    outcome_counts,
    per_hour,
    text_messages,
    total,
    window,
)
from sera.reports.questions import AskedQuestion, questions_between, scrub
from sera.reports.topics import SIMILAR, SIMILAR_WORDS, group, lexical_vectors
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant

WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
BUSIEST = 3  # hours the report names
MAX_TOPICS = 20  # topics a report lists (the rest are counted)
FAQ_PATH = "/dashboard/knowledge/new"


class ReportError(ValueError):
    """A week that is not an ISO week (``2026-W48``)."""


@dataclass(frozen=True)
class Week:
    """An ISO week in a time zone: Monday 00:00 to the next Monday 00:00, local."""

    year: int
    number: int
    zone: ZoneInfo

    @property
    def label(self) -> str:
        return f"{self.year}-W{self.number:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.number, 1)

    @property
    def starts(self) -> datetime:
        return datetime.combine(self.monday, datetime.min.time(), self.zone)

    @property
    def ends(self) -> datetime:
        return datetime.combine(self.monday + timedelta(days=7), datetime.min.time(), self.zone)


def parse_week(text: str, zone: ZoneInfo) -> Week:
    match = WEEK.match(text.strip())
    if match is None:
        raise ReportError(f"{text!r} is not an ISO week: write it like 2026-W48")
    year, number = int(match.group(1)), int(match.group(2))
    try:
        date.fromisocalendar(year, number, 1)
    except ValueError:
        raise ReportError(f"{year} has no week {number}") from None
    return Week(year, number, zone)


def last_week(now: datetime, zone: ZoneInfo) -> Week:
    """The last whole week before ``now``, in the shop's time zone."""
    year, number, _ = (now.astimezone(zone).date() - timedelta(days=7)).isocalendar()
    return Week(year, number, zone)


def shop_zone(uow: UnitOfWork) -> ZoneInfo:
    name = uow.session.execute(select(Merchant.timezone).where(Merchant.id == uow.merchant_id)).scalar_one()
    return ZoneInfo(name)


@dataclass(frozen=True)
class HourCount:
    hour: int  # 0-23, the shop's local time
    count: int


@dataclass(frozen=True)
class FeedbackSection:
    available: bool  # whether the shop's customers are asked for feedback at all
    count: int = 0
    average: float | None = None
    by_score: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Topic:
    label: str
    count: int
    example: str  # a question a caller asked, personal data taken out
    add_faq_path: str  # the dashboard page that adds an FAQ entry for it, relative to the public URL


@dataclass(frozen=True)
class WeeklyReport:
    shop: str
    domain: str
    week: str
    starts: datetime  # local
    ends: datetime
    timezone: str
    calls: dict[str, int]  # voice, by direction
    texts: dict[str, int]  # SMS conversations, and messages by direction
    web_chats: int
    outcomes: dict[str, int]
    bookings: int  # appointments the agent made
    messages_taken: int
    recovered_checkouts: int
    recovered_revenue: dict[str, int]  # cents per currency
    busiest_hours: list[HourCount]
    by_hour: list[int]  # inbound conversations per local hour, 0-23
    feedback: FeedbackSection
    unanswered: int
    topics: list[Topic]
    more_topics: int  # topics beyond those listed

    def as_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        data = asdict(self)
        data["starts"], data["ends"] = self.starts.isoformat(), self.ends.isoformat()
        return data


def weekly_report(uow: UnitOfWork, week: Week) -> WeeklyReport:
    """The shop's report for ``week`` (computed, not stored: it is always the database's truth)."""
    merchant = uow.session.execute(
        select(Merchant.name, Merchant.domain, Merchant.timezone).where(Merchant.id == uow.merchant_id)
    ).one()
    since, until = week.starts, week.ends
    win = window(since, until, week.zone)
    talks = conversations(uow, win)
    calls = {d: total(talks, f"voice_{d}") for d in ("inbound", "outbound")}
    sent = text_messages(uow, win)
    texts = {"conversations": total(talks, "sms"), **{d: total(sent, d) for d in ("inbound", "outbound")}}
    recovered = recoveries(uow, since, until)
    revenue: Counter[str] = Counter()
    for item in recovered:
        revenue[item.currency] += item.amount_cents
    by_hour = per_hour(talks, "inbound")
    questions = questions_between(uow, since, until)
    topics = question_topics(questions)
    return WeeklyReport(
        shop=merchant.name,
        domain=merchant.domain,
        week=week.label,
        starts=since,
        ends=until,
        timezone=merchant.timezone,
        calls=calls,
        texts=texts,
        web_chats=total(talks, "web"),
        outcomes=outcome_counts(uow, win),
        bookings=total(agent_bookings(uow, win)),
        messages_taken=total(messages_taken(uow, win)),
        recovered_checkouts=len(recovered),
        recovered_revenue=dict(revenue),
        busiest_hours=busiest_hours(by_hour),
        by_hour=by_hour,
        feedback=_feedback(uow, since, until),
        unanswered=len(questions),
        topics=topics[:MAX_TOPICS],
        more_topics=max(0, len(topics) - MAX_TOPICS),
    )


def busiest_hours(by_hour: list[int]) -> list[HourCount]:
    """The ``BUSIEST`` local hours with the most conversations, the busiest first."""
    busiest = sorted((h for h in range(24) if by_hour[h]), key=lambda h: (-by_hour[h], h))[:BUSIEST]
    return [HourCount(h, by_hour[h]) for h in busiest]


def question_topics(questions: list[AskedQuestion]) -> list[Topic]:
    """The questions grouped by meaning (by their words when the model is not at hand)."""
    if not questions:
        return []
    texts = [scrub(q.text) for q in questions]  # labels and examples are made of these only
    vectors, similar = _vectors(questions), SIMILAR
    if vectors is None:
        vectors, similar = lexical_vectors(texts), SIMILAR_WORDS
    return [
        Topic(g.label, g.count, texts[g.example], f"{FAQ_PATH}?question={quote(texts[g.example], safe='')}")
        for g in group(texts, vectors, similar=similar)
    ]


def _vectors(questions: list[AskedQuestion]) -> np.ndarray[Any, np.dtype[np.float32]] | None:
    """The questions' sentence vectors: as recorded, the missing ones encoded now; None when the
    model cannot be loaded."""
    missing = [i for i, q in enumerate(questions) if q.vector is None]
    known = next((q.vector for q in questions if q.vector is not None), None)
    dims = len(known) if known is not None else 0
    encoded = None
    if missing:
        try:
            from sera.agent.understanding.embedding import embedder

            encoded = embedder().encode([questions[i].text for i in missing])
        except Exception:
            return None
        dims = encoded.shape[1]
    out = np.zeros((len(questions), dims), dtype=np.float32)
    for i, q in enumerate(questions):
        if q.vector is not None:
            if len(q.vector) != dims:
                return None
            out[i] = q.vector
    if encoded is not None:
        out[missing] = encoded
    return out


# -- customer feedback -------------------------------------------------------------------------


def _feedback(uow: UnitOfWork, since: datetime, until: datetime) -> FeedbackSection:
    """Customer feedback of the week (the answers to the feedback texts)."""
    summary = feedback_summary(uow, since, until)
    return FeedbackSection(True, int(summary.count), summary.average, dict(summary.by_score))
