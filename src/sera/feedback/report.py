"""What customers said: the summary the weekly report reads, the list the API shows, the
feedback on one call, and a customer's own feedback for their access export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from sera.storage.database import UnitOfWork
from sera.storage.models import Feedback
from sera.storage.paging import Page, PageRequest, keyset, page_of

SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class FeedbackSummary:
    count: int
    average: float | None  # None when nobody answered
    by_score: dict[int, int]  # every score from 1 to 5, with how many gave it


@dataclass(frozen=True)
class FeedbackView:
    id: str
    score: int
    words: str | None
    channel: str
    customer_id: str | None
    conversation_id: str | None
    call_id: str | None
    created_at: datetime


def feedback_summary(uow: UnitOfWork, since: datetime, until: datetime) -> FeedbackSummary:
    """Answers received in [since, until): how many, their average score, how many per score."""
    counts: dict[int, int] = {}
    for score, n in uow.session.execute(
        select(Feedback.score, func.count())
        .where(Feedback.created_at >= since, Feedback.created_at < until)
        .group_by(Feedback.score)
    ):
        counts[int(score)] = int(n)
    by_score = {score: counts.get(score, 0) for score in SCORES}
    count = sum(by_score.values())
    average = round(sum(score * n for score, n in by_score.items()) / count, 2) if count else None
    return FeedbackSummary(count, average, by_score)


def _view(uow: UnitOfWork, row: Feedback) -> FeedbackView:
    return FeedbackView(
        id=row.id,
        score=row.score,
        words=uow.vault.open(row, "words"),
        channel=row.channel,
        customer_id=row.customer_id,
        conversation_id=row.conversation_id,
        call_id=row.call_id,
        created_at=row.created_at,
    )


def list_feedback(uow: UnitOfWork, request: PageRequest) -> Page[FeedbackView]:
    """Every answer, newest first (``since``/``until`` by when it was received)."""
    found = uow.session.execute(keyset(select(Feedback), Feedback.created_at, Feedback.id, request)).scalars().all()
    kept, cursor = page_of(found, request, lambda f: (f.created_at, f.id))
    if uow.merchant_id is not None:
        uow.vault.prefetch(uow.merchant_id, [f.customer_id for f in kept])
    return Page([_view(uow, f) for f in kept], cursor)


def call_feedback(uow: UnitOfWork, call_id: str) -> FeedbackView | None:
    """The answer about one call (or text conversation), if the customer gave one."""
    row = uow.session.execute(
        select(Feedback).where(Feedback.call_id == call_id).order_by(Feedback.created_at.desc()).limit(1)
    ).scalar_one_or_none()
    return _view(uow, row) if row is not None else None


def customer_feedback(uow: UnitOfWork, customer_id: str) -> list[dict[str, Any]]:
    """A customer's answers as plain data, for their access export."""
    rows = uow.session.execute(
        select(Feedback).where(Feedback.customer_id == customer_id).order_by(Feedback.created_at)
    ).scalars()
    return [
        {
            "score": f.score,
            "words": uow.vault.open(f, "words"),
            "channel": f.channel,
            "call_id": f.call_id,
            "at": f.created_at.isoformat(),
        }
        for f in rows
    ]
