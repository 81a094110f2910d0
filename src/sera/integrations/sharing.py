"""Whether a shop shares interaction data (call transcripts and summaries) with its integrations.

Invariants:
- Off by default: a shop with no row shares nothing beyond ids and contact details.
- The setting lives in its own table (like ``sera.feedback.settings``), so importing a shop
  file never turns it on. Every change is audited with who made it.
- It is read when data leaves (a webhook is sent, a CRM is written), not when an event is
  queued: turning it off stops what is still waiting, and what goes is read from the sealed
  call then, so an erased customer's transcript never goes.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import select

from sera import audit
from sera.storage.database import UnitOfWork
from sera.storage.models import Call, IntegrationSettings, Transcript, new_id


def shares_interaction_data(uow: UnitOfWork) -> bool:
    """True when the shop of this unit of work turned on "share interaction data with integrations"."""
    row = _row(uow)
    return bool(row is not None and row.share_interaction_data)


def set_sharing(uow: UnitOfWork, *, share: bool, actor: str, now: datetime) -> bool:
    """Turn sharing of transcripts and summaries with integrations on or off. Audited."""
    row = _row(uow)
    if row is None:
        row = IntegrationSettings(id=new_id("ins"), merchant_id=_merchant(uow), share_interaction_data=False)
        uow.session.add(row)
    before = row.share_interaction_data
    row.share_interaction_data = share
    row.updated_at = now
    uow.session.flush()
    audit.record(
        uow.session,
        merchant_id=row.merchant_id,
        actor=actor,
        action="integrations.sharing_changed",
        target_type="merchant",
        target_id=row.merchant_id,
        details={"share_interaction_data": share, "was": bool(before)},
        at=now,
    )
    return share


def interaction_data(uow: UnitOfWork, call_id: str) -> dict[str, Any]:
    """The call's summary and transcript as integrations receive them: empty unless the shop
    shares interaction data. Read from the sealed call now, so what erasure removed (or a
    shredded key) yields nothing; raises ``DecryptionError`` when the key is gone mid-read."""
    if not shares_interaction_data(uow):
        return {}
    call = uow.session.execute(select(Call).where(Call.id == call_id)).scalar_one_or_none()
    if call is None:
        return {}
    transcript = uow.session.execute(select(Transcript).where(Transcript.call_id == call_id)).scalar_one_or_none()
    lines = json.loads(uow.vault.open(transcript, "content") or "[]") if transcript is not None else []
    return {
        "summary": uow.vault.open(call, "summary"),
        "transcript": [{"role": line["role"], "text": line["text"]} for line in lines],
    }


def _merchant(uow: UnitOfWork) -> str:
    if uow.merchant_id is None:
        raise ValueError("integration settings belong to one shop: use a merchant-scoped unit of work")
    return uow.merchant_id


def _row(uow: UnitOfWork) -> IntegrationSettings | None:
    merchant_id = _merchant(uow)
    return uow.session.execute(
        select(IntegrationSettings).where(IntegrationSettings.merchant_id == merchant_id)
    ).scalar_one_or_none()
