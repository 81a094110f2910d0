"""A shop's audit log as the merchant reads it: filtered, paged newest first, and its chain
checked. Entries hold ids, counts and action names only (``sera.audit``), so showing them
shows no personal data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from sera import audit
from sera.storage.database import UnitOfWork
from sera.storage.models import AuditEntry
from sera.storage.paging import MAX_LIMIT, Page


@dataclass(frozen=True)
class AuditFilter:
    action: str | None = None
    actor: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True)
class AuditLine:
    position: int
    at: datetime
    actor: str
    action: str
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]


def _chain(uow: UnitOfWork) -> str:
    if uow.merchant_id is None:
        raise RuntimeError("a shop's audit log needs a merchant-scoped unit of work")
    return uow.merchant_id


def list_audit_entries(
    uow: UnitOfWork, wanted: AuditFilter, *, limit: int = 50, cursor: str | None = None
) -> Page[AuditLine]:
    """The shop's entries matching ``wanted``, newest first. The cursor is the position in the
    chain to continue below (entries are never inserted in the middle of a chain)."""
    query = select(AuditEntry).where(AuditEntry.chain == _chain(uow))
    if wanted.action:
        query = query.where(AuditEntry.action == wanted.action)
    if wanted.actor:
        query = query.where(AuditEntry.actor == wanted.actor)
    if wanted.since is not None:
        query = query.where(AuditEntry.at >= wanted.since)
    if wanted.until is not None:
        query = query.where(AuditEntry.at < wanted.until)
    if cursor is not None and cursor.isdigit():
        query = query.where(AuditEntry.position < int(cursor))
    limit = max(1, min(limit, MAX_LIMIT))
    rows = uow.session.execute(query.order_by(AuditEntry.position.desc()).limit(limit + 1)).scalars().all()
    kept = rows[:limit]
    lines = [
        AuditLine(e.position, e.at, e.actor, e.action, e.target_type, e.target_id, dict(e.details or {})) for e in kept
    ]
    return Page(lines, str(kept[-1].position) if len(rows) > limit else None)


def audit_actions(uow: UnitOfWork) -> list[str]:
    """The actions the shop's log holds, for a filter's choices."""
    query = select(AuditEntry.action).where(AuditEntry.chain == _chain(uow)).distinct().order_by(AuditEntry.action)
    return list(uow.session.execute(query).scalars())


def verify_shop_chain(uow: UnitOfWork) -> audit.VerifyResult:
    """Walk the shop's chain: the first entry changed, deleted or reordered, if any."""
    return audit.verify_chain(uow.session, _chain(uow))
