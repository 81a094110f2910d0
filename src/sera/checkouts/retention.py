"""Retention of checkouts: kept for the shop's ``abandoned_checkouts`` period, then deleted.

Invariants:
- The period is the shop's (``retention.abandoned_checkouts`` in the shop file, default
  90 days), counted from when Sera first saw the checkout.
- Rows go in bounded batches, each its own transaction, paced as the retention sweep's
  (``sera.privacy.retention.delete_expired``); a crash loses nothing but time.
- Each shop's sweep is audited with a count only.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from sera import audit
from sera.bootstrap import Sera
from sera.privacy.retention import delete_expired, merchant_retention_days
from sera.storage.models import Checkout


def sweep_checkouts(sera: Sera, merchant_id: str, now: datetime) -> int:
    """Delete one shop's checkouts older than its period; returns how many went."""
    cutoff = now - timedelta(days=merchant_retention_days(sera, merchant_id)["abandoned_checkouts"])
    total = delete_expired(sera, merchant_id, Checkout, Checkout.created_at < cutoff)
    if total:
        with sera.uow(merchant_id) as uow:
            audit.record(
                uow.session,
                merchant_id=merchant_id,
                actor="system:retention",
                action="checkouts.expired",
                target_type="merchant",
                target_id=merchant_id,
                details={"deleted": total},
                at=now,
            )
            uow.commit()
    return total


def sweep_all_checkouts(sera: Sera, now: datetime) -> dict[str, int]:
    """The daily sweep over every shop that has checkouts."""
    with sera.uow(readonly=True) as uow:
        merchant_ids = list(uow.session.execute(select(Checkout.merchant_id).distinct()).scalars())
    return {merchant_id: sweep_checkouts(sera, merchant_id, now) for merchant_id in sorted(merchant_ids)}
