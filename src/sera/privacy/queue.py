"""The privacy queue across shops: overdue requests raise a metric and a warning."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from sera.bootstrap import Sera
from sera.observability import PRIVACY_OVERDUE
from sera.privacy.service import PrivacyRequestView, overdue_requests
from sera.storage.models import Merchant

log = logging.getLogger("sera.privacy")


def check_overdue(sera: Sera, now: datetime) -> list[tuple[str, PrivacyRequestView]]:
    """Every pending request past its due time, per shop; sets the overdue gauge."""
    with sera.uow(readonly=True) as uow:
        merchant_ids = list(uow.session.execute(select(Merchant.id)).scalars())
    overdue: list[tuple[str, PrivacyRequestView]] = []
    for merchant_id in merchant_ids:
        with sera.uow(merchant_id, readonly=True) as uow:
            overdue += [(merchant_id, request) for request in overdue_requests(uow, now)]
    PRIVACY_OVERDUE.set(len(overdue))
    for merchant_id, request in overdue:
        log.warning("privacy request overdue", extra={"merchant": merchant_id, "request": request.id})
    return overdue
