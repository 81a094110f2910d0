"""The questions the agent could not answer: recorded by the agent service, read by the report.

Invariants:
- A question is a caller's own words: it is sealed, under the customer's key when the caller
  is known (erasing them shreds it), and expires with transcripts (the retention class
  ``recordings_transcripts``). Its sentence vector is derived from the words and is sealed
  with them.
- A shop that keeps no transcripts (``agent.record_calls: false``) keeps no questions either.
- What leaves Sera for the business (a topic's example in a report) passes ``scrub`` first:
  phone numbers, emails, long digit runs and names the agent recognises are taken out.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import select

from sera.agent.language.entities import extract_email, extract_name
from sera.storage.database import UnitOfWork
from sera.storage.models import UnansweredQuestion, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of

log = logging.getLogger("sera.reports")
MAX_QUESTION = 1000  # characters of a question that are kept

Vector = NDArray[np.float32]


@dataclass(frozen=True)
class AskedQuestion:
    """One unanswered question, opened: for the report's topics and the merchant's list."""

    id: str
    text: str
    channel: str
    asked_at: datetime
    call_id: str | None
    vector: Vector | None = None


def record_unanswered(
    uow: UnitOfWork,
    *,
    question: str,
    channel: str,
    asked_at: datetime,
    call_id: str | None,
    customer_id: str | None,
) -> UnansweredQuestion | None:
    """Keep a question the shop had no answer to (None when it is empty)."""
    if uow.merchant_id is None:
        raise RuntimeError("unanswered questions need a merchant-scoped unit of work")
    text = " ".join(question.split())[:MAX_QUESTION]
    if not text:
        return None
    row = UnansweredQuestion(
        id=new_id("unq"),
        merchant_id=uow.merchant_id,
        call_id=call_id,
        customer_id=customer_id,
        channel=channel,
        asked_at=asked_at,
    )
    uow.vault.seal(row, question=text, vector=_vector_of(text))
    uow.session.add(row)
    return row


def _vector_of(text: str) -> str | None:
    """The question's sentence vector (the classifier read the line already: it is remembered)."""
    from sera.agent.understanding.embedding import embedder

    try:
        return encode_vector(embedder().encode_one(text))
    except Exception:  # the report encodes it later; the caller's turn must not fail for it
        log.warning("encoding an unanswered question failed", exc_info=True)
        return None


def encode_vector(vector: Vector) -> str:
    """A unit vector as text to seal: float16 (half the size, and cosines move by < 0.001)."""
    return base64.b64encode(np.asarray(vector, dtype=np.float16).tobytes()).decode("ascii")


def decode_vector(text: str | None) -> Vector | None:
    if not text:
        return None
    try:
        vector: Vector = np.frombuffer(base64.b64decode(text), dtype=np.float16).astype(np.float32)
    except (binascii.Error, ValueError):
        return None
    return vector


def questions_between(uow: UnitOfWork, since: datetime, until: datetime) -> list[AskedQuestion]:
    """The shop's questions asked in [since, until), oldest first, opened (with their vectors)."""
    rows = (
        uow.session.execute(
            select(UnansweredQuestion)
            .where(
                UnansweredQuestion.merchant_id == uow.merchant_id,
                UnansweredQuestion.asked_at >= since,
                UnansweredQuestion.asked_at < until,
            )
            .order_by(UnansweredQuestion.asked_at, UnansweredQuestion.id)
        )
        .scalars()
        .all()
    )
    return _opened(uow, rows, with_vectors=True)


def list_unanswered(uow: UnitOfWork, request: PageRequest) -> Page[AskedQuestion]:
    """The shop's unanswered questions, newest first, a page at a time."""
    stmt = keyset(select(UnansweredQuestion), UnansweredQuestion.asked_at, UnansweredQuestion.id, request)
    rows = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(rows, request, lambda q: (q.asked_at, q.id))
    return Page(_opened(uow, kept, with_vectors=False), cursor)


def _opened(uow: UnitOfWork, rows: Sequence[UnansweredQuestion], *, with_vectors: bool) -> list[AskedQuestion]:
    if uow.merchant_id is not None:
        uow.vault.prefetch(uow.merchant_id, {row.customer_id for row in rows})
    found = []
    for row in rows:
        text = uow.vault.open(row, "question")
        if text is None:
            continue
        vector = decode_vector(uow.vault.open(row, "vector")) if with_vectors else None
        found.append(AskedQuestion(row.id, text, row.channel, row.asked_at, row.call_id, vector))
    return found


# -- what leaves for the business -----------------------------------------------------------------

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")  # seven digits or more, however grouped
_DIGITS = re.compile(r"\d{5,}")  # order numbers, card numbers, postcodes: none of the report's business
_SPACES = re.compile(r"\s+")


def scrub(text: str) -> str:
    """The question without what looks like personal data: emails, phone numbers, long digit
    runs, and a name the caller gave ("this is Sam Whitaker, do you ...")."""
    spoken_email = extract_email(text)
    if spoken_email and spoken_email in text:
        text = text.replace(spoken_email, "[email]")
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub(lambda m: "[number]" if sum(c.isdigit() for c in m.group()) >= 7 else m.group(), text)
    text = _DIGITS.sub("[number]", text)
    name = extract_name(text)
    if name:
        for part in sorted({name, *name.split()}, key=len, reverse=True):
            if len(part) > 1:
                text = re.sub(rf"\b{re.escape(part)}\b", "[name]", text, flags=re.IGNORECASE)
        text = re.sub(r"\[name\](?:\s+\[name\])+", "[name]", text)
    return _SPACES.sub(" ", text).strip()
