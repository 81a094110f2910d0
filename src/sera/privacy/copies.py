"""The deletion ledger: copies of conversations held by providers, and their deletion there.

Twilio and Vapi are processors acting on Sera's instructions: a recording, a text or a
call that Sera caused to exist in their systems is deleted there when Sera's own copy
would be (retention), when the customer is erased, and when the shop is deleted.

Invariants:
- Every copy is written to the ledger when it is made (``note_copy``): the provider, the
  kind, the provider's id, its data class, the customer and our own record where known.
  The ledger holds ids only, never personal data, and outlives its shop, like the audit log.
- An order turns ``kept`` rows into ``pending`` ones, each due 48 hours after the order.
  A pending row is never dropped: each attempt either settles it (``deleted``, or ``gone``
  when the provider answers 404) or schedules the next attempt with backoff, up to hourly.
- Deletion is claimed before the provider is asked (``claimed_until``, for
  ``SERA_DELETION_CLAIM_SECONDS``), so two workers never ask for the same copy at once; a
  worker that dies after the provider deleted the copy leaves a claim that runs out, and
  the next attempt finds the copy gone.
- Each outcome at the provider (deleted, gone, a message body redacted while its deletion
  is refused) is in the shop's audit chain: provider, kind, id, result.
- HubSpot's copies are in the ledger from the erasure that orders them (``order_elsewhere``):
  HubSpot's own queue deletes them in its order and settles them here (``settled_elsewhere``).
- A deleted shop's own provider secret is kept (wrapped under the master keyring, in the key
  store) only while copies in its account are pending, then forgotten.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from sera import audit
from sera.bootstrap import Sera
from sera.merchants.providers import provider_credentials
from sera.privacy.service import ANSWER_WITHIN
from sera.storage import attempts
from sera.storage.database import UnitOfWork, clock_of, conflict_insert, rows
from sera.storage.models import Merchant, ProviderCopy, new_id

log = logging.getLogger("sera.privacy")

# What a copy holds, by provider and kind: the retention class it expires with.
DATA_CLASS = {
    ("twilio", "call"): "call_logs",  # numbers, times, duration
    ("twilio", "recording"): "recordings_transcripts",
    ("twilio", "message"): "recordings_transcripts",  # a text's body and numbers
    ("vapi", "call"): "recordings_transcripts",  # the call with its recording, transcript and summary
}
SHOP_ACCOUNTS = ("twilio",)  # providers where a shop may bring its own account (its secret sealed)
Reason = Literal["erasure", "retention", "shop_deletion", "not_recorded"]
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)
ORDER_BATCH = 1000
DELETE_JOB = "privacy.delete_copy"  # one copy id


@dataclass(frozen=True)
class CopyRef:
    """What a deleter needs to know of a copy (ids only)."""

    id: str
    merchant_id: str
    provider: str
    kind: str
    provider_id: str
    redacted: bool  # a message whose body was already redacted while its deletion was refused


Outcome = Literal["deleted", "gone", "not_yet", "redacted"]


class Deleter(Protocol):
    """One provider's deletion of a copy. ``deleted``: the provider deleted it now; ``gone``:
    it no longer had it (404); ``not_yet``: the provider refuses for now (a message or call not
    yet final), try later; ``redacted``: refused for now, but its content was redacted meanwhile.
    Raises ``sera.adapters.http``'s errors (or any exception) when the provider could not be
    asked or refused otherwise: the attempt is retried later."""

    def delete(self, copy: CopyRef) -> Outcome: ...


Deleters = Callable[[str, str], Deleter | None]  # (merchant id, provider) -> its deleter, or None


# -- writing the ledger ----------------------------------------------------------------------


def holds_copies(provider: str, kind: str) -> bool:
    """Whether a ``kind`` made through ``provider`` leaves a copy there."""
    return (provider, kind) in DATA_CLASS


def note_copy(
    uow: UnitOfWork,
    *,
    provider: str,
    kind: str,
    provider_id: str,
    customer_id: str | None = None,
    record_id: str | None = None,
) -> None:
    """Record a copy the provider now holds; noting it again fills in what was not known."""
    if uow.merchant_id is None:
        raise RuntimeError("copies belong to a merchant")
    data_class = DATA_CLASS[(provider, kind)]
    insert = conflict_insert(uow.session.connection())(ProviderCopy).values(
        id=new_id("pcp"),
        merchant_id=uow.merchant_id,
        provider=provider,
        kind=kind,
        provider_id=provider_id[:64],
        data_class=data_class,
        customer_id=customer_id,
        record_id=record_id,
        created_at=clock_of(uow.session),
        status="kept",
        attempts=0,
    )
    uow.session.execute(
        insert.on_conflict_do_update(
            index_elements=["provider", "kind", "provider_id"],
            set_={
                "customer_id": func.coalesce(ProviderCopy.customer_id, insert.excluded.customer_id),
                "record_id": func.coalesce(ProviderCopy.record_id, insert.excluded.record_id),
            },
            where=ProviderCopy.merchant_id == uow.merchant_id,
        )
    )


def _order(
    session: Session,
    where: ColumnElement[bool],
    reason: Reason,
    now: datetime,
    limit: int | None,
    **also: str,
) -> list[str]:
    """Turn kept copies matching ``where`` into pending deletions (setting ``also`` on them);
    returns their ids."""
    query = select(ProviderCopy.id).where(ProviderCopy.status == "kept", where)
    ids = list(session.execute(query.limit(limit) if limit else query).scalars())
    if ids:
        session.execute(
            update(ProviderCopy)
            .where(ProviderCopy.id.in_(ids), ProviderCopy.status == "kept")
            .values(
                status="pending",
                reason=reason,
                requested_at=now,
                due_at=now + ANSWER_WITHIN,
                next_attempt_at=now,
                **also,
            ),
            execution_options={"synchronize_session": False},
        )
    return ids


def order_copy(uow: UnitOfWork, provider: str, kind: str, provider_id: str, reason: Reason, now: datetime) -> list[str]:
    """Order one copy's deletion (e.g. a recording the shop does not keep)."""
    where = and_(
        ProviderCopy.merchant_id == uow.merchant_id,
        ProviderCopy.provider == provider,
        ProviderCopy.kind == kind,
        ProviderCopy.provider_id == provider_id,
    )
    return _order(uow.session, where, reason, now, None)


def order_elsewhere(
    uow: UnitOfWork, *, provider: str, kind: str, provider_id: str, customer_id: str | None, now: datetime
) -> None:
    """Record a deletion that the provider's own queue carries out, in its order (HubSpot's):
    pending in the ledger with no next attempt, so the ledger's job never takes it; the queue
    settles it (``settled_elsewhere``). Ordering it again changes nothing."""
    insert = conflict_insert(uow.session.connection())(ProviderCopy).values(
        id=new_id("pcp"),
        merchant_id=uow.merchant_id,
        provider=provider,
        kind=kind,
        provider_id=provider_id[:64],
        data_class="crm_records",
        customer_id=customer_id,
        created_at=now,
        status="pending",
        reason="erasure",
        requested_at=now,
        due_at=now + ANSWER_WITHIN,
        attempts=0,
    )
    uow.session.execute(insert.on_conflict_do_nothing(index_elements=["provider", "kind", "provider_id"]))


def take_over(uow: UnitOfWork, provider: str, now: datetime) -> list[str]:
    """Deletions ordered with ``order_elsewhere`` whose queue is going (its shop is deleted)
    become the ledger's own, due now; their ids."""
    ids = list(
        uow.session.execute(
            select(ProviderCopy.id).where(
                ProviderCopy.merchant_id == uow.merchant_id,
                ProviderCopy.provider == provider,
                ProviderCopy.status == "pending",
                ProviderCopy.next_attempt_at.is_(None),
            )
        ).scalars()
    )
    if ids:
        uow.session.execute(update(ProviderCopy).where(ProviderCopy.id.in_(ids)).values(next_attempt_at=now))
    return ids


def settled_elsewhere(
    uow: UnitOfWork, *, provider: str, kind: str, provider_id: str, outcome: Outcome | None, error: str | None = None
) -> None:
    """The provider's queue tried a deletion ordered with ``order_elsewhere``: ``deleted`` or
    ``gone`` settles it (audited like the ledger's own), None records why it is not done."""
    row = uow.session.execute(
        select(ProviderCopy).where(
            ProviderCopy.merchant_id == uow.merchant_id,
            ProviderCopy.provider == provider,
            ProviderCopy.kind == kind,
            ProviderCopy.provider_id == provider_id[:64],
            ProviderCopy.status == "pending",
        )
    ).scalar_one_or_none()
    if row is None:
        return
    now = clock_of(uow.session)
    row.attempts += 1
    if outcome not in ("deleted", "gone"):
        row.last_error = (error or "not deleted yet")[:120]
        return
    row.status, row.result, row.deleted_at, row.last_error = "deleted", outcome, now, None
    _audit_outcome(uow.session, row, outcome, now)


def order_for_customer(uow: UnitOfWork, customer_id: str, record_ids: Sequence[str], now: datetime) -> list[str]:
    """Erasure: the customer's copies, and the copies of their calls and messages."""
    mine = ProviderCopy.customer_id == customer_id
    if record_ids:
        mine = or_(mine, ProviderCopy.record_id.in_(list(record_ids)))
    where = and_(ProviderCopy.merchant_id == uow.merchant_id, mine)
    return _order(uow.session, where, "erasure", now, None, customer_id=customer_id)


def _order_in_batches(sera: Sera, where: ColumnElement[bool], reason: Reason, now: datetime) -> list[str]:
    ordered: list[str] = []
    while True:
        with sera.uow() as uow:
            ids = _order(uow.session, where, reason, now, ORDER_BATCH)
            uow.commit()
        ordered += ids
        if len(ids) < ORDER_BATCH:
            return ordered


def order_for_shop(sera: Sera, merchant_id: str, now: datetime) -> list[str]:
    """Shop deletion: every copy of the shop, in bounded transactions."""
    return _order_in_batches(sera, ProviderCopy.merchant_id == merchant_id, "shop_deletion", now)


def order_expired(sera: Sera, merchant_id: str, days: dict[str, int], now: datetime) -> list[str]:
    """Retention: copies older than their data class's period. A call also holds the call
    log, so a call goes at the shorter of its class's period and the call logs'."""
    calls_cut = now - timedelta(days=days["call_logs"])
    expired = or_(
        *(
            and_(
                ProviderCopy.data_class == data_class, ProviderCopy.created_at < now - timedelta(days=days[data_class])
            )
            for data_class in sorted(set(DATA_CLASS.values()))
        ),
        and_(ProviderCopy.kind == "call", ProviderCopy.created_at < calls_cut),
    )
    return _order_in_batches(sera, and_(ProviderCopy.merchant_id == merchant_id, expired), "retention", now)


def keep_shop_credentials(sera: Sera, merchant_id: str) -> None:
    """Before a shop's key is destroyed: keep its own account's secret at each provider where
    copies wait for deletion (the secret is sealed under that key)."""
    with sera.uow(readonly=True) as uow:
        waiting = set(
            uow.session.execute(
                select(ProviderCopy.provider).where(
                    ProviderCopy.merchant_id == merchant_id, ProviderCopy.status == "pending"
                )
            ).scalars()
        )
    for provider in sorted(waiting & set(SHOP_ACCOUNTS)):
        with sera.uow(merchant_id, readonly=True) as uow:
            own = provider_credentials(uow, provider)
        if own is not None and own.secret:
            sera.keystore.keep_for_deletion(merchant_id, provider, own.account_id, own.secret)


def prune_settled(sera: Sera, merchant_id: str, before: datetime) -> int:
    """Ledger rows of deletions done before ``before`` (kept as long as the audit log)."""
    with sera.uow() as uow:
        count = rows(
            uow.session.execute(
                delete(ProviderCopy).where(
                    ProviderCopy.merchant_id == merchant_id,
                    ProviderCopy.status == "deleted",
                    ProviderCopy.deleted_at < before,
                )
            )
        )
        uow.commit()
    return count


# -- carrying out deletions --------------------------------------------------------------------


def start_deletions(sera: Sera, copy_ids: Sequence[str]) -> None:
    """Queue the deletions just ordered (the first batch; ``take_due`` queues the rest)."""
    if sera.jobs is not None:
        for copy_id in copy_ids[:ORDER_BATCH]:
            sera.jobs.enqueue(DELETE_JOB, copy_id)


def take_due(sera: Sera, now: datetime, limit: int = 2000) -> list[str]:
    """Pending copies whose next attempt is due and that no worker holds, to be queued now."""
    with sera.uow() as uow:
        ids = attempts.take_due(uow, ProviderCopy, now, _claim_length(sera), limit)
        uow.commit()
    return ids


def _claim_length(sera: Sera) -> timedelta:
    return timedelta(seconds=sera.settings.deletion_claim_seconds)


def _claim(sera: Sera, copy_id: str, now: datetime) -> CopyRef | None:
    with sera.uow() as uow:
        claimed = attempts.claim(uow, ProviderCopy, copy_id, now, _claim_length(sera))
        row = uow.session.get(ProviderCopy, copy_id) if claimed else None
        uow.commit()
    if row is None:
        return None
    return CopyRef(row.id, row.merchant_id, row.provider, row.kind, row.provider_id, row.redacted_at is not None)


def backoff(tries: int) -> timedelta:
    """30 s, 1 min, 2 min... up to an hour between attempts, for as long as it takes."""
    return attempts.backoff(tries, FIRST_RETRY, LONGEST_RETRY)


def delete_copy(sera: Sera, deleters: Deleters, copy_id: str) -> str | None:
    """One attempt at deleting a pending copy at its provider. Returns the outcome (``deleted``,
    ``gone``, ``retry``), or None when the copy is not due or another worker holds it."""
    now = sera.clock()
    copy = _claim(sera, copy_id, now)
    if copy is None:
        return None
    deleter = deleters(copy.merchant_id, copy.provider)
    outcome: Outcome | None = None
    error = None
    if deleter is None:
        error = f"no {copy.provider} account to delete with"
    else:
        try:
            outcome = deleter.delete(copy)
        except Exception as exc:  # whatever went wrong, the copy stays pending
            error = str(exc)[:120] or type(exc).__name__
    return _settle(sera, copy, outcome, error)


def _settle(sera: Sera, copy: CopyRef, outcome: Outcome | None, error: str | None) -> str:
    now = sera.clock()
    final = outcome in ("deleted", "gone")
    with sera.uow() as uow:
        row = uow.session.get(ProviderCopy, copy.id)
        if row is None or row.status != "pending":
            return "settled"
        row.claimed_until = None
        if final:
            row.status, row.result, row.deleted_at, row.last_error = "deleted", outcome, now, None
        else:
            row.next_attempt_at = now + backoff(row.attempts)
            row.last_error = error or ("the provider refuses deletion for now" if outcome else None)
            if outcome == "redacted":
                row.redacted_at = now
        if outcome in ("deleted", "gone", "redacted"):
            _audit_outcome(uow.session, row, outcome, now)
        uow.commit()
    if error:
        log.warning(
            "provider copy not deleted yet",
            extra={"copy": copy.id, "provider": copy.provider, "kind": copy.kind, "error": error},
        )
    if final:
        _forget_credentials_when_done(sera, copy.merchant_id, copy.provider)
    return outcome if final and outcome else "retry"


def _audit_outcome(session: Session, row: ProviderCopy, outcome: Outcome, now: datetime) -> None:
    """A copy deleted (or gone, or redacted) at its provider, in the audit chain: ids only."""
    audit.record(
        session,
        merchant_id=row.merchant_id,
        actor=f"system:{row.provider}",
        action=f"provider_copy.{'redacted' if outcome == 'redacted' else 'deleted'}",
        target_type="provider_copy",
        target_id=row.id,
        details={
            "provider": row.provider,
            "kind": row.kind,
            "provider_id": row.provider_id,
            "result": outcome,
            "reason": row.reason,
        },
        at=now,
    )


def _forget_credentials_when_done(sera: Sera, merchant_id: str, provider: str) -> None:
    """A deleted shop's provider secret goes once nothing of it is pending there."""
    with sera.uow(readonly=True) as uow:
        if uow.session.execute(select(Merchant.id).where(Merchant.id == merchant_id)).first() is not None:
            return  # a live shop's secret is its own account's, not kept for this
        pending = uow.session.execute(
            select(ProviderCopy.id)
            .where(
                ProviderCopy.merchant_id == merchant_id,
                ProviderCopy.provider == provider,
                ProviderCopy.status == "pending",
            )
            .limit(1)
        ).first()
    if pending is None:
        sera.keystore.forget_for_deletion(merchant_id, provider)


# -- reading the ledger ------------------------------------------------------------------------


@dataclass(frozen=True)
class CopyView:
    id: str
    merchant_id: str
    provider: str
    kind: str
    provider_id: str
    data_class: str
    customer_id: str | None
    created_at: datetime
    status: str
    reason: str | None
    requested_at: datetime | None
    due_at: datetime | None
    attempts: int
    last_error: str | None
    redacted_at: datetime | None
    deleted_at: datetime | None
    result: str | None


def _view(row: ProviderCopy) -> CopyView:
    return CopyView(
        **{name: getattr(row, name) for name in CopyView.__dataclass_fields__}  # the same names
    )


def count_pending(sera: Sera) -> int:
    """How many copies are ordered deleted and not yet deleted at their provider."""
    with sera.uow(readonly=True) as uow:
        query = select(func.count()).select_from(ProviderCopy).where(ProviderCopy.status == "pending")
        return int(uow.session.execute(query).scalar_one())


def pending_copies(sera: Sera, *, overdue_at: datetime | None = None, limit: int = 1000) -> list[CopyView]:
    """Deletions not yet done at the provider (only those past due, with ``overdue_at``)."""
    query = select(ProviderCopy).where(ProviderCopy.status == "pending")
    if overdue_at is not None:
        query = query.where(ProviderCopy.due_at < overdue_at)
    with sera.uow(readonly=True) as uow:
        return [_view(r) for r in uow.session.execute(query.order_by(ProviderCopy.due_at).limit(limit)).scalars()]


def copies_of(sera: Sera, merchant_id: str, *, customer_id: str | None = None) -> list[CopyView]:
    """A shop's copies ordered deleted (one customer's, with ``customer_id``), oldest first."""
    conditions: list[Any] = [ProviderCopy.merchant_id == merchant_id, ProviderCopy.status != "kept"]
    if customer_id is not None:
        conditions.append(ProviderCopy.customer_id == customer_id)
    with sera.uow(readonly=True) as uow:
        found = uow.session.execute(
            select(ProviderCopy).where(*conditions).order_by(ProviderCopy.requested_at, ProviderCopy.created_at)
        ).scalars()
        return [_view(r) for r in found]
