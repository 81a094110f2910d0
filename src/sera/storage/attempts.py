"""Work retried from a table (deletions at providers, webhook deliveries): rows that are
``pending`` with a ``next_attempt_at`` and a ``claimed_until``, taken when due, held while a
worker tries, and tried again later with backoff."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, or_, select, update
from sqlalchemy.orm import Session

from sera.storage.database import UnitOfWork, rows

log = logging.getLogger("sera.jobs")


def take_due(uow: UnitOfWork, model: Any, now: datetime, hold: timedelta, limit: int) -> list[str]:
    """Ids of pending rows due now that no worker holds, to be queued; they are not taken again
    for ``hold``, so a queue slower than its dispatcher is not flooded, and a job lost on the
    way is queued again after that. The caller commits."""
    unheld = or_(model.claimed_until.is_(None), model.claimed_until < now)
    ids = list(
        uow.session.execute(
            select(model.id)
            .where(model.status == "pending", model.next_attempt_at <= now, unheld)
            .order_by(model.next_attempt_at)
            .limit(limit)
        ).scalars()
    )
    if ids:
        uow.session.execute(
            update(model).where(model.id.in_(ids), model.status == "pending").values(next_attempt_at=now + hold),
            execution_options={"synchronize_session": False},
        )
    return ids


def claim(uow: UnitOfWork, model: Any, row_id: str, now: datetime, hold: timedelta) -> bool:
    """Hold a pending row for one attempt (counted); False if it is settled or held."""
    held = uow.session.execute(
        update(model)
        .where(
            model.id == row_id,
            model.status == "pending",
            or_(model.claimed_until.is_(None), model.claimed_until < now),
        )
        .values(claimed_until=now + hold, attempts=model.attempts + 1)
    )
    return bool(rows(held))


def claim_many(uow: UnitOfWork, model: Any, row_ids: list[str], now: datetime, hold: timedelta) -> list[str]:
    """``claim`` for several rows in one statement; the ids held (others are settled or held)."""
    held = uow.session.execute(
        update(model)
        .where(
            model.id.in_(row_ids),
            model.status == "pending",
            or_(model.claimed_until.is_(None), model.claimed_until < now),
        )
        .values(claimed_until=now + hold, attempts=model.attempts + 1)
        .returning(model.id)
        .execution_options(synchronize_session=False)
    )
    return list(held.scalars())


def forget_customer(uow: UnitOfWork, model: Any, body: str, customer_id: str) -> int:
    """An erased customer's rows not yet done are never done: ``status`` becomes ``erased`` and
    the sealed ``body`` goes; no row keeps their id. How many were still pending."""
    theirs = model.customer_id == customer_id
    unsent = uow.session.execute(
        update(model)
        .where(theirs, model.status == "pending")
        .values({"status": "erased", body: None, "next_attempt_at": None}),
        execution_options={"synchronize_session": False},
    )
    uow.session.execute(
        update(model).where(theirs).values(customer_id=None), execution_options={"synchronize_session": False}
    )
    return rows(unsent)


def backoff(attempts: int, first: timedelta, longest: timedelta) -> timedelta:
    """``first``, doubling with each attempt, up to ``longest``."""
    longer: timedelta = first * 2 ** min(max(0, attempts - 1), 20)
    return min(longer, longest)


class HandOver:
    """Rows committed in this process go to the job queue at once (the jobs' wiring sets it
    with ``to``); without a queue, or if queueing fails, the periodic sweep finds them."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._enqueue: list[Callable[[str], None]] = []

    def to(self, enqueue: Callable[[str], None]) -> None:
        self._enqueue[:] = [enqueue]

    def after_commit(self, uow: UnitOfWork, ids: list[str]) -> None:
        def hand_over(_session: Session) -> None:
            for row_id in ids if self._enqueue else ():
                try:
                    self._enqueue[0](row_id)
                except Exception:  # the sweep takes it instead
                    log.warning("not queued at once", extra={"what": self.what, "id": row_id})

        event.listen(uow.session, "after_commit", hand_over, once=True)
