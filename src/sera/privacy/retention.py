"""Retention: personal data is kept only as long as the privacy policy says.

Invariants:
- Each data class has the policy's default period, overridable per merchant in the
  shop's ``retention`` settings (audit logs never below two years: the shop file
  refuses less, and this module enforces it again).
- Expired data is deleted permanently, in bounded batches, each batch its own
  transaction, so a sweep never holds long locks and a crash loses nothing but time.
- Each merchant's sweep is recorded in its audit log with counts only.
- Customer records themselves are kept while the merchant's account is active; they
  leave with the shop (shop/redact) or by erasure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, delete, select, update

from sera import audit
from sera.bootstrap import Sera
from sera.storage.database import UnitOfWork, rows
from sera.storage.models import Call, Conversation, Merchant, Message, OutboundAction, Transcript, UsageRecord

DEFAULT_DAYS = {
    "recordings_transcripts": 730,
    "call_logs": 365,
    "abandoned_checkouts": 90,
    "audit_logs": 730,
}
MIN_AUDIT_DAYS = 730
BATCH = 5000
YIELD_SECONDS = 0.005  # on SQLite, between batches: lets waiting writers (webhooks) take the lock


@dataclass
class SweepReport:
    merchant_id: str
    deleted: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.deleted.values())


def retention_days(settings: dict[str, Any]) -> dict[str, int]:
    """The merchant's periods: defaults, overridden by the shop file, audit floor enforced."""
    days = {**DEFAULT_DAYS, **{k: int(v) for k, v in (settings.get("retention") or {}).items() if k in DEFAULT_DAYS}}
    days["audit_logs"] = max(days["audit_logs"], MIN_AUDIT_DAYS)
    return days


Target = Callable[[datetime], Select[Any]]


def _targets() -> dict[str, tuple[Any, Target, str]]:
    """Per data class: the table, the ids that expire before a cutoff, the class name."""
    return {
        "transcripts": (
            Transcript,
            lambda cut: select(Transcript.id).where(Transcript.created_at < cut),
            "recordings_transcripts",
        ),
        "messages": (Message, lambda cut: select(Message.id).where(Message.created_at < cut), "recordings_transcripts"),
        "conversations": (
            Conversation,
            lambda cut: select(Conversation.id).where(Conversation.updated_at < cut),
            "recordings_transcripts",
        ),
        "calls": (Call, lambda cut: select(Call.id).where(Call.started_at < cut), "call_logs"),
        "usage_records": (
            UsageRecord,
            lambda cut: select(UsageRecord.id).where(UsageRecord.day < cut.date()),
            "call_logs",
        ),
        "abandoned_checkouts": (
            OutboundAction,
            lambda cut: select(OutboundAction.id).where(
                OutboundAction.kind == "abandoned_checkout", OutboundAction.created_at < cut
            ),
            "abandoned_checkouts",
        ),
    }


def _sweep_table(sera: Sera, merchant_id: str, model: Any, ids_before: Select[Any], dry_run: bool, batch: int) -> int:
    total = 0
    while True:
        with sera.uow(merchant_id) as uow:
            if dry_run:
                return len(uow.session.execute(ids_before).all())
            ids = list(uow.session.execute(ids_before.limit(batch)).scalars())
            if not ids:
                return total
            total += rows(uow.session.execute(delete(model).where(model.id.in_(ids))))
            uow.commit()
        if len(ids) < batch:
            return total
        _yield_lock(sera)


def _yield_lock(sera: Sera) -> None:
    if sera.db.engine.dialect.name == "sqlite":
        time.sleep(YIELD_SECONDS)


def _sweep_recordings(sera: Sera, merchant_id: str, cutoff: datetime, dry_run: bool, batch: int) -> int:
    """Recordings and summaries go with the transcripts; the call log itself stays longer."""
    stmt = select(Call.id).where(Call.started_at < cutoff, Call.recording_url.is_not(None))
    total = 0
    while True:
        with sera.uow(merchant_id) as uow:
            if dry_run:
                return len(uow.session.execute(stmt).all())
            ids = list(uow.session.execute(stmt.limit(batch)).scalars())
            if ids:
                total += rows(
                    uow.session.execute(update(Call).where(Call.id.in_(ids)).values(recording_url=None, summary=None))
                )
                uow.commit()
        if len(ids) < batch:
            return total


def _sweep_audit(uow: UnitOfWork, merchant_id: str, cutoff: datetime, dry_run: bool, batch: int) -> int:
    if dry_run:
        return 0
    total = 0
    while count := audit.prune(uow.session, merchant_id, cutoff, batch):
        total += count
        uow.session.flush()
    return total


def sweep_merchant(
    sera: Sera, merchant_id: str, now: datetime, *, dry_run: bool = False, batch: int = BATCH
) -> SweepReport:
    with sera.uow(merchant_id, readonly=True) as uow:
        settings = uow.session.execute(select(Merchant.settings).where(Merchant.id == merchant_id)).scalar_one()
    days = retention_days(settings or {})
    report = SweepReport(merchant_id)
    recordings_cutoff = now - timedelta(days=days["recordings_transcripts"])
    report.deleted["recordings"] = _sweep_recordings(sera, merchant_id, recordings_cutoff, dry_run, batch)
    for name, (model, ids_before, data_class) in _targets().items():
        cutoff = now - timedelta(days=days[data_class])
        report.deleted[name] = _sweep_table(sera, merchant_id, model, ids_before(cutoff), dry_run, batch)
    with sera.uow(merchant_id) as uow:
        report.deleted["audit_entries"] = _sweep_audit(
            uow, merchant_id, now - timedelta(days=days["audit_logs"]), dry_run, batch
        )
        if not dry_run:
            audit.record(
                uow.session,
                merchant_id=merchant_id,
                actor="system:retention",
                action="retention.swept",
                target_type="merchant",
                target_id=merchant_id,
                details={"deleted": report.deleted, "days": days},
                at=now,
            )
            uow.commit()
    return report


def run_retention(sera: Sera, now: datetime, *, dry_run: bool = False, batch: int = BATCH) -> list[SweepReport]:
    """The daily sweep over every merchant."""
    with sera.uow(readonly=True) as uow:
        merchant_ids = list(uow.session.execute(select(Merchant.id).order_by(Merchant.id)).scalars())
    return [sweep_merchant(sera, merchant_id, now, dry_run=dry_run, batch=batch) for merchant_id in merchant_ids]
