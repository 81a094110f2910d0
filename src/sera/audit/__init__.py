"""The tamper-evident audit log.

Invariants:
- Entries are append-only and chained per merchant (plus one "system" chain): each
  holds the hash of the previous entry of its chain and a contiguous position.
- Entries hold ids, hashes, counts and action names, never personal data, so they
  can outlive the erasure of what they describe.
- Appending locks the chain's head row, so concurrent writers never fork a chain.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import takewhile
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from sera.observability import current_request_id
from sera.storage.database import clock_of
from sera.storage.models import AuditEntry, AuditHead

SYSTEM_CHAIN = "system"
GENESIS = "0" * 64


def _canonical(entry: AuditEntry) -> bytes:
    body = {
        "chain": entry.chain,
        "position": entry.position,
        "merchant_id": entry.merchant_id,
        "at": entry.at.isoformat(timespec="microseconds"),
        "actor": entry.actor,
        "action": entry.action,
        "target_type": entry.target_type,
        "target_id": entry.target_id,
        "request_id": entry.request_id,
        "details": entry.details,
        "prev_hash": entry.prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def entry_hash(entry: AuditEntry) -> str:
    return hashlib.sha256(_canonical(entry)).hexdigest()


def record(
    session: Session,
    *,
    merchant_id: str | None,
    actor: str,
    action: str,
    target_type: str | None = None,
    target_id: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Append an entry in the caller's transaction (it commits or rolls back with it)."""
    chain = merchant_id or SYSTEM_CHAIN
    head = session.execute(select(AuditHead).where(AuditHead.chain == chain).with_for_update()).scalar_one_or_none()
    if head is None:
        head = AuditHead(chain=chain, position=0, hash=GENESIS)
        session.add(head)
    entry = AuditEntry(
        chain=chain,
        position=head.position + 1,
        merchant_id=merchant_id,
        at=at or clock_of(session),
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=target_id,
        request_id=current_request_id(),
        details=details or {},
        prev_hash=head.hash,
    )
    entry.hash = entry_hash(entry)
    head.position, head.hash = entry.position, entry.hash
    session.add(entry)
    session.flush()
    return entry


def record_read(
    session: Session, *, merchant_id: str, actor: str, action: str, target_type: str, ids: list[str]
) -> None:
    """A read of personal data (a page or an API answer), by ids only: one entry per read."""
    record(
        session,
        merchant_id=merchant_id,
        actor=actor,
        action=action,
        target_type=target_type,
        target_id=ids[0] if len(ids) == 1 else None,
        details={"count": len(ids)},
    )


@dataclass(frozen=True)
class VerifyResult:
    chain: str
    entries: int
    problem: str | None = None  # names the first bad entry

    @property
    def ok(self) -> bool:
        return self.problem is None


def _chain_entries(session: Session, chain: str) -> Iterator[AuditEntry]:
    last = 0
    while True:
        batch = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.chain == chain, AuditEntry.position > last)
                .order_by(AuditEntry.position)
                .limit(1000)
            )
            .scalars()
            .all()
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].position


def verify_chain(session: Session, chain: str) -> VerifyResult:
    """Walk a chain and name the first entry that was changed, deleted or reordered."""
    head = session.get(AuditHead, chain)
    expected_prev, expected_position, count = GENESIS, 1, 0
    if head is not None and head.floor_position:
        expected_prev, expected_position = head.floor_hash, head.floor_position + 1
    for entry in _chain_entries(session, chain):
        where = f"entry #{entry.position} (seq {entry.seq}, {entry.action})"
        if entry.position != expected_position:
            return VerifyResult(chain, count, f"entry #{expected_position} is missing (deleted) before {where}")
        if entry.prev_hash != expected_prev:
            return VerifyResult(chain, count, f"{where} does not follow the previous entry (reordered or deleted)")
        if entry_hash(entry) != entry.hash:
            return VerifyResult(chain, count, f"{where} was changed after it was written")
        expected_prev, expected_position, count = entry.hash, expected_position + 1, count + 1
    last = expected_position - 1
    if head is not None and (head.position != last or head.hash != expected_prev):
        return VerifyResult(chain, count, f"entries after #{last} are missing (the chain head is at #{head.position})")
    return VerifyResult(chain, count)


def prune(session: Session, chain: str, before: datetime, batch: int = 1000) -> int:
    """Delete up to ``batch`` of a chain's oldest entries written before ``before``.

    The head remembers where the kept part starts, so the rest still verifies.
    """
    head = session.execute(select(AuditHead).where(AuditHead.chain == chain).with_for_update()).scalar_one_or_none()
    if head is None:
        return 0
    oldest = (
        session.execute(select(AuditEntry).where(AuditEntry.chain == chain).order_by(AuditEntry.position).limit(batch))
        .scalars()
        .all()
    )
    old = list(takewhile(lambda entry: entry.at < before, oldest))  # only ever a prefix of the chain
    if not old:
        return 0
    head.floor_position, head.floor_hash = old[-1].position, old[-1].hash
    session.execute(delete(AuditEntry).where(AuditEntry.chain == chain, AuditEntry.position <= old[-1].position))
    return len(old)


def chains(session: Session) -> list[str]:
    return list(session.execute(select(AuditHead.chain).order_by(AuditHead.chain)).scalars())
