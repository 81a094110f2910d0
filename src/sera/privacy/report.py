"""The privacy report: for a shop's erasures (and its retention and shop deletions), every
copy Sera held and when it was deleted, in Sera's database and at each provider.

Built from the audit log and the deletion ledger only, so it holds ids and times, never
personal data, and it can be made after the shop itself is gone: ready to send to a
customer or a regulator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from sera.bootstrap import Sera
from sera.privacy.copies import CopyView, copies_of
from sera.storage.models import AuditEntry


@dataclass(frozen=True)
class Erasure:
    """One customer's erasure: when Sera's own copy went, what it held, and the provider copies."""

    customer_id: str
    erased_at: datetime | None  # None: only copies at providers were ordered (no audit entry)
    actor: str | None
    database: dict[str, Any]  # what the audit entry counts: rows deleted and anonymised
    copies: list[CopyView] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(c.status == "deleted" for c in self.copies)


@dataclass(frozen=True)
class PrivacyReport:
    merchant_id: str
    made_at: datetime
    erasures: list[Erasure]
    other: dict[str, list[CopyView]]  # retention, shop deletion, recordings not kept: by reason


def privacy_report(sera: Sera, merchant_id: str, *, customer_id: str | None = None) -> PrivacyReport:
    with sera.uow(readonly=True) as uow:
        query = select(AuditEntry).where(AuditEntry.merchant_id == merchant_id, AuditEntry.action == "customer.erased")
        if customer_id is not None:
            query = query.where(AuditEntry.target_id == customer_id)
        entries = list(uow.session.execute(query.order_by(AuditEntry.seq)).scalars())
    erasures: dict[str, Erasure] = {
        str(e.target_id): Erasure(str(e.target_id), e.at, e.actor, e.details) for e in entries if e.target_id
    }
    other: dict[str, list[CopyView]] = {}
    for copy in copies_of(sera, merchant_id, customer_id=customer_id):
        if copy.reason == "erasure" and copy.customer_id is not None:
            erasure = erasures.setdefault(copy.customer_id, Erasure(copy.customer_id, None, None, {}))
            erasure.copies.append(copy)
        elif customer_id is None:
            other.setdefault(copy.reason or "", []).append(copy)
    return PrivacyReport(merchant_id, sera.clock(), list(erasures.values()), other)


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "-"


def _copy_line(copy: CopyView) -> str:
    what = f"{copy.provider} {copy.kind}"
    if copy.status == "deleted":
        done = "deleted" if copy.result == "deleted" else "already gone at the provider"
        state = f"{done} {_when(copy.deleted_at)}"
    else:
        error = f", last: {copy.last_error}" if copy.last_error else ""
        redacted = f", content redacted {_when(copy.redacted_at)}" if copy.redacted_at else ""
        tried = f"{copy.attempts} attempts{error}{redacted}"
        state = f"PENDING since {_when(copy.requested_at)} (due {_when(copy.due_at)}, {tried})"
    return f"    {what:<17} {copy.provider_id:<40} {state}"


def render_report(report: PrivacyReport, shop_name: str | None) -> str:
    lines = [
        f"Privacy report for {shop_name or 'a deleted shop'} ({report.merchant_id}), made {_when(report.made_at)}.",
        "From Sera's audit log and its ledger of copies held by providers (Twilio, Vapi): ids and times only.",
        "",
    ]
    for erasure in report.erasures:
        lines.append(f"Erasure of customer {erasure.customer_id}")
        if erasure.erased_at:
            counts = {**erasure.database.get("deleted", {}), **erasure.database.get("anonymised", {})}
            touched = ", ".join(f"{table} {n}" for table, n in counts.items() if n) or "no rows held"
            lines.append(f"  Sera's database: keys destroyed and rows erased {_when(erasure.erased_at)} ({touched})")
        lines.append(
            f"  At providers: {len(erasure.copies)} copies, {'all deleted' if erasure.complete else 'deletion pending'}"
        )
        lines += [_copy_line(c) for c in erasure.copies]
        lines.append("")
    titles = {
        "retention": "Deleted at the end of their retention period",
        "shop_deletion": "Deleted with the shop",
        "not_recorded": "Recordings the shop does not keep",
    }
    for reason, copies in report.other.items():
        lines.append(f"{titles.get(reason, reason)}: {len(copies)} copies")
        lines += [_copy_line(c) for c in copies]
        lines.append("")
    if not report.erasures and not report.other:
        lines.append("No erasure or deletion at providers recorded.")
    return "\n".join(lines).rstrip() + "\n"
