"""A shop's retention periods, changed by the merchant: validated as the shop file validates
them, previewed before they are saved, and audited.

Invariants:
- The bounds are the shop file's (``sera.merchants.shop_file.Retention``): any period may be
  shortened to a day, lengthened to ten years at most, and audit logs never go below two
  years. One model decides, so ``sera shop import`` and the dashboard refuse the same values.
- A preview deletes nothing: it counts what the next sweep would delete under the new periods.
- A change is stored in the shop's settings (``retention``, as the shop file stores it) and
  audited with the periods before and after (days only).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select

from sera import audit
from sera.bootstrap import Sera
from sera.merchants.shop_file import Retention
from sera.privacy.retention import DEFAULT_DAYS, merchant_retention_days, sweep_merchant
from sera.storage.models import AuditEntry, Checkout, Merchant


@dataclass(frozen=True)
class DataClass:
    name: str
    label: str
    what: str  # the records that go at the end of the period
    default: int
    shortest: int
    longest: int


def _bounds(name: str) -> tuple[int, int]:
    shortest = longest = DEFAULT_DAYS[name]
    for meta in Retention.model_fields[name].metadata:
        shortest = getattr(meta, "ge", None) or shortest
        longest = getattr(meta, "le", None) or longest
    return shortest, longest


_LABELS = {
    "recordings_transcripts": ("Recordings and transcripts", "recordings, transcripts and messages"),
    "call_logs": ("Call logs", "call records and usage records"),
    "abandoned_checkouts": ("Abandoned checkouts", "abandoned checkouts and their recovery messages"),
    "audit_logs": ("Audit log", "audit log entries"),
}
DATA_CLASSES = tuple(DataClass(name, *_LABELS[name], DEFAULT_DAYS[name], *_bounds(name)) for name in DEFAULT_DAYS)


class RetentionError(ValueError):
    """Periods the policy does not allow: ``errors`` maps each data class to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def validate_periods(values: dict[str, str]) -> dict[str, int]:
    """Days per data class from what the merchant typed; raises ``RetentionError``."""
    try:
        parsed = Retention.model_validate({name: _whole(values.get(name)) for name in DEFAULT_DAYS})
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for problem in exc.errors():
            name = str(problem["loc"][0])
            kind = next(c for c in DATA_CLASSES if c.name == name)
            errors[name] = f"enter a whole number of days from {kind.shortest} to {kind.longest}"
        raise RetentionError(errors) from None
    return {name: int(getattr(parsed, name)) for name in DEFAULT_DAYS}


def _whole(value: str | None) -> int | str:
    """A whole number typed (the shop file's model takes no text for a number); else the text,
    which the model refuses."""
    text = (value or "").strip()
    return int(text) if text.isdigit() and len(text) <= 6 else text


@dataclass(frozen=True)
class PeriodEffect:
    data_class: DataClass
    days: int
    before: datetime  # records older than this go at the next sweep
    counts: dict[str, int]  # what goes, by kind of record

    @property
    def total(self) -> int:
        return sum(self.counts.values())


_KINDS = {  # a sweep's report, by the data class each count belongs to
    "recordings": "recordings_transcripts",
    "transcripts": "recordings_transcripts",
    "messages": "recordings_transcripts",
    "conversations": "recordings_transcripts",
    "unanswered_questions": "recordings_transcripts",
    "feedback": "call_logs",
    "calls": "call_logs",
    "usage_records": "call_logs",
    "abandoned_checkouts": "abandoned_checkouts",
}


def preview_periods(sera: Sera, merchant_id: str, days: dict[str, int], now: datetime) -> list[PeriodEffect]:
    """What the next sweep would delete under ``days``; deletes nothing."""
    report = sweep_merchant(sera, merchant_id, now, dry_run=True, days=days)
    counts: dict[str, dict[str, int]] = {c.name: {} for c in DATA_CLASSES}
    for kind, count in report.deleted.items():
        if kind in _KINDS:
            counts[_KINDS[kind]][kind] = count
    with sera.uow(merchant_id, readonly=True) as uow:
        checkouts_before = now - timedelta(days=days["abandoned_checkouts"])
        counts["abandoned_checkouts"]["checkouts"] = int(
            uow.session.execute(
                select(func.count()).select_from(Checkout).where(Checkout.created_at < checkouts_before)
            ).scalar_one()
        )
        audit_before = now - timedelta(days=days["audit_logs"])
        counts["audit_logs"]["audit_entries"] = int(
            uow.session.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.chain == merchant_id, AuditEntry.at < audit_before)
            ).scalar_one()
        )
    return [PeriodEffect(c, days[c.name], now - timedelta(days=days[c.name]), counts[c.name]) for c in DATA_CLASSES]


def current_periods(sera: Sera, merchant_id: str) -> dict[str, int]:
    return merchant_retention_days(sera, merchant_id)


def set_periods(sera: Sera, merchant_id: str, days: dict[str, int], *, actor: str) -> bool:
    """Save the shop's periods (validated again here), audited; False if nothing changed."""
    days = validate_periods({k: str(v) for k, v in days.items()})
    with sera.uow(merchant_id) as uow:
        merchant = uow.session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one()
        settings: dict[str, Any] = dict(merchant.settings or {})
        before = {**DEFAULT_DAYS, **(settings.get("retention") or {})}
        if {k: int(v) for k, v in before.items() if k in DEFAULT_DAYS} == days:
            return False
        merchant.settings = {**settings, "retention": days}  # a new dict: the JSON column sees the change
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="retention.changed",
            target_type="merchant",
            target_id=merchant_id,
            details={"before": {k: int(v) for k, v in before.items() if k in DEFAULT_DAYS}, "after": days},
        )
        uow.commit()
    return True
