"""Usage per merchant per day: calls, billed minutes (per call, rounded up), SMS segments."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select

from sera.storage.database import UnitOfWork, conflict_insert
from sera.storage.models import UsageRecord, new_id

METRICS = ("inbound_calls", "outbound_calls", "billed_minutes", "sms_segments_inbound", "sms_segments_outbound")


def billed_minutes(duration_s: int) -> int:
    """Calls are billed per started minute."""
    return max(1, math.ceil(duration_s / 60)) if duration_s > 0 else 0


def record_usage(uow: UnitOfWork, day: date, metric: str, quantity: int) -> None:
    """Add to a day's counter: one ``INSERT ... ON CONFLICT DO UPDATE``, so the first use
    creates the row and a concurrent first use adds to it."""
    if metric not in METRICS:
        raise ValueError(f"unknown usage metric {metric!r}")
    if quantity == 0:
        return
    if uow.merchant_id is None:
        raise RuntimeError("usage needs a merchant-scoped unit of work")
    connection = uow.session.connection()
    insert = conflict_insert(connection)(UsageRecord).values(
        id=new_id("use"), merchant_id=uow.merchant_id, day=day, metric=metric, quantity=quantity
    )
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["merchant_id", "day", "metric"],
            set_={"quantity": UsageRecord.__table__.c.quantity + insert.excluded.quantity},
        )
    )


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


@dataclass(frozen=True)
class MonthlyUsage:
    month: str  # YYYY-MM
    counts: dict[str, int]


def usage_by_month(uow: UnitOfWork, since: date, until: date) -> list[MonthlyUsage]:
    """The daily counters of [since, until) added up per calendar month, oldest first."""
    months: dict[str, dict[str, int]] = {}
    for day in usage_report(uow, since, until):
        totals = months.setdefault(f"{day.day:%Y-%m}", dict.fromkeys(METRICS, 0))
        for metric, quantity in day.counts.items():
            totals[metric] += quantity
    return [MonthlyUsage(month, counts) for month, counts in months.items()]
