"""The privacy queue across shops: overdue requests, and deletions at providers not yet
done, raise a metric and a warning; the business is told of deadlines near and past."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from sera.bootstrap import Sera
from sera.observability import PRIVACY_OVERDUE, PROVIDER_DELETIONS_PENDING
from sera.privacy.copies import CopyView, count_pending, pending_copies
from sera.privacy.service import PrivacyRequestView, overdue_requests, tell_deadlines
from sera.storage.models import Merchant

log = logging.getLogger("sera.privacy")


@dataclass(frozen=True)
class Overdue:
    requests: list[tuple[str, PrivacyRequestView]]  # (merchant id, request) past its due time
    copies: list[CopyView]  # deletions at providers past their due time

    def __bool__(self) -> bool:
        return bool(self.requests or self.copies)


def check_overdue(sera: Sera, now: datetime) -> Overdue:
    """Every pending request past its due time, per shop, and every deletion at a provider
    past its own; sets the overdue gauge (both) and the pending-deletions gauge."""
    with sera.uow(readonly=True) as uow:
        merchant_ids = list(uow.session.execute(select(Merchant.id)).scalars())
    requests: list[tuple[str, PrivacyRequestView]] = []
    for merchant_id in merchant_ids:
        with sera.uow(merchant_id) as uow:
            requests += [(merchant_id, request) for request in overdue_requests(uow, now)]
            tell_deadlines(uow, now)  # the business hears of each deadline once
            uow.commit()
    copies = pending_copies(sera, overdue_at=now)
    PRIVACY_OVERDUE.set(len(requests) + len(copies))
    PROVIDER_DELETIONS_PENDING.set(count_pending(sera))
    for merchant_id, request in requests:
        log.warning("privacy request overdue", extra={"merchant": merchant_id, "request": request.id})
    for copy in copies:
        log.warning("deletion at a provider overdue", extra={"merchant": copy.merchant_id, "copy": copy.id})
    return Overdue(requests, copies)
