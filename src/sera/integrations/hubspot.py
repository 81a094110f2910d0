"""HubSpot, the first native CRM: a shop's calls and appointments written to its HubSpot account.

Invariants:
- The private-app token is checked against HubSpot before it is kept, then sealed under the
  shop's key; connecting and disconnecting are audited; the token is never shown again.
- Each call and appointment is one ``HubspotSync`` row per shop, queued in the transaction of
  the event that reports it (``sera.integrations.events``): a change that rolls back sends
  nothing. A row holds ids only; what goes is read from the call or appointment when it goes.
- A shop's queue is sent in order, by one worker at a time. A 429 pauses the whole queue until
  HubSpot's ``Retry-After``; a 5xx or a lost connection pauses it with backoff. The row at the
  head stays at the head, so nothing is lost and nothing overtakes.
- Created once per Sera id: HubSpot's id is recorded with the row, and a contact Sera created is
  recorded even when what follows fails. HubSpot has no idempotency key for these objects, so a
  row tried again without a HubSpot id (its answer was lost, or Sera stopped between HubSpot's
  answer and its own commit) first searches HubSpot for the object by its title, which carries
  Sera's id, and adopts what it finds. The guarantee: no duplicate unless HubSpot's search index
  lags by more than the time between the two attempts (at least the queue's hold, two minutes,
  for a crash; the pause for a lost answer).
- Contact details sent: phone, email and name, nothing else. A call's summary (or transcript) only
  while the shop shares interaction data (``sera.integrations.sharing``), read when it is sent.
- An erased customer's rows not yet sent are never sent (``forget_customer``), and a row whose
  object or key is gone by the time it is sent is dropped.
- Erasure reaches HubSpot: in the erasure's transaction, the calls and meetings Sera made for the
  customer, then the contact Sera made or matched for them, are queued for deletion (archive,
  then HubSpot's GDPR delete), as rows that hold HubSpot's ids only, in the same queue, in order,
  once; a 404 is already gone. A contact another customer's rows also went to is not deleted
  (it is theirs too); the audit entry counts it. Each deletion is in the deletion ledger
  (``sera.privacy.copies``, provider ``hubspot``, id ``<portal>/<id>``) and settled there when
  HubSpot has done it. Queued deletions wait through a broken token; connecting another account
  fails them (their ids mean nothing there). Disconnecting sends them first (the connection is
  ``closing`` meanwhile), and a deleted shop hands them to the deletion ledger.
- HubSpot refusing the token (401) marks the connection broken, stops the queue (its rows are
  kept for a reconnection) and tells the shop (``hubspot_disconnected``); any other refusal fails
  that one row with HubSpot's message and the queue goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, func, or_, select, update

from sera import audit
from sera.bootstrap import Sera
from sera.crypto.envelope import DecryptionError
from sera.integrations.sharing import interaction_data
from sera.notifications.service import notify
from sera.observability import redact
from sera.storage import attempts
from sera.storage.database import UnitOfWork, clock_of, conflict_insert, rows
from sera.storage.models import Appointment, Call, Customer, HubspotConnection, HubspotSync, Service, new_id

if TYPE_CHECKING:
    from sera.privacy.copies import CopyRef, Outcome

log = logging.getLogger("sera.hubspot")

DRAIN_JOB = "hubspot.drain"  # one merchant id
HOLD = timedelta(minutes=2)  # a worker holds a shop's queue this long; one that dies leaves it after
BATCH = 200  # rows per job: a long queue is sent by several jobs in turn
RATE_LIMIT_WAIT = timedelta(seconds=10)  # HubSpot's burst window, when its 429 names no Retry-After
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(minutes=30)
BODY_LIMIT = 60_000  # hs_call_body holds 65,536 characters
KINDS = {"call.completed": "call", "appointment.booked": "appointment"}
KINDS |= {"appointment.moved": "appointment", "appointment.cancelled": "appointment"}
HANDED_OVER = attempts.HandOver("hubspot queue")
ERASE = {"call": "erase_call", "appointment": "erase_meeting"}  # a synced row -> the kind that deletes it
PROVIDER = "hubspot"  # in the deletion ledger and the key store
ERASED = {"erase_call": "calls", "erase_meeting": "meetings", "erase_contact": "contacts"}
SENDING = ("connected", "closing")  # a closing shop's queue holds only owed deletions
LEDGER_KINDS = {"calls": "call", "meetings": "meeting", "contacts": "contact"}


# -- the port: HubSpot's API as the capability sees it ------------------------------------------


class CrmRefusedError(Exception):
    """HubSpot refused the request; sending it again will not help. ``str()`` is HubSpot's reason."""


class CrmNotFoundError(CrmRefusedError):
    """HubSpot has no such object (404): for a deletion, it is already gone."""


class CrmUnauthorizedError(CrmRefusedError):
    """HubSpot refused the token (revoked, expired, or missing a scope)."""


class CrmBusyError(Exception):
    """HubSpot asked Sera to wait (429, ``retry_after`` seconds when it said), or could not answer."""

    def __init__(self, message: str, *, rate_limited: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.rate_limited = rate_limited
        self.retry_after = retry_after


class HubspotApi(Protocol):
    """One account's HubSpot (``sera.adapters.hubspot``). ``kind``: ``calls`` or ``meetings``."""

    def portal_id(self) -> str: ...

    def find_contact(self, phone: str | None, email: str | None) -> str | None: ...

    def create_contact(self, properties: dict[str, str]) -> str: ...

    def find_object(self, kind: str, title: str) -> str | None: ...

    def create_object(self, kind: str, properties: dict[str, str], contact_id: str | None) -> str: ...

    def update_object(self, kind: str, object_id: str, properties: dict[str, str]) -> None: ...

    def archive_object(self, kind: str, object_id: str) -> None: ...

    def gdpr_delete_contact(self, contact_id: str) -> None: ...


HubspotFactory = Callable[[str], HubspotApi]  # a private-app token -> its account's API


class HubspotError(ValueError):
    """The connection cannot be made as asked (the message says why, in HubSpot's words)."""


class HubspotUnavailableError(HubspotError):
    """HubSpot could not answer the check now (rate limit, outage, network): try again."""


class NotConnectedError(LookupError):
    pass


# -- connecting ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncFailure:
    kind: str
    object_id: str
    error: str | None


@dataclass(frozen=True)
class HubspotStatus:
    connected: bool
    status: str  # connected | broken | closing (disconnected, sending owed deletions only) | not_connected
    portal_id: str | None = None
    connected_at: datetime | None = None
    last_sync_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    paused_until: datetime | None = None
    pending: int = 0
    failed: int = 0
    recent_failures: list[SyncFailure] = field(default_factory=list)


def _api(sera: Sera, token: str) -> HubspotApi:
    if sera.hubspot is None:
        raise HubspotError("HubSpot is not wired in this process")
    return sera.hubspot(token)


def check_token(sera: Sera, token: str) -> str:
    """The portal (HubSpot account) id the token opens, or HubspotError with HubSpot's reason."""
    token = token.strip()
    if not token or len(token) > 500 or not token.isascii() or not token.isprintable() or " " in token:
        raise HubspotError("a HubSpot private-app access token is one word (pat-...)")
    try:
        return _api(sera, token).portal_id()
    except CrmUnauthorizedError as exc:
        raise HubspotError(f"HubSpot refused the token: {exc}") from None
    except CrmRefusedError as exc:
        raise HubspotError(f"HubSpot refused the account check: {exc}") from None
    except CrmBusyError as exc:
        raise HubspotUnavailableError(f"HubSpot could not check the token now, try again: {exc}") from None


def connect(sera: Sera, merchant_id: str, token: str, *, actor: str) -> HubspotStatus:
    """Check the token with HubSpot (outside any transaction), then keep it, sealed. Connecting
    again replaces the token and starts a stopped queue again."""
    portal = check_token(sera, token)
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        row = _connection(uow)
        if row is None:
            row = HubspotConnection(id=new_id("hsc"), merchant_id=merchant_id, portal_id=portal, failures=0, queued=0)
            uow.session.add(row)
        elif row.portal_id != portal:  # another account: what Sera created in the old one is not in it
            left = f"left in the previous HubSpot account ({row.portal_id}): delete it there"
            uow.session.execute(
                update(HubspotSync)
                .where(HubspotSync.kind.in_(ERASED), HubspotSync.status == "pending")
                .values(status="failed", last_error=left),
                execution_options={"synchronize_session": False},
            )
            uow.session.execute(
                update(HubspotSync).where(HubspotSync.kind.not_in(ERASED)).values(hubspot_id=None, contact_id=None),
                execution_options={"synchronize_session": False},
            )
        uow.vault.seal(row, token=token.strip())
        row.portal_id, row.status, row.connected_at, row.updated_at = portal, "connected", now, now
        row.failures, row.paused_until, row.draining_until = 0, None, None
        row.last_error, row.last_error_at = None, None
        uow.session.flush()
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor=actor,
            action="hubspot.connected",
            target_type="hubspot_connection",
            target_id=row.id,
            details={"portal_id": portal},
            at=now,
        )
        HANDED_OVER.after_commit(uow, [merchant_id])
        uow.commit()
        return status(uow)


def disconnect(uow: UnitOfWork, *, actor: str) -> None:
    """Stop sending to HubSpot (what was sent stays there). Deletions owed to erased customers
    are still sent first: until they are, the connection is ``closing`` and keeps its
    token for them alone; then the token is forgotten."""
    row = _connection(uow)
    if row is None:
        raise NotConnectedError("HubSpot is not connected")
    owed = HubspotSync.kind.in_(ERASED) & (HubspotSync.status == "pending")
    uow.session.execute(
        delete(HubspotSync).where(HubspotSync.merchant_id == row.merchant_id, ~owed),
        execution_options={"synchronize_session": False},
    )
    deletions = uow.session.execute(select(func.count()).select_from(HubspotSync)).scalar_one()
    if deletions:
        row.status, row.updated_at = "closing", clock_of(uow.session)
        assert uow.merchant_id is not None
        HANDED_OVER.after_commit(uow, [uow.merchant_id])
    else:
        uow.session.delete(row)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="hubspot.disconnected",
        target_type="hubspot_connection",
        target_id=row.id,
        details={"portal_id": row.portal_id, "deletions_still_to_send": deletions},
        at=clock_of(uow.session),
    )


def _finish_closing(sera: Sera, merchant_id: str) -> None:
    """A closing connection whose owed deletions are all sent: its token and queue go."""
    with sera.uow(merchant_id) as uow:
        row = _connection(uow)
        owed = select(HubspotSync.id).where(HubspotSync.status == "pending")
        if row is None or row.status != "closing" or uow.session.execute(owed.limit(1)).first():
            return
        uow.session.execute(delete(HubspotSync), execution_options={"synchronize_session": False})
        uow.session.delete(row)
        audit.record(
            uow.session,
            merchant_id=merchant_id,
            actor="system:hubspot",
            action="hubspot.token_forgotten",
            target_type="hubspot_connection",
            target_id=row.id,
            details={"portal_id": row.portal_id},
            at=clock_of(uow.session),
        )
        uow.commit()


def status(uow: UnitOfWork) -> HubspotStatus:
    """What the merchant is shown: the account, the last sync, what waits, what failed and why."""
    row = _connection(uow)
    if row is None:
        return HubspotStatus(connected=False, status="not_connected")
    counts = dict(
        uow.session.execute(
            select(HubspotSync.status, func.count())
            .where(HubspotSync.status.in_(("pending", "failed")))
            .group_by(HubspotSync.status)
        ).all()
    )
    failures = uow.session.execute(
        select(HubspotSync.kind, HubspotSync.object_id, HubspotSync.last_error)
        .where(HubspotSync.status == "failed")
        .order_by(HubspotSync.position.desc())
        .limit(10)
    ).all()
    return HubspotStatus(
        connected=row.status == "connected",
        status=row.status,
        portal_id=row.portal_id,
        connected_at=row.connected_at,
        last_sync_at=row.last_sync_at,
        last_error=row.last_error,
        last_error_at=row.last_error_at,
        paused_until=row.paused_until,
        pending=int(counts.get("pending", 0)),
        failed=int(counts.get("failed", 0)),
        recent_failures=[SyncFailure(kind, object_id, error) for kind, object_id, error in failures],
    )


def _connection(uow: UnitOfWork) -> HubspotConnection | None:
    return uow.session.execute(select(HubspotConnection)).scalar_one_or_none()


# -- events -------------------------------------------------------------------------------------


def on_event(uow: UnitOfWork, event_type: str, data: dict[str, Any], *, customer_id: str | None = None) -> bool:
    """Queue the call or appointment the event is about, for a shop connected to HubSpot (in the
    caller's transaction). One row per object: a later change queues it again, at the end."""
    kind = KINDS.get(event_type)
    if kind is None or uow.merchant_id is None:
        return False
    connection = uow.session.connection()
    position = connection.execute(
        update(HubspotConnection)
        .where(HubspotConnection.merchant_id == uow.merchant_id, HubspotConnection.status != "closing")
        .values(queued=HubspotConnection.queued + 1)
        .returning(HubspotConnection.queued)
    ).scalar_one_or_none()
    if position is None:  # not connected (or closing): nothing is kept for HubSpot
        return False
    now = clock_of(uow.session)
    values = {
        "id": new_id("hss"),
        "merchant_id": uow.merchant_id,
        "kind": kind,
        "object_id": str(data["id"]),
        "customer_id": customer_id,
        "status": "pending",
        "changes": 1,
        "attempts": 0,
        "position": position,
        "queued_at": now,
    }
    insert = conflict_insert(connection)(HubspotSync).values(**values)
    # ``attempts`` stays: a row tried before without HubSpot's answer still searches before creating
    again: dict[str, Any] = {"status": "pending", "changes": insert.excluded.changes + HubspotSync.changes}
    again |= {"position": position, "queued_at": now, "last_error": None, "customer_id": customer_id}
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["merchant_id", "kind", "object_id"], set_=again, where=HubspotSync.status != "erased"
        )
    )
    HANDED_OVER.after_commit(uow, [uow.merchant_id])
    return True


def forget_customer(uow: UnitOfWork, customer_id: str) -> int:
    """An erased customer's rows not yet sent are never sent; what HubSpot holds of them is queued
    for deletion; no row keeps their id. How many were waiting."""
    theirs = HubspotSync.customer_id == customer_id
    _queue_erasure(uow, customer_id)
    dropped = rows(
        uow.session.execute(
            update(HubspotSync).where(theirs, HubspotSync.status.in_(("pending", "failed"))).values(status="erased"),
            execution_options={"synchronize_session": False},
        )
    )
    uow.session.execute(  # what HubSpot holds is being deleted: a later change must not write to it
        update(HubspotSync).where(theirs, HubspotSync.hubspot_id.is_not(None)).values(status="erased"),
        execution_options={"synchronize_session": False},
    )
    uow.session.execute(
        update(HubspotSync).where(theirs).values(customer_id=None), execution_options={"synchronize_session": False}
    )
    return dropped


def _queue_erasure(uow: UnitOfWork, customer_id: str) -> None:
    """Before the customer's rows lose their id: queue the deletion of the calls and meetings Sera
    made for them, then of their contact, and order each in the deletion ledger."""
    connection = _connection(uow)
    if connection is None:
        return
    found = uow.session.execute(
        select(HubspotSync.kind, HubspotSync.hubspot_id, HubspotSync.contact_id).where(
            HubspotSync.customer_id == customer_id, HubspotSync.kind.in_(ERASE)
        )
    ).all()
    objects = sorted({(ERASE[kind], hubspot_id) for kind, hubspot_id, _ in found if hubspot_id})
    contacts = {contact_id for _, _, contact_id in found if contact_id}
    shared = set(
        uow.session.execute(
            select(HubspotSync.contact_id).where(
                HubspotSync.contact_id.in_(contacts),
                HubspotSync.customer_id.is_not(None),
                HubspotSync.customer_id != customer_id,
            )
        ).scalars()
    )
    erasures = objects + [("erase_contact", contact_id) for contact_id in sorted(contacts - shared)]
    now = clock_of(uow.session)
    if erasures:
        _queue(uow, erasures, connection.portal_id, customer_id, now)
    if erasures or shared:
        counted = {name: sum(1 for kind, _ in erasures if kind == f"erase_{name}") for name in ("call", "meeting")}
        audit.record(
            uow.session,
            merchant_id=uow.merchant_id,
            actor="system:hubspot",
            action="hubspot.erasure_ordered",
            target_type="customer",
            target_id=customer_id,
            details={"portal_id": connection.portal_id, "calls": counted["call"], "meetings": counted["meeting"]}
            | {"contacts": len(contacts - shared), "contacts_shared_kept": len(shared)},
            at=now,
        )


def _ledger() -> ModuleType:
    from sera.privacy import copies  # late: privacy's erasure imports the integrations

    return copies


def _queue(
    uow: UnitOfWork, erasures: list[tuple[str, str]], portal: str, customer_id: str | None, now: datetime
) -> None:
    """Deletions at the end of the shop's queue, in the order given, each HubSpot id once, and in
    the deletion ledger (under the erased customer's id, when it is still known)."""
    connection = uow.session.connection()
    last = connection.execute(
        update(HubspotConnection)
        .where(HubspotConnection.merchant_id == uow.merchant_id)
        .values(queued=HubspotConnection.queued + len(erasures))
        .returning(HubspotConnection.queued)
    ).scalar_one()
    for offset, (kind, hubspot_id) in enumerate(erasures):
        values: dict[str, Any] = {"id": new_id("hss"), "merchant_id": uow.merchant_id, "kind": kind}
        values |= {"object_id": hubspot_id}
        values |= {"hubspot_id": hubspot_id, "status": "pending", "changes": 1, "attempts": 0}
        values |= {"position": last - len(erasures) + 1 + offset, "queued_at": now}
        insert = conflict_insert(connection)(HubspotSync).values(**values)
        connection.execute(insert.on_conflict_do_nothing(index_elements=["merchant_id", "kind", "object_id"]))
        ledger_id = f"{portal}/{hubspot_id}"
        _ledger().order_elsewhere(
            uow,
            provider=PROVIDER,
            kind=LEDGER_KINDS[ERASED[kind]],
            provider_id=ledger_id,
            customer_id=customer_id,
            now=now,
        )
    assert uow.merchant_id is not None
    HANDED_OVER.after_commit(uow, [uow.merchant_id])


# -- sending ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Drained:
    sent: int
    resume_in: float | None = None  # seconds until the queue should be drained again (None: when new work comes)
    outcome: str = "idle"  # idle | more | paused | broken | held


def take_due(sera: Sera, now: datetime) -> list[str]:
    """Shops whose queue has rows to send now: connected (or sending their last deletions), not
    paused, not held by a worker."""
    with sera.uow(readonly=True) as uow:
        waiting = select(HubspotSync.id).where(
            HubspotSync.merchant_id == HubspotConnection.merchant_id, HubspotSync.status == "pending"
        )
        return list(
            uow.session.execute(
                select(HubspotConnection.merchant_id).where(
                    HubspotConnection.status.in_(SENDING),
                    or_(HubspotConnection.paused_until.is_(None), HubspotConnection.paused_until <= now),
                    or_(HubspotConnection.draining_until.is_(None), HubspotConnection.draining_until < now),
                    waiting.exists(),
                )
            ).scalars()
        )


@dataclass
class _Work:
    row_id: str
    kind: str  # calls | meetings
    object_id: str
    changes: int
    retried: bool
    hubspot_id: str | None
    contact_id: str | None
    remembered_contact: str | None
    contact: dict[str, str]
    title: str
    properties: dict[str, str]
    erase: bool = False  # delete ``hubspot_id`` at HubSpot instead of writing


def drain(sera: Sera, merchant_id: str, *, limit: int = BATCH) -> Drained:
    """Send the shop's queue in order, up to ``limit`` rows, until it is empty or HubSpot asks to wait."""
    now = sera.clock()
    token = _hold(sera, merchant_id, now)
    if token is None:
        return Drained(0, outcome="held")
    try:
        api = _api(sera, token)
        sent = 0
        while sent < limit:
            work = _next(sera, merchant_id)
            if work is None:
                _finish_closing(sera, merchant_id)
                return Drained(sent)
            done: dict[str, str | None] = {"contact_id": work.contact_id}
            try:
                hubspot_id = _erase(api, work, done) if work.erase else _send(api, work, done)
            except CrmBusyError as exc:
                return Drained(sent, _pause(sera, merchant_id, work, done, exc), "paused")
            except CrmUnauthorizedError as exc:
                _broken(sera, merchant_id, work, done, str(exc))
                return Drained(sent, outcome="broken")
            except CrmRefusedError as exc:
                _fail(sera, merchant_id, work, done, str(exc))
                continue
            _settle(sera, merchant_id, work, hubspot_id, done.get("contact_id"), done.get("result"))
            sent += 1
        return Drained(sent, 0.0, "more")
    finally:
        _release(sera, merchant_id)


def _hold(sera: Sera, merchant_id: str, now: datetime) -> str | None:
    """Take the shop's queue for this worker; its token, or None if it is paused, held or broken."""
    with sera.uow(merchant_id) as uow:
        held = uow.session.execute(
            update(HubspotConnection)
            .where(
                HubspotConnection.status.in_(SENDING),
                or_(HubspotConnection.paused_until.is_(None), HubspotConnection.paused_until <= now),
                or_(HubspotConnection.draining_until.is_(None), HubspotConnection.draining_until < now),
            )
            .values(draining_until=now + HOLD, paused_until=None)
        )
        if not rows(held):
            return None
        row = _connection(uow)
        uow.commit()
        return uow.vault.open(row, "token") if row is not None else None


def _release(sera: Sera, merchant_id: str) -> None:
    with sera.uow(merchant_id) as uow:
        uow.session.execute(update(HubspotConnection).values(draining_until=None))
        uow.commit()


def _next(sera: Sera, merchant_id: str) -> _Work | None:
    """The row at the head of the queue, counted as tried, with what it sends read now."""
    while True:
        with sera.uow(merchant_id) as uow:
            row = uow.session.execute(
                select(HubspotSync)
                .where(HubspotSync.status == "pending")
                .order_by(HubspotSync.position, HubspotSync.id)
                .limit(1)
            ).scalar_one_or_none()
            if row is None:
                return None
            try:
                work = _read(uow, row)
            except DecryptionError:  # the customer's key is gone: they were erased
                work = None
            if work is None:
                row.status = "erased"
                uow.commit()
                continue
            row.attempts += 1
            hold = clock_of(uow.session) + HOLD  # a long queue keeps its worker's hold row by row
            uow.session.execute(update(HubspotConnection).values(draining_until=hold))
            uow.commit()
            return work


def _read(uow: UnitOfWork, row: HubspotSync) -> _Work | None:
    if row.kind in ERASED:
        kind = ERASED[row.kind]
        return _Work(row.id, kind, row.object_id, row.changes, False, row.object_id, None, None, {}, "", {}, erase=True)
    return _call_work(uow, row) if row.kind == "call" else _appointment_work(uow, row)


def _remembered_contact(uow: UnitOfWork, customer_id: str | None) -> str | None:
    """The HubSpot contact an earlier row of the same customer went to (HubSpot's search lags)."""
    if customer_id is None:
        return None
    found: str | None = uow.session.execute(
        select(HubspotSync.contact_id)
        .where(HubspotSync.customer_id == customer_id, HubspotSync.contact_id.is_not(None))
        .order_by(HubspotSync.position.desc())
        .limit(1)
    ).scalar_one_or_none()
    return found


def _contact(uow: UnitOfWork, customer_id: str | None, phone: str | None) -> dict[str, str]:
    """The minimum HubSpot needs to find or make the contact: phone, email, name."""
    details: dict[str, str | None] = {"phone": phone}
    if customer_id is not None:
        customer = uow.session.execute(select(Customer).where(Customer.id == customer_id)).scalar_one_or_none()
        if customer is not None:
            opened = uow.vault.open_many(customer, "name", "phone", "email")
            details["phone"] = opened["phone"] or phone
            details["email"] = opened["email"]
            first, _, last = (opened["name"] or "").strip().partition(" ")
            details["firstname"], details["lastname"] = first or None, last.strip() or None
    return {k: v for k, v in details.items() if v}


def _work(row: HubspotSync, kind: str, uow: UnitOfWork, contact: dict[str, str], title: str) -> _Work:
    return _Work(
        row_id=row.id,
        kind=kind,
        object_id=row.object_id,
        changes=row.changes,
        retried=row.attempts > 0,
        hubspot_id=row.hubspot_id,
        contact_id=row.contact_id,
        remembered_contact=_remembered_contact(uow, row.customer_id),
        contact=contact,
        title=title,
        properties={},
    )


CHANNEL_TITLES = {"voice": "call", "sms": "SMS conversation", "web": "web chat"}


def _call_work(uow: UnitOfWork, row: HubspotSync) -> _Work | None:
    call = uow.session.execute(select(Call).where(Call.id == row.object_id)).scalar_one_or_none()
    if call is None:
        return None
    number = uow.vault.open(call, "from_number" if call.direction == "inbound" else "to_number")
    what = f"{call.direction.capitalize()} {CHANNEL_TITLES.get(call.channel, call.channel)} with Sera"
    title = f"{what}{f': {call.outcome}' if call.outcome else ''} ({call.id})"
    work = _work(row, "calls", uow, _contact(uow, call.customer_id, number if call.channel != "web" else None), title)
    work.properties = {
        "hs_timestamp": _iso(call.started_at),
        "hs_call_title": title,
        "hs_call_direction": "OUTBOUND" if call.direction == "outbound" else "INBOUND",
        "hs_call_duration": str((call.duration_s or 0) * 1000),
        "hs_call_status": "COMPLETED",
    }
    body = _body(interaction_data(uow, call.id))  # empty unless the shop shares interaction data
    if body:
        work.properties["hs_call_body"] = body
    return work


def _body(shared: dict[str, Any]) -> str:
    if shared.get("summary"):
        return str(shared["summary"])[:BODY_LIMIT]
    lines = [f"{line['role'].capitalize()}: {line['text']}" for line in shared.get("transcript") or []]
    return "\n".join(lines)[:BODY_LIMIT]


def _appointment_work(uow: UnitOfWork, row: HubspotSync) -> _Work | None:
    appointment = uow.session.execute(select(Appointment).where(Appointment.id == row.object_id)).scalar_one_or_none()
    if appointment is None:
        return None
    service = uow.session.execute(select(Service.name).where(Service.id == appointment.service_id)).scalar()
    title = f"{service or 'Appointment'}, booked with Sera ({appointment.id})"
    work = _work(row, "meetings", uow, _contact(uow, appointment.customer_id, None), title)
    work.properties = {
        "hs_timestamp": _iso(appointment.start_at),
        "hs_meeting_title": title,
        "hs_meeting_start_time": _iso(appointment.start_at),
        "hs_meeting_end_time": _iso(appointment.end_at),
        "hs_meeting_outcome": "CANCELED" if appointment.status == "cancelled" else "SCHEDULED",
    }
    return work


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _send(api: HubspotApi, work: _Work, done: dict[str, str | None]) -> str:
    """Write one object; ``done`` keeps the contact found or made, even if what follows fails."""
    if work.hubspot_id is not None:
        api.update_object(work.kind, work.hubspot_id, work.properties)
        return work.hubspot_id
    contact_id = work.contact_id
    if contact_id is None and (work.contact.get("phone") or work.contact.get("email")):
        contact_id = api.find_contact(work.contact.get("phone"), work.contact.get("email"))
        contact_id = contact_id or work.remembered_contact or api.create_contact(work.contact)
        done["contact_id"] = contact_id
    if work.retried:  # an earlier attempt may have created it without Sera hearing the answer
        found = api.find_object(work.kind, work.title)
        if found is not None:
            api.update_object(work.kind, found, work.properties)
            return found
    return api.create_object(work.kind, work.properties, contact_id)


def _erase(api: HubspotApi, work: _Work, done: dict[str, str | None]) -> str:
    """Delete one object Sera put in HubSpot; ``done["result"]``: ``deleted``, or ``gone`` (404)."""
    assert work.hubspot_id is not None
    done["result"] = _delete_at_hubspot(api, work.kind, work.hubspot_id)
    return work.hubspot_id


def _delete_at_hubspot(api: HubspotApi, kind: str, hubspot_id: str) -> Outcome:
    """Archive a call or meeting, or GDPR-delete a contact: ``deleted``, or ``gone`` (a 404)."""
    try:
        if kind == "contacts":
            api.gdpr_delete_contact(hubspot_id)
        else:
            api.archive_object(kind, hubspot_id)
    except CrmNotFoundError:
        return "gone"
    return "deleted"


# -- a deleted shop's last deletions ------------------------------------------------------------


def hand_deletions_to_the_ledger(sera: Sera, merchant_id: str) -> list[str]:
    """Before a shop's key is destroyed: the deletions its HubSpot queue still owes erased
    customers become the deletion ledger's own (the queue goes with the shop), with the token
    kept past the shop for them alone. Their ledger ids, to start now."""
    with sera.uow(merchant_id) as uow:
        row = _connection(uow)
        owed = _ledger().take_over(uow, PROVIDER, clock_of(uow.session)) if row is not None else []
        if row is None or not owed:
            return []
        token, portal = uow.vault.open(row, "token"), row.portal_id
        uow.commit()
    if token:  # without one the ledger has no deleter: they stay pending, and are reported overdue
        sera.keystore.keep_for_deletion(merchant_id, PROVIDER, portal, token)
    return owed


@dataclass(frozen=True)
class HubspotDeleter:
    """The deletion ledger's deleter for HubSpot (``sera.privacy.copies.Deleter``): ledger ids
    are ``<portal>/<HubSpot id>``."""

    api: HubspotApi

    def delete(self, copy: CopyRef) -> Outcome:
        return _delete_at_hubspot(self.api, f"{copy.kind}s", copy.provider_id.partition("/")[2])


def hubspot_deleter(sera: Sera, merchant_id: str) -> HubspotDeleter | None:
    """A deleted shop's HubSpot account, with the token kept for its last deletions."""
    kept = sera.keystore.kept_for_deletion(merchant_id, PROVIDER)
    return None if kept is None else HubspotDeleter(_api(sera, kept[1]))


def _settle(
    sera: Sera, merchant_id: str, work: _Work, hubspot_id: str, contact_id: str | None, result: str | None = None
) -> None:
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        row = uow.session.get(HubspotSync, work.row_id)
        if row is not None and work.erase:
            row.status, row.synced_at, row.last_error = "synced", now, None
            portal = uow.session.execute(select(HubspotConnection.portal_id)).scalar_one()
            ledger_id = f"{portal}/{hubspot_id}"
            outcome = "gone" if result == "gone" else "deleted"
            _ledger().settled_elsewhere(
                uow, provider=PROVIDER, kind=LEDGER_KINDS[work.kind], provider_id=ledger_id, outcome=outcome
            )
        elif row is not None and row.status == "erased":  # erased while it was sent: what was made goes too
            made = [(ERASE[row.kind], hubspot_id)] if row.hubspot_id is None else []
            shared = select(HubspotSync.id).where(HubspotSync.contact_id == contact_id, HubspotSync.id != row.id)
            if contact_id and row.contact_id is None and uow.session.execute(shared.limit(1)).first() is None:
                made.append(("erase_contact", contact_id))
            row.hubspot_id, row.contact_id = hubspot_id, contact_id
            if made:
                portal = uow.session.execute(select(HubspotConnection.portal_id)).scalar_one()
                _queue(uow, made, portal, None, now)
        elif row is not None:
            row.hubspot_id, row.contact_id, row.last_error = hubspot_id, contact_id, None
            if row.changes == work.changes:  # else it changed while it was sent: it goes again
                row.status, row.synced_at = "synced", now
        uow.session.execute(update(HubspotConnection).values(last_sync_at=now, failures=0))
        uow.commit()


def _problem(uow: UnitOfWork, work: _Work, done: dict[str, str | None], error: str, *, failed: bool) -> datetime:
    """Record what went wrong on the row and the connection (what the merchant is shown). HubSpot's
    words may echo what was sent (an email it found invalid): masked, since they are kept in clear."""
    now = clock_of(uow.session)
    error = redact(error)
    row = uow.session.get(HubspotSync, work.row_id)
    if row is not None:
        row.contact_id = done.get("contact_id") or row.contact_id
        row.last_error = error[:300]
        if failed:
            row.status = "failed"
    connection = _connection(uow)
    if connection is not None:
        connection.last_error, connection.last_error_at = error[:300], now
    return now


def _pause(sera: Sera, merchant_id: str, work: _Work, done: dict[str, str | None], exc: CrmBusyError) -> float:
    """Stop the queue where it is until HubSpot can take it; seconds to wait."""
    with sera.uow(merchant_id) as uow:
        connection = _connection(uow)
        failures = (connection.failures if connection is not None else 0) + 1
        if exc.rate_limited:
            wait = timedelta(seconds=exc.retry_after) if exc.retry_after is not None else RATE_LIMIT_WAIT
            error = f"HubSpot's rate limit (429): the queue waits {wait.total_seconds():g} s, in order"
        else:
            wait = attempts.backoff(failures, FIRST_RETRY, LONGEST_RETRY)
            error = f"HubSpot did not answer ({exc}): retrying in {wait.total_seconds():g} s"
        now = _problem(uow, work, done, error, failed=False)
        if connection is not None:
            connection.failures, connection.paused_until = failures, now + wait
        uow.commit()
    log.warning("hubspot queue paused", extra={"merchant": merchant_id, "seconds": wait.total_seconds()})
    return wait.total_seconds()


def _broken(sera: Sera, merchant_id: str, work: _Work, done: dict[str, str | None], reason: str) -> None:
    with sera.uow(merchant_id) as uow:
        now = _problem(uow, work, done, f"HubSpot refused the token: {reason}", failed=False)
        connection = _connection(uow)
        if connection is not None and connection.status != "broken":
            connection.status = "broken"
            audit.record(
                uow.session,
                merchant_id=merchant_id,
                actor="system:hubspot",
                action="hubspot.token_refused",
                target_type="hubspot_connection",
                target_id=connection.id,
                at=now,
            )
            context = {"portal_id": connection.portal_id, "reason": reason[:200]}
            notify(uow, "hubspot_disconnected", key=f"hubspot:{connection.id}:refused:{now.isoformat()}",
                   context=context, now=now)  # fmt: skip
        uow.commit()
    log.warning("hubspot token refused: queue stopped", extra={"merchant": merchant_id})


def _fail(sera: Sera, merchant_id: str, work: _Work, done: dict[str, str | None], reason: str) -> None:
    with sera.uow(merchant_id) as uow:
        if work.erase:
            what = LEDGER_KINDS[work.kind]
            error = f"HubSpot refused to delete the {what} {work.object_id}: {reason}"
            _problem(uow, work, done, error, failed=True)
            portal = uow.session.execute(select(HubspotConnection.portal_id)).scalar_one()
            _ledger().settled_elsewhere(uow, provider=PROVIDER, kind=what, provider_id=f"{portal}/{work.object_id}",
                              outcome=None, error=redact(error))  # fmt: skip
        else:
            what = "call" if work.kind == "calls" else "appointment"
            _problem(uow, work, done, f"HubSpot refused the {what} {work.object_id}: {reason}", failed=True)
        uow.commit()
    log.warning("hubspot refused a row", extra={"merchant": merchant_id, "row": work.row_id})
