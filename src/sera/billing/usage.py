"""Usage per merchant per day: calls, billed minutes (per call, rounded up), SMS segments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from sera.storage.database import MERCHANT, UnitOfWork, prescoped
from sera.storage.models import UsageRecord, new_id

METRICS = ("inbound_calls", "outbound_calls", "billed_minutes", "sms_segments_inbound", "sms_segments_outbound")


def billed_minutes(duration_s: int) -> int:
    """Calls are billed per started minute."""
    return max(1, math.ceil(duration_s / 60)) if duration_s > 0 else 0


_DAY_ROW = prescoped(
    select(UsageRecord)
    .where(
        UsageRecord.merchant_id == MERCHANT,
        UsageRecord.day == bindparam("day"),
        UsageRecord.metric == bindparam("metric"),
    )
    .with_for_update()
)


def record_usage(uow: UnitOfWork, day: date, metric: str, quantity: int) -> None:
    """Add to a day's counter (created on first use; safe against a concurrent first use)."""
    if metric not in METRICS:
        raise ValueError(f"unknown usage metric {metric!r}")
    if quantity == 0:
        return
    if uow.merchant_id is None:
        raise RuntimeError("usage needs a merchant-scoped unit of work")
    for _ in range(2):
        row = uow.run(_DAY_ROW, day=day, metric=metric).scalar_one_or_none()
        if row is not None:
            row.quantity += quantity
            uow.session.flush()
            return
        try:
            with uow.session.begin_nested():
                uow.session.add(
                    UsageRecord(
                        id=new_id("use"), merchant_id=uow.merchant_id, day=day, metric=metric, quantity=quantity
                    )
                )
            return
        except IntegrityError:
            continue  # someone else created the row first: add to theirs
    raise RuntimeError("could not record usage")


@dataclass(frozen=True)
class DailyUsage:
    day: date
    counts: dict[str, int]


def usage_report(uow: UnitOfWork, since: date | None = None, until: date | None = None) -> list[DailyUsage]:
    stmt = select(UsageRecord).order_by(UsageRecord.day)
    if since is not None:
        stmt = stmt.where(UsageRecord.day >= since)
    if until is not None:
        stmt = stmt.where(UsageRecord.day < until)
    days: dict[date, dict[str, int]] = {}
    for row in uow.session.execute(stmt).scalars():
        days.setdefault(row.day, dict.fromkeys(METRICS, 0))[row.metric] = row.quantity
    return [DailyUsage(day, counts) for day, counts in days.items()]
