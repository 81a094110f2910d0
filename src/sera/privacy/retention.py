"""Retention: personal data is kept only as long as the privacy policy says.

Invariants:
- Each data class has the policy's default period, overridable per merchant in the
  shop's ``retention`` settings (audit logs never below two years: the shop file
  refuses less, and this module enforces it again).
- Expired data is deleted permanently, in bounded batches, each batch its own
  transaction, so a sweep never holds long locks and a crash loses nothing but time.
  On SQLite, where one writer at a time holds the whole database, a batch holds the
  write lock for about ``HOLD_SECONDS`` and the sweep then leaves the database to other
  writers (webhooks) for ``PAUSE_FACTOR`` times as long.
- Each merchant's sweep is recorded in its audit log with counts only.
- Copies at providers (Twilio's recordings, messages and call records, Vapi's calls) are
  ordered deleted with their data class (``sera.privacy.copies``); jobs delete them there.
  The ledger's record of a deletion done is kept as long as the audit log.
- Customer records themselves are kept while the merchant's account is active; they
  leave with the shop (shop/redact) or by erasure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnClause, ColumnElement, and_, any_, delete, func, literal_column, select, update

from sera import audit
from sera.bootstrap import Sera
from sera.privacy.copies import order_expired, prune_settled, start_deletions
from sera.storage.database import is_sqlite, rows
from sera.storage.models import (
    Call,
    Conversation,
    Feedback,
    Merchant,
    Message,
    OutboundAction,
    Transcript,
    UnansweredQuestion,
    UsageRecord,
)

DEFAULT_DAYS = {
    "recordings_transcripts": 730,
    "call_logs": 365,
    "abandoned_checkouts": 90,
    "audit_logs": 730,
}
MIN_AUDIT_DAYS = 730
BATCH = 5000  # rows per transaction, at most
# SQLite: a batch is sized to hold the write lock (statement and commit) for about
# HOLD_SECONDS, timed on the batches before it, starting from FIRST_BATCH rows per table;
# after it the sweep leaves the database to other writers for PAUSE_FACTOR times as long.
# A writer waiting for the lock tries again every half millisecond (sera.storage.database),
# so it gets in at the start of the pause and never waits much longer than one hold.
HOLD_SECONDS = 0.015
PAUSE_FACTOR = 0.75
FIRST_BATCH = 100


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


def merchant_retention_days(sera: Sera, merchant_id: str) -> dict[str, int]:
    """``retention_days`` of the merchant's own settings."""
    with sera.uow(merchant_id, readonly=True) as uow:
        settings = uow.session.execute(select(Merchant.settings).where(Merchant.id == merchant_id)).scalar_one()
    return retention_days(settings or {})


Expired = Callable[[datetime], ColumnElement[bool]]


def _targets() -> dict[str, tuple[Any, Expired, str]]:
    """Per data class: the table, which of its rows expire before a cutoff, the class name."""
    return {
        "transcripts": (Transcript, lambda cut: Transcript.created_at < cut, "recordings_transcripts"),
        "messages": (Message, lambda cut: Message.created_at < cut, "recordings_transcripts"),
        "conversations": (Conversation, lambda cut: Conversation.updated_at < cut, "recordings_transcripts"),
        "unanswered_questions": (
            UnansweredQuestion,
            lambda cut: UnansweredQuestion.asked_at < cut,
            "recordings_transcripts",
        ),
        "feedback": (Feedback, lambda cut: Feedback.created_at < cut, "call_logs"),  # before the calls it names
        "calls": (Call, lambda cut: Call.started_at < cut, "call_logs"),
        "usage_records": (UsageRecord, lambda cut: UsageRecord.day < cut.date(), "call_logs"),
        "abandoned_checkouts": (
            OutboundAction,
            lambda cut: and_(OutboundAction.kind == "abandoned_checkout", OutboundAction.created_at < cut),
            "abandoned_checkouts",
        ),
    }


class _Pace:
    """How many rows the next batch takes and, on SQLite, how long the sweep waits after it."""

    def __init__(self, sera: Sera, batch: int) -> None:
        self.sqlite = is_sqlite(sera.db.engine)
        self.limit = batch
        self.size = min(batch, FIRST_BATCH) if self.sqlite else batch

    def after(self, count: int, held: float, since: float) -> None:
        """``held``: seconds the batch held the write lock; ``since``: seconds since it let go."""
        if not self.sqlite:
            return
        fitting = int(count * HOLD_SECONDS / held) if held > 0 else self.limit
        self.size = max(1, min(fitting, 2 * self.size, self.limit))
        time.sleep(max(0.0, PAUSE_FACTOR * held - since))


def _first(sera: Sera, model: Any, expired: ColumnElement[bool], size: int) -> ColumnElement[bool]:
    """Picks up to ``size`` expired rows inside the statement that deletes (or updates) them,
    in the form each database's planner runs as lookups by key. SQLite gets rowids: given a
    list of ids, its planner (no statistics) scans the merchant's whole table for them.
    PostgreSQL gets an array of ids computed once: given ``IN (subquery)``, its planner may
    hash-join the whole table."""
    if is_sqlite(sera.db.engine):
        rowid: ColumnClause[Any] = literal_column("rowid")
        return rowid.in_(select(rowid).select_from(model).where(expired).limit(size))
    return cast(
        ColumnElement[bool],
        model.id == any_(func.array(select(model.id).where(expired).limit(size).scalar_subquery())),
    )


def _run_batches(sera: Sera, merchant_id: str, batch: int, statement: Callable[[int], Any]) -> int:
    """``statement(size)`` in a transaction of its own, again, until it touches fewer rows."""
    pace, total = _Pace(sera, batch), 0
    while True:
        size = pace.size
        with sera.uow(merchant_id) as uow:
            uow.session.connection()  # takes the write lock first: the clock measures holding it
            started = time.perf_counter()
            count = rows(uow.session.execute(statement(size), execution_options={"synchronize_session": False}))
            uow.commit()  # writes the batch's pages to the log: the lock is held until it returns
            ended = time.perf_counter()
        if pace.sqlite and count:
            _checkpoint(sera)
        total += count
        if count < size:
            return total
        pace.after(count, ended - started, time.perf_counter() - ended)


def _checkpoint(sera: Sera) -> None:
    """Copy SQLite's write-ahead log into the database now: otherwise the next writer to
    commit (a webhook) finds the log past its threshold and copies the sweep's pages itself.
    PASSIVE waits for no one."""
    connection = sera.db.engine.raw_connection()  # outside a transaction, as a checkpoint must be
    try:
        connection.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
    finally:
        connection.close()


def _count(sera: Sera, merchant_id: str, model: Any, where: ColumnElement[bool]) -> int:
    with sera.uow(merchant_id, readonly=True) as uow:
        return int(uow.session.execute(select(func.count()).select_from(model).where(where)).scalar_one())


def delete_expired(sera: Sera, merchant_id: str, model: Any, expired: ColumnElement[bool], batch: int = BATCH) -> int:
    """Delete a shop's ``model`` rows matching ``expired``, in paced batches; returns how many went."""
    return _run_batches(sera, merchant_id, batch, lambda size: delete(model).where(_first(sera, model, expired, size)))


def _sweep_table(
    sera: Sera, merchant_id: str, model: Any, expired: ColumnElement[bool], dry_run: bool, batch: int
) -> int:
    if dry_run:
        return _count(sera, merchant_id, model, expired)
    return delete_expired(sera, merchant_id, model, expired, batch)


def _sweep_recordings(sera: Sera, merchant_id: str, cutoff: datetime, dry_run: bool, batch: int) -> int:
    """Recordings and summaries go with the transcripts; the call log itself stays longer."""
    expired = and_(Call.started_at < cutoff, Call.recording_url.is_not(None))
    if dry_run:
        return _count(sera, merchant_id, Call, expired)
    return _run_batches(
        sera,
        merchant_id,
        batch,
        lambda size: update(Call).where(_first(sera, Call, expired, size)).values(recording_url=None, summary=None),
    )


def _sweep_audit(sera: Sera, merchant_id: str, cutoff: datetime, dry_run: bool, batch: int) -> int:
    if dry_run:
        return 0
    total = 0
    while True:
        with sera.uow(merchant_id) as uow:
            count = audit.prune(uow.session, merchant_id, cutoff, batch)
            uow.commit()
        total += count
        if not count:
            return total


def sweep_merchant(
    sera: Sera,
    merchant_id: str,
    now: datetime,
    *,
    dry_run: bool = False,
    batch: int = BATCH,
    days: dict[str, int] | None = None,
) -> SweepReport:
    """``days`` (a dry run only: what periods not yet saved would delete) replaces the shop's."""
    if days is not None and not dry_run:
        raise ValueError("a sweep deletes by the shop's saved periods only")
    days = days or merchant_retention_days(sera, merchant_id)
    report = SweepReport(merchant_id)
    recordings_cutoff = now - timedelta(days=days["recordings_transcripts"])
    report.deleted["recordings"] = _sweep_recordings(sera, merchant_id, recordings_cutoff, dry_run, batch)
    for name, (model, expired, data_class) in _targets().items():
        cutoff = now - timedelta(days=days[data_class])
        report.deleted[name] = _sweep_table(sera, merchant_id, model, expired(cutoff), dry_run, batch)
    audit_cutoff = now - timedelta(days=days["audit_logs"])
    report.deleted["audit_entries"] = _sweep_audit(sera, merchant_id, audit_cutoff, dry_run, batch)
    if not dry_run:
        ordered = order_expired(sera, merchant_id, days, now)
        report.deleted["provider_copies"] = len(ordered)  # ordered deleted at the provider
        report.deleted["provider_copy_records"] = prune_settled(sera, merchant_id, audit_cutoff)
        start_deletions(sera, ordered)
    if not dry_run:
        with sera.uow(merchant_id) as uow:
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
