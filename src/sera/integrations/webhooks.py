"""Signed webhooks: a shop's own systems (a CRM, an automation tool, its code) hear of events.

Invariants:
- An event becomes one delivery per enabled endpoint subscribed to it, in the transaction
  of the change it reports: a change that rolls back sends nothing, one that commits is
  delivered at least once. A delivery's id is its stable ``webhook-id``; retries reuse it.
- Payloads carry ids and what the event needs (a contact's number only in events about
  contacts). A body is sealed, under the customer's key when the event is about one
  (erasure shreds it), and dropped once delivered. Transcripts and summaries are never in
  a stored body: ``call.completed`` gets them at send time, read from the sealed call, and
  only while the shop shares interaction data (``sera.integrations.sharing``).
- Delivery is claimed before the endpoint is called (in batches: a job also takes other due
  deliveries to the same endpoints, and never holds one past its claim); failures are retried with backoff
  for three days, then the delivery is ``failed`` (and can be replayed); an endpoint that
  has failed for a day is disabled, audited, logged, and the shop told (``webhook_endpoint_disabled``).
- An erased customer's undelivered events are never sent or replayed (``customer.erased``
  itself carries ids only, and goes).
- Endpoint URLs are checked here (https, no credentials, no literal private address);
  the sender checks the address it connects to (``sera.adapters.webhooks``).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from sqlalchemy import ColumnElement, and_, or_, select, update

from sera import audit
from sera.bootstrap import Sera
from sera.crypto.envelope import DecryptionError
from sera.integrations.sharing import interaction_data
from sera.notifications.service import notify
from sera.storage import attempts
from sera.storage.database import UnitOfWork, clock_of, rows
from sera.storage.models import WebhookDelivery, WebhookEndpoint, new_id
from sera.storage.paging import Page, PageRequest, keyset, page_of

log = logging.getLogger("sera.webhooks")

EVENTS = (
    "call.completed",
    "appointment.booked",
    "appointment.moved",
    "appointment.cancelled",
    "ticket.created",
    "ticket.updated",
    "customer.opted_out",
    "customer.opted_in",
    "customer.erased",
    "privacy_request.received",
    "privacy_request.completed",
    "checkout.recovered",
)
RETRY_FOR = timedelta(days=3)
DISABLE_AFTER = timedelta(days=1)
FIRST_RETRY = timedelta(seconds=10)
LONGEST_RETRY = timedelta(hours=6)
CLAIM = timedelta(seconds=60)
BATCH = 50  # deliveries one job sends at most (its own, and others due to the same endpoints)
ROTATION_OVERLAP = timedelta(hours=24)  # events carry both signatures while receivers switch secrets
DELIVER_JOB = "webhooks.deliver"  # delivery ids


class WebhookError(ValueError):
    """The endpoint cannot be saved as asked (the message says why)."""


class EndpointNotFoundError(LookupError):
    pass


class DeliveryNotFoundError(LookupError):
    pass


class Sender(Protocol):
    """Posts an event signed with each secret (the current one first); returns the HTTP status,
    raises ``sera.adapters.http`` errors."""

    def deliver(self, url: str, secrets: Sequence[str], message_id: str, timestamp: datetime, body: str) -> int: ...


@dataclass(frozen=True)
class EndpointView:
    id: str
    url: str
    events: list[str]
    enabled: bool
    created_at: datetime
    failing_since: datetime | None
    disabled_reason: str | None
    rotation_ends_at: datetime | None = None  # after a rotation: the old secret still signs until then


@dataclass(frozen=True)
class DeliveryView:
    id: str
    endpoint_id: str
    event_type: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def _endpoint_view(row: WebhookEndpoint) -> EndpointView:
    return EndpointView(
        row.id,
        row.url,
        list(row.events),
        row.enabled,
        row.created_at,
        row.failing_since,
        row.disabled_reason,
        row.previous_secret_until,
    )


def _delivery_view(row: WebhookDelivery) -> DeliveryView:
    return DeliveryView(
        row.id,
        row.endpoint_id,
        row.event_type,
        row.status,
        row.attempts,
        row.last_status_code,
        row.last_error,
        row.created_at,
        row.delivered_at,
    )


# -- endpoints ---------------------------------------------------------------------------------


def check_url(url: str, *, allow_private: bool, require_https: bool) -> str:
    """The endpoint URL, or WebhookError saying what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise WebhookError("the URL must be an absolute http(s) URL")
    if require_https and parts.scheme != "https":
        raise WebhookError("the URL must use https")
    if parts.username or parts.password:
        raise WebhookError("the URL must not carry credentials")
    if not allow_private:
        host = parts.hostname.rstrip(".").lower()
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            address = None
        if host == "localhost" or host.endswith(".localhost") or (address is not None and not address.is_global):
            raise WebhookError("the URL must not point at a private, loopback or link-local address")
    return url.strip()


def _events(events: Sequence[str]) -> list[str]:
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise WebhookError(f"unknown events: {', '.join(unknown)} (known: {', '.join(EVENTS)})")
    if not events:
        raise WebhookError("subscribe to at least one event")
    return sorted(set(events))


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def create_endpoint(
    uow: UnitOfWork, url: str, events: Sequence[str], *, actor: str, allow_private: bool, require_https: bool
) -> tuple[EndpointView, str]:
    """A new endpoint and its signing secret (shown once)."""
    if uow.merchant_id is None:
        raise RuntimeError("endpoints belong to a merchant")
    row = WebhookEndpoint(
        id=new_id("whe"),
        merchant_id=uow.merchant_id,
        url=check_url(url, allow_private=allow_private, require_https=require_https),
        events=_events(events),
        enabled=True,
    )
    secret = new_secret()
    uow.vault.seal(row, secret=secret)
    uow.session.add(row)
    uow.session.flush()
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_endpoint.created",
        target_type="webhook_endpoint",
        target_id=row.id,
        details={"events": row.events},
    )
    return _endpoint_view(row), secret


def _endpoint(uow: UnitOfWork, endpoint_id: str) -> WebhookEndpoint:
    row = uow.session.execute(select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)).scalar_one_or_none()
    if row is None:
        raise EndpointNotFoundError(endpoint_id)
    return row


def get_endpoint(uow: UnitOfWork, endpoint_id: str) -> EndpointView:
    return _endpoint_view(_endpoint(uow, endpoint_id))


def list_endpoints(uow: UnitOfWork, request: PageRequest) -> Page[EndpointView]:
    stmt = keyset(select(WebhookEndpoint), WebhookEndpoint.created_at, WebhookEndpoint.id, request)
    found = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(found, request, lambda r: (r.created_at, r.id))
    return Page([_endpoint_view(r) for r in kept], cursor)


def update_endpoint(
    uow: UnitOfWork,
    endpoint_id: str,
    *,
    actor: str,
    allow_private: bool,
    require_https: bool,
    url: str | None = None,
    events: Sequence[str] | None = None,
    enabled: bool | None = None,
) -> EndpointView:
    """Change an endpoint; turning it on again clears its failure record."""
    row = _endpoint(uow, endpoint_id)
    if url is not None:
        row.url = check_url(url, allow_private=allow_private, require_https=require_https)
    if events is not None:
        row.events = _events(events)
    if enabled is not None:
        row.enabled = enabled
        if enabled:
            row.failing_since, row.disabled_reason = None, None
    row.updated_at = clock_of(uow.session)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_endpoint.updated",
        target_type="webhook_endpoint",
        target_id=row.id,
        details={"events": row.events, "enabled": row.enabled},
    )
    return _endpoint_view(row)


def rotate_secret(uow: UnitOfWork, endpoint_id: str, *, actor: str) -> tuple[EndpointView, str]:
    """A new signing secret (shown once). For ``ROTATION_OVERLAP`` each event is signed with the
    old secret as well (Standard Webhooks allows several signatures), so a receiver verifying with
    either keeps working while it is switched; a second rotation meanwhile drops the oldest."""
    row = _endpoint(uow, endpoint_id)
    now = clock_of(uow.session)
    secret = new_secret()
    uow.vault.seal(row, secret=secret, previous_secret=uow.vault.open(row, "secret"))
    row.previous_secret_until = now + ROTATION_OVERLAP
    row.updated_at = now
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_endpoint.secret_rotated",
        target_type="webhook_endpoint",
        target_id=row.id,
        details={"previous_valid_until": row.previous_secret_until.isoformat()},
    )
    return _endpoint_view(row), secret


def delete_endpoint(uow: UnitOfWork, endpoint_id: str, *, actor: str) -> None:
    row = _endpoint(uow, endpoint_id)
    uow.session.delete(row)
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_endpoint.deleted",
        target_type="webhook_endpoint",
        target_id=endpoint_id,
    )


# -- events ------------------------------------------------------------------------------------


def emit(uow: UnitOfWork, event_type: str, data: dict[str, Any], *, customer_id: str | None = None) -> list[str]:
    """Queue the event for every enabled endpoint of the shop subscribed to it (in the caller's
    transaction); returns the delivery ids. ``customer_id``: whom the event is about, if anyone."""
    if event_type not in EVENTS:
        raise ValueError(f"unknown event {event_type!r}")
    if uow.merchant_id is None:
        raise RuntimeError("events belong to a merchant")
    endpoints = uow.session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.events).where(
            WebhookEndpoint.merchant_id == uow.merchant_id, WebhookEndpoint.enabled.is_(True)
        )
    ).all()
    now = clock_of(uow.session)
    ids = []
    for endpoint_id, events in endpoints:
        if event_type not in events:
            continue
        delivery = WebhookDelivery(
            id=new_id("msg"),
            merchant_id=uow.merchant_id,
            endpoint_id=endpoint_id,
            event_type=event_type,
            customer_id=customer_id,
            status="pending",
            attempts=0,
            next_attempt_at=now,
            created_at=now,
        )
        body = {"type": event_type, "timestamp": now.isoformat(timespec="seconds"), "data": data}
        uow.vault.seal(delivery, payload=json.dumps(body, separators=(",", ":"), default=str))
        uow.session.add(delivery)
        ids.append(delivery.id)
    if ids:
        uow.session.flush()
        HANDED_OVER.after_commit(uow, ids)
    return ids


HANDED_OVER = attempts.HandOver("webhook delivery")


def forget_customer(uow: UnitOfWork, customer_id: str) -> int:
    """An erased customer's undelivered events are never sent: their bodies go."""
    return rows(
        uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.customer_id == customer_id, WebhookDelivery.status.in_(("pending", "failed")))
            .values(status="erased", payload=None, next_attempt_at=None),
            execution_options={"synchronize_session": False},
        )
    )


# -- deliveries --------------------------------------------------------------------------------


def list_deliveries(uow: UnitOfWork, endpoint_id: str, request: PageRequest) -> Page[DeliveryView]:
    _endpoint(uow, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    stmt = keyset(query, WebhookDelivery.created_at, WebhookDelivery.id, request)
    found = uow.session.execute(stmt).scalars().all()
    kept, cursor = page_of(found, request, lambda r: (r.created_at, r.id))
    return Page([_delivery_view(r) for r in kept], cursor)


def latest_deliveries(uow: UnitOfWork, endpoint_ids: Sequence[str]) -> dict[str, DeliveryView]:
    """Each endpoint's newest delivery (an endpoint with none is left out)."""
    found: dict[str, DeliveryView] = {}
    for endpoint_id in endpoint_ids:  # a shop has a handful: one indexed lookup each
        row = uow.session.execute(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == endpoint_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
            .limit(1)
        ).scalar_one_or_none()
        if row is not None:
            found[endpoint_id] = _delivery_view(row)
    return found


def replay(uow: UnitOfWork, delivery_id: str, *, actor: str) -> DeliveryView:
    """Send a failed delivery again, under the same ``webhook-id``."""
    row = uow.session.execute(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)).scalar_one_or_none()
    if row is None:
        raise DeliveryNotFoundError(delivery_id)
    if row.status == "erased" or (row.status != "delivered" and row.payload is None):
        raise WebhookError("this event was about a customer since erased: it is never sent again")
    if row.status == "delivered":
        raise WebhookError("this event was delivered, and its body is not kept after delivery")
    row.status, row.next_attempt_at, row.claimed_until = "pending", clock_of(uow.session), None
    audit.record(
        uow.session,
        merchant_id=uow.merchant_id,
        actor=actor,
        action="webhook_delivery.replayed",
        target_type="webhook_delivery",
        target_id=row.id,
    )
    HANDED_OVER.after_commit(uow, [row.id])
    return _delivery_view(row)


def take_due(sera: Sera, now: datetime, limit: int = 2000) -> list[str]:
    """Pending deliveries due now that no worker holds."""
    with sera.uow() as uow:
        ids = attempts.take_due(uow, WebhookDelivery, now, CLAIM, limit)
        uow.commit()
    return ids


def backoff(tries: int) -> timedelta:
    return attempts.backoff(tries, FIRST_RETRY, LONGEST_RETRY)


@dataclass(frozen=True)
class _Claimed:
    id: str
    merchant_id: str
    endpoint_id: str
    event_type: str
    url: str
    secrets: tuple[str, ...]
    body: str
    created_at: datetime
    endpoint_failing: bool  # when claimed: a delivery then clears the endpoint's failure record


@dataclass(frozen=True)
class _Attempt:
    claimed: _Claimed
    ok: bool
    status: int | None
    error: str | None


def _unheld(now: datetime) -> ColumnElement[bool]:
    return and_(
        WebhookDelivery.status == "pending",
        or_(WebhookDelivery.claimed_until.is_(None), WebhookDelivery.claimed_until < now),
    )


def _unsettled(sera: Sera, delivery_ids: Sequence[str], now: datetime) -> list[str]:
    """Which of these are pending and held by nobody: read without the write lock, so a job whose
    delivery went out with another's batch costs a read."""
    with sera.uow(readonly=True) as reader:
        return list(
            reader.session.execute(
                select(WebhookDelivery.id).where(WebhookDelivery.id.in_(delivery_ids), _unheld(now))
            ).scalars()
        )


def _claim(sera: Sera, delivery_ids: Sequence[str], now: datetime) -> list[_Claimed]:
    """Hold these deliveries and, up to ``BATCH``, others already due to the same endpoints (their
    own jobs then find them held, and only read); one transaction for the lot."""
    wanted = _unsettled(sera, delivery_ids, now)
    if not wanted:
        return []
    own = WebhookDelivery.id.in_(wanted)
    endpoints = select(WebhookDelivery.endpoint_id).where(own).distinct()
    batch = (
        select(WebhookDelivery.id)
        .where(
            _unheld(now),
            or_(own, and_(WebhookDelivery.endpoint_id.in_(endpoints), WebhookDelivery.next_attempt_at <= now)),
        )
        .order_by(own.desc(), WebhookDelivery.next_attempt_at)
        .limit(max(BATCH, len(wanted)))
    )
    with sera.uow() as uow:
        # one statement picks and holds the batch; the outer condition is checked again on each
        # row as it is updated, so two workers never hold the same delivery
        held = list(
            uow.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id.in_(batch), _unheld(now))
                .values(claimed_until=now + CLAIM, attempts=WebhookDelivery.attempts + 1)
                .returning(WebhookDelivery.id),
                execution_options={"synchronize_session": False},
            ).scalars()
        )
        found = (
            uow.session.execute(
                select(WebhookDelivery, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.id.in_(held))
                .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
            ).all()
            if held
            else []
        )
        uow.commit()
        claimed, erased = [], []
        secrets_of: dict[str, tuple[str, ...]] = {}
        for delivery, endpoint in found:
            if not endpoint.enabled:
                continue
            try:
                body = uow.vault.open(delivery, "payload")
            except DecryptionError:  # the customer was erased: their key is gone
                body = None
            if body is None:
                erased.append(delivery.id)
                continue
            if endpoint.id not in secrets_of:
                secrets_of[endpoint.id] = _signing_secrets(uow, endpoint, now)
            claimed.append(
                _Claimed(
                    delivery.id,
                    delivery.merchant_id,
                    endpoint.id,
                    delivery.event_type,
                    endpoint.url,
                    secrets_of[endpoint.id],
                    body,
                    delivery.created_at,
                    endpoint.failing_since is not None,
                )
            )
    if erased:
        _finish(sera, erased, status="erased")
    return claimed


def _signing_secrets(uow: UnitOfWork, endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    current = uow.vault.open(endpoint, "secret") or ""
    if endpoint.previous_secret_until is None or endpoint.previous_secret_until <= now:
        return (current,)
    previous = uow.vault.open(endpoint, "previous_secret")
    return (current, previous) if previous else (current,)


def _with_interaction_data(sera: Sera, claimed: _Claimed) -> str | None:
    """The body as it goes now: a ``call.completed`` with the call's summary and transcript
    when the shop shares them; None when the customer's key went meanwhile (nothing goes)."""
    if claimed.event_type != "call.completed":
        return claimed.body
    body = json.loads(claimed.body)
    with sera.uow(claimed.merchant_id, readonly=True) as uow:
        try:
            extra = interaction_data(uow, str(body["data"]["id"]))
        except DecryptionError:
            return None
    if not extra:
        return claimed.body
    body["data"].update(extra)
    return json.dumps(body, separators=(",", ":"), default=str)


def _finish(sera: Sera, delivery_ids: Sequence[str], *, status: str) -> None:
    with sera.uow() as uow:
        uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(delivery_ids))
            .values(status=status, payload=None, claimed_until=None, next_attempt_at=None),
            execution_options={"synchronize_session": False},
        )
        uow.commit()


def _release(sera: Sera, delivery_ids: Sequence[str]) -> None:
    """Held but not tried (their endpoint just failed, or the batch ran long): due again, the
    attempt not counted."""
    with sera.uow() as uow:
        uow.session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_(delivery_ids), WebhookDelivery.status == "pending")
            .values(claimed_until=None, attempts=WebhookDelivery.attempts - 1),
            execution_options={"synchronize_session": False},
        )
        uow.commit()


def deliver(sera: Sera, sender: Sender, *delivery_ids: str) -> dict[str, str]:
    """One attempt at each delivery (and at other due ones to the same endpoints, see ``_claim``):
    the outcome of each tried, ``delivered``, ``retry`` or ``failed`` (three days of failures);
    one not due, held by another worker, or with nothing left to send is left out.

    The batch goes out one by one, oldest first per endpoint, over the sender's open connection.
    After an endpoint fails, the rest of its batch is released untried (the next sweep takes
    them), and so is what is left once the batch has run for half the claim, so no delivery
    is held past its claim and sent twice by another worker."""
    wanted = _TAKEN.without(delivery_ids)
    if not wanted:
        return {}
    started = sera.clock()
    tried: list[_Attempt] = []
    untried: list[str] = []
    failed_endpoints: set[str] = set()
    batch = _claim(sera, wanted, started)
    _TAKEN.add([claimed.id for claimed in batch])
    for claimed in batch:
        if claimed.endpoint_id in failed_endpoints or sera.clock() - started > CLAIM / 2:
            untried.append(claimed.id)
            continue
        attempt = _attempt(sera, sender, claimed)
        if attempt is None:
            continue
        tried.append(attempt)
        if not attempt.ok:
            failed_endpoints.add(claimed.endpoint_id)
    if untried:
        _release(sera, untried)
    outcomes = _settle(sera, tried)
    _TAKEN.discard([*untried, *(i for i, outcome in outcomes.items() if outcome != "delivered")])
    return outcomes


class _Taken:
    """Ids this process holds or has delivered, so the job of a delivery that went out in another
    job's batch returns without touching the database (bounded, oldest forgotten first; what
    other processes took, ``_unsettled`` finds). Released and retried ids leave it: they are
    due again."""

    def __init__(self, size: int) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def add(self, ids: Sequence[str]) -> None:
        with self._lock:
            self._ids.update(dict.fromkeys(ids))
            while len(self._ids) > self._size:
                self._ids.popitem(last=False)

    def discard(self, ids: Sequence[str]) -> None:
        with self._lock:
            for row_id in ids:
                self._ids.pop(row_id, None)

    def without(self, ids: Sequence[str]) -> list[str]:
        with self._lock:
            return [row_id for row_id in ids if row_id not in self._ids]


_TAKEN = _Taken(20_000)


def _attempt(sera: Sera, sender: Sender, claimed: _Claimed) -> _Attempt | None:
    body = _with_interaction_data(sera, claimed)
    if body is None:
        _finish(sera, [claimed.id], status="erased")
        return None
    status: int | None = None
    error = None
    try:
        status = sender.deliver(claimed.url, claimed.secrets, claimed.id, sera.clock(), body)
    except Exception as exc:  # whatever went wrong, the delivery is tried again
        status = getattr(exc, "status", None)
        error = str(exc)[:120] or type(exc).__name__
    ok = status is not None and 200 <= status < 300
    if not ok and error is None:
        error = f"answered {status}"
    return _Attempt(claimed, ok, status, error)


def _settle(sera: Sera, tried: Sequence[_Attempt]) -> dict[str, str]:
    """Record the attempts, a transaction per shop: the deliveries in one statement per status
    code, failures one by one (they move their endpoint's failure record)."""
    outcomes: dict[str, str] = {}
    now = sera.clock()
    by_shop: dict[str, list[_Attempt]] = {}
    for attempt in tried:
        by_shop.setdefault(attempt.claimed.merchant_id, []).append(attempt)
    for merchant_id, attempts_of_shop in by_shop.items():
        with sera.uow(merchant_id) as uow:
            delivered = [a for a in attempts_of_shop if a.ok]
            for code in {a.status for a in delivered}:
                ids = [a.claimed.id for a in delivered if a.status == code]
                uow.session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id.in_(ids), WebhookDelivery.status == "pending")
                    .values(
                        status="delivered",
                        delivered_at=now,
                        payload=None,
                        claimed_until=None,
                        last_status_code=code,
                        last_error=None,
                    ),
                    execution_options={"synchronize_session": False},
                )
                outcomes.update(dict.fromkeys(ids, "delivered"))
            recovered = {a.claimed.endpoint_id for a in delivered if a.claimed.endpoint_failing}
            if recovered:
                uow.session.execute(
                    update(WebhookEndpoint).where(WebhookEndpoint.id.in_(recovered)).values(failing_since=None),
                    execution_options={"synchronize_session": False},
                )
            for attempt in attempts_of_shop:
                if not attempt.ok:
                    outcomes[attempt.claimed.id] = _failed(uow, attempt, now)
            uow.commit()
    return outcomes


def _failed(uow: UnitOfWork, attempt: _Attempt, now: datetime) -> str:
    claimed = attempt.claimed
    row = uow.session.get(WebhookDelivery, claimed.id)
    if row is None or row.status != "pending":
        return "settled"
    row.claimed_until, row.last_status_code, row.last_error = None, attempt.status, attempt.error
    give_up = now - claimed.created_at >= RETRY_FOR
    row.status = "failed" if give_up else "pending"
    row.next_attempt_at = None if give_up else now + backoff(row.attempts)
    outcome = "failed" if give_up else "retry"
    endpoint = uow.session.get(WebhookEndpoint, claimed.endpoint_id)
    if endpoint is not None:
        _failing(uow, endpoint, now)
    log.warning("webhook not delivered", extra={"delivery": claimed.id, "status": attempt.status, "outcome": outcome})
    return outcome


def _failing(uow: UnitOfWork, endpoint: WebhookEndpoint, now: datetime) -> None:
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    elif endpoint.enabled and now - endpoint.failing_since >= DISABLE_AFTER:
        endpoint.enabled = False
        endpoint.disabled_reason = "failing for a day"
        audit.record(
            uow.session,
            merchant_id=uow.merchant_id,
            actor="system:webhooks",
            action="webhook_endpoint.disabled",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            details={"reason": endpoint.disabled_reason},
            at=now,
        )
        log.warning("webhook endpoint disabled after a day of failures", extra={"endpoint": endpoint.id})
        context = {"endpoint_id": endpoint.id, "host": urlsplit(endpoint.url).hostname or "its address"}
        notify(uow, "webhook_endpoint_disabled", key=f"webhook_endpoint:{endpoint.id}:disabled:{now.isoformat()}",
               context=context, now=now)  # fmt: skip
