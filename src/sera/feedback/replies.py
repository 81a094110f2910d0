"""The customer's answer to the feedback question.

Invariants:
- An answer is an inbound text from the customer asked, within ``REPLY_WINDOW`` of the
  question being sent, whose first word is a score from 1 to 5 ("5", "4 thanks!",
  "5 - Sam was great", "4/5"). Anything else is an ordinary text for the agent.
- One answer per question (a unique key on the question): a second score-like text is
  an ordinary text too. The channel calls ``record_reply`` only after its keyword and
  do-not-contact handling, so STOP and the like are never read as feedback.
- The words are sealed under the customer's key; the row goes with the customer's erasure
  and expires with call logs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from sera.customers.service import find_customer
from sera.feedback.asking import FEEDBACK
from sera.storage.database import UnitOfWork
from sera.storage.models import Conversation, Feedback, OutboundAction, new_id

REPLY_WINDOW = timedelta(hours=48)
THANKS = "Thank you for your feedback!"
MAX_WORDS = 1000  # characters of words kept with a score
_ANSWER = re.compile(r"^\s*([1-5])(?:\s*/\s*5)?(?=$|[\s.,;:!?)\-–—*])[\s.,;:!?)\-–—*]*(.*)$", re.DOTALL)


@dataclass(frozen=True)
class Answer:
    score: int
    words: str | None


@dataclass(frozen=True)
class Recorded:
    feedback_id: str
    thanks: str


def parse_answer(text: str) -> Answer | None:
    """A score and the words after it, or None when the text does not start with a score."""
    found = _ANSWER.match(text)
    if found is None:
        return None
    words = " ".join(found.group(2).split())[:MAX_WORDS]
    return Answer(int(found.group(1)), words or None)


def record_reply(uow: UnitOfWork, *, phone: str, text: str, now: datetime) -> Recorded | None:
    """If ``text`` answers a feedback question sent to ``phone`` lately, record it (in the caller's
    transaction) and return the thank-you; else None, and nothing was written."""
    answer = parse_answer(text)
    if answer is None or uow.merchant_id is None:
        return None
    customer = find_customer(uow, phone=phone)
    if customer is None:
        return None
    asked = uow.session.execute(
        select(OutboundAction)
        .where(
            OutboundAction.kind == FEEDBACK,
            OutboundAction.customer_id == customer.id,
            OutboundAction.status == "sent",
            OutboundAction.sent_at >= now - REPLY_WINDOW,
            OutboundAction.sent_at <= now,
        )
        .order_by(OutboundAction.sent_at.desc(), OutboundAction.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if asked is None:
        return None
    if uow.session.execute(select(Feedback.id).where(Feedback.action_id == asked.id)).first() is not None:
        return None  # answered already: this text is for the agent
    conversation = None
    if asked.subject_id is not None:
        conversation = uow.session.execute(
            select(Conversation).where(Conversation.id == asked.subject_id)
        ).scalar_one_or_none()
    row = Feedback(
        id=new_id("fbk"),
        merchant_id=uow.merchant_id,
        action_id=asked.id,
        customer_id=customer.id,
        conversation_id=conversation.id if conversation is not None else None,
        call_id=conversation.call_id if conversation is not None else None,
        channel=conversation.channel if conversation is not None else "unknown",
        score=answer.score,
        created_at=now,
    )
    uow.vault.seal(row, words=answer.words)
    uow.session.add(row)
    uow.session.flush()
    return Recorded(row.id, THANKS)
