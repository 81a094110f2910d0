"""Outbound engagement the merchant authorised: abandoned-checkout recovery and appointment
reminders (by text or by call), and booking confirmations (by text).

Invariants:
- Exactly one send per intended message or call. Each is one OutboundAction row whose
  idempotency key is unique (checkout + attempt, appointment + event). Before the
  provider is called, the row is marked ``sending`` and committed; a worker that finds a
  row already ``sending`` (the previous worker died) first asks the provider's list of
  messages (or calls) whether it went out, and only sends (or dials) if it did not.
- One worker at a time per action: the worker holds the action's lock
  (``sera.outbound.locks``) from reading the row to recording the outcome, and that
  lock dies with its process. A free lock on a ``sending`` row therefore means its
  worker is gone; the row is reconciled only once its claim is older than the policy's
  ``settle`` time, so a request the dead worker had in flight has finished at the
  provider. Every state change is a compare-and-set on the status, so the dispatcher's
  cancellations (``sera.outbound.dispatch``) never race it.
- A provider answer that leaves the outcome unknown (a timeout, a dropped connection, a
  gateway error) leaves the row ``sending``: it is reconciled, never blindly resent.
  The HTTP client used for sending does not retry by itself for the same reason.
- Nothing is sent without cause: every send re-checks, at send time, do-not-contact,
  consent (marketing texts; every call, which an AI voice makes: prior express written
  consent for calls), the checkout still open, the appointment unchanged,
  quiet hours in the recipient's local time, the shop's daily cap and the sending
  number's rate. Every send, skip and deferral is recorded on the row with its reason.
- Jobs carry a merchant id and action ids only; message bodies are rendered at send
  time from sealed data and never logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select, update

from sera.adapters.http import PermanentError, RetryableError
from sera.billing.usage import record_usage
from sera.bootstrap import Sera
from sera.calls.messages import record_message, sms_segments
from sera.customers.service import add_do_not_contact
from sera.notifications.service import notify
from sera.outbound.drafts import Draft, Skip, Subjects, Wait, render
from sera.outbound.locks import ActionLocks, Throttle, one_at_a_time
from sera.outbound.rules import next_allowed, recipient_zones
from sera.outbound.settings import SendPolicy, ShopOutbound
from sera.privacy.copies import note_copy
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant, Message, OutboundAction

log = logging.getLogger("sera.outbound")

LOCK_WAIT = 2.0  # seconds to wait for an action's lock before leaving it to its holder
BUSY_RETRY = timedelta(seconds=5)
PROVIDER_BUSY = timedelta(seconds=30)  # after a 429/503 (the provider took nothing), try again this much later
NOT_ACCEPTED = {429, 503}  # answers that prove the provider did not create the message
CAP_LOOKBACK = timedelta(days=4)  # bounds the daily-cap count to recently due rows (sends are never later)
RECONCILE_DEPTH = 20  # the provider's newest messages to and from the numbers that are compared
CLOCK_SLACK = timedelta(seconds=30)  # a call placed this long before its claim (by the provider's clock) still matches
RECORD_EVERY = 0.25  # seconds: how often a job records what the provider took so far

SKIP_REASONS = (
    "no-consent",
    "no-call-consent",  # an AI-voiced call needs written consent to calls (FCC 24-17)
    "do-not-contact",
    "capped",
    "order-completed",
    "no-phone",
    "no-link",
    "checkout-gone",
    "appointment-changed",
    "expired",
    "disabled",
    "channel-unavailable",
    "quiet-hours",  # no allowed moment within three days in every zone the number may be in
    "recently-asked",  # a feedback question: the customer was asked within 30 days
)
WAIT_REASONS = ("quiet-hours-deferred", "rate-limited", "checkout-updated", "provider-busy")


class RecipientOptedOutError(PermanentError):
    """The provider refused because the recipient opted out with the carrier (Twilio 21610)."""


class Sender(Protocol):
    """The port a provider adapter implements for one channel (``sera.outbound.jobs`` wires
    Twilio's texts and calls, and Vapi's calls)."""

    provider: str

    def send(self, draft: Draft, action_id: str) -> str:
        """Send the text (or place the call) once, without retrying; returns the provider's id.
        Raises PermanentError (refused), RecipientOptedOutError, or RetryableError (status
        429/503: nothing was created; otherwise the outcome is unknown)."""

    def recent(self, draft: Draft, action_id: str, since: datetime, limit: int) -> list[str]:
        """After a crash: the provider's ids of its newest outbound texts (or calls) that could be
        this action's: between the same numbers and, for a text, with the same words; for a
        call, placed since ``since`` (and named after the action, where the provider keeps a name)."""


@dataclass(frozen=True)
class Senders:
    """A shop's senders by channel; None where the shop has no account to send with."""

    sms: Sender | None = None
    call: Sender | None = None

    def get(self, channel: str) -> Sender | None:
        return self.call if channel == "call" else self.sms


@dataclass
class Outbox:
    """The sending side of one process: the provider per shop, the locks, the policy."""

    sera: Sera
    senders_for: Callable[[str, ShopOutbound], Senders]  # a merchant id and its outbound settings
    locks: ActionLocks
    throttle: Throttle
    policy: SendPolicy


@dataclass(frozen=True)
class Outcome:
    status: str  # sent | skipped | scheduled (deferred, or not due yet) | sending | failed | noop | busy
    reason: str | None = None
    due_at: datetime | None = None  # when to look again (scheduled, sending, busy)


NOOP = Outcome("noop")  # someone else finished it, or it is no longer due for sending


# -- sending ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Seen:
    """An action as read under its lock, with its message rendered (or why not)."""

    status: str
    reason: str | None
    due_at: datetime
    touched_at: datetime  # for a ``sending`` row: when it was claimed
    rendered: Draft | Skip | Wait


@dataclass(frozen=True)
class _Batch:
    seen: dict[str, _Seen]
    zone: ZoneInfo
    shop: ShopOutbound


@dataclass
class _Plan:
    """What each action of a batch needs, decided before anything is written."""

    decided: list[tuple[str, str, Outcome]] = field(default_factory=list)  # id, status read, its outcome
    reconciled: list[tuple[str, Draft, str]] = field(default_factory=list)  # id, draft, the provider's id
    ready: list[tuple[str, str, _Seen, Draft]] = field(default_factory=list)  # id, status read, seen, draft


def send_action(box: Outbox, merchant_id: str, action_id: str) -> Outcome:
    """Carry out one intended message, exactly once; safe to run any number of times."""
    return send_actions(box, merchant_id, [action_id])[action_id]


def send_actions(box: Outbox, merchant_id: str, action_ids: Sequence[str]) -> dict[str, Outcome]:
    """Carry out a few intended messages of one shop (one job's worth), each exactly once."""
    with box.locks.hold(action_ids, LOCK_WAIT) as held:
        busy = Outcome("busy", None, box.sera.clock() + BUSY_RETRY)  # a live worker has it: look once more later
        outcomes = {a: busy for a in action_ids if a not in held}
        if held:
            outcomes.update(_send_held(box, merchant_id, sorted(held)))
    return outcomes


def _send_held(box: Outbox, merchant_id: str, action_ids: list[str]) -> dict[str, Outcome]:
    now = box.sera.clock()
    batch = _read(box.sera, merchant_id, action_ids, now)
    outcomes = {a: Outcome("noop") for a in action_ids if a not in batch.seen}
    if not batch.seen:
        return outcomes
    senders = box.senders_for(merchant_id, batch.shop)
    plan = _Plan()
    for action_id, seen in batch.seen.items():
        early = _not_yet(seen, box.policy.settle, now)
        if early is not None:
            outcomes[action_id] = early
        elif (found := _reconcile(box.sera, merchant_id, senders, action_id, seen)) is not None:
            plan.reconciled.append((action_id, *found))
        elif isinstance(verdict := _verdict(seen, senders, batch, now), Outcome):
            plan.decided.append((action_id, seen.status, verdict))
        else:
            plan.ready.append((action_id, seen.status, seen, verdict))
    claimed, settled = _settle_and_claim(box, merchant_id, plan, batch.zone, senders, now)
    outcomes.update(settled)
    if claimed:
        outcomes.update(_deliver(box, merchant_id, senders, claimed, batch.zone, now))
    return outcomes


def _read(sera: Sera, merchant_id: str, action_ids: list[str], now: datetime) -> _Batch:
    with sera.uow(merchant_id, readonly=True) as uow:
        merchant = uow.session.execute(select(Merchant).where(Merchant.id == merchant_id)).scalar_one()
        actions = list(
            uow.session.execute(
                select(OutboundAction).where(
                    OutboundAction.id.in_(action_ids), OutboundAction.status.in_(("scheduled", "sending"))
                )
            ).scalars()
        )
        subjects = Subjects.load(uow, merchant, actions)
        seen = {a.id: _Seen(a.status, a.reason, a.due_at, a.updated_at, render(uow, subjects, a, now)) for a in actions}
        return _Batch(seen, ZoneInfo(merchant.timezone), subjects.shop)


def _not_yet(seen: _Seen, settle: timedelta, now: datetime) -> Outcome | None:
    """Nothing to do yet: an early or repeated job, or a dead worker's claim still settling."""
    if seen.status == "scheduled" and seen.due_at > now:
        return Outcome("scheduled", seen.reason, seen.due_at)
    if seen.status == "sending" and now - seen.touched_at < settle:
        return Outcome("sending", "settling", seen.touched_at + settle)
    return None


def _reconcile(sera: Sera, merchant_id: str, senders: Senders, action_id: str, seen: _Seen) -> tuple[Draft, str] | None:
    """For a row a dead worker left ``sending``: the message and the provider's id for it if it went out."""
    if seen.status != "sending" or not isinstance(seen.rendered, Draft):
        return None
    sender = senders.get(seen.rendered.channel)
    if sender is None:
        return None
    sid = _find_sent(sera, merchant_id, sender, seen.rendered, action_id, seen.touched_at)
    return None if sid is None else (seen.rendered, sid)


def _verdict(seen: _Seen, senders: Senders, batch: _Batch, now: datetime) -> Outcome | Draft:
    """The message, when it may go now (caps and rate aside); else the skip or the deferral."""
    rendered = seen.rendered
    if isinstance(rendered, Skip):
        return Outcome("skipped", rendered.reason)
    if isinstance(rendered, Wait):
        return Outcome("scheduled", rendered.reason, rendered.until)
    if senders.get(rendered.channel) is None:
        return Outcome("skipped", "channel-unavailable")  # no provider account to send (or call) with
    allowed = next_allowed(max(now, seen.due_at), recipient_zones(rendered.to, batch.zone), batch.shop.quiet_hours)
    if allowed is None:
        return Outcome("skipped", "quiet-hours")
    if allowed > now:
        return Outcome("scheduled", "quiet-hours-deferred", allowed)
    return rendered


def _settle_and_claim(
    box: Outbox, merchant_id: str, plan: _Plan, zone: ZoneInfo, senders: Senders, now: datetime
) -> tuple[list[tuple[str, Draft]], dict[str, Outcome]]:
    """One transaction: record skips, deferrals and reconciled sends, then store the intent
    (``sending``) of what may go, unless the daily cap or the number's rate says otherwise."""
    outcomes: dict[str, Outcome] = {}
    with box.sera.uow(merchant_id) as uow:
        one_at_a_time(uow, "claim")  # so the daily cap is exact
        limited = _apply_limits(box, uow, plan.ready, zone, now)
        for action_id, expected, outcome in plan.decided + limited:
            outcomes[action_id] = outcome if _transition(uow, [action_id], expected, outcome, now) else NOOP
        if any(outcome.reason == "capped" for _, _, outcome in limited):
            reason = f"the daily cap of {box.policy.daily_cap} messages was reached"
            day = now.astimezone(zone).date().isoformat()
            notify(uow, "outbound_paused", key=f"outbound:capped:{day}", context={"reason": reason}, now=now)
        if plan.reconciled:
            outcomes.update(_mark_sent(uow, plan.reconciled, senders, "reconciled", zone, now))
        going = [(a, expected, draft) for a, expected, _, draft in plan.ready if a not in outcomes]
        claimed: set[str] = set()
        for expected in {expected for _, expected, _ in going}:
            ids = [a for a, status, _ in going if status == expected]
            claimed |= _transition(uow, ids, expected, Outcome("sending"), now)
        uow.commit()
    for action_id, outcome in outcomes.items():
        _log(action_id, outcome)
    return [(a, draft) for a, _, draft in going if a in claimed], outcomes


def _apply_limits(
    box: Outbox, uow: UnitOfWork, ready: list[tuple[str, str, _Seen, Draft]], zone: ZoneInfo, now: datetime
) -> list[tuple[str, str, Outcome]]:
    """The refusals among ``ready``: over the shop's daily cap, or ahead of the number's next slot."""
    policy = box.policy
    room = None if policy.daily_cap is None else policy.daily_cap - _claimed_today(uow, zone, now)
    refused = []
    for action_id, expected, seen, draft in ready:
        fresh = expected == "scheduled"  # a dead worker's claim being sent again is counted already
        if fresh and room is not None and room <= 0:
            refused.append((action_id, expected, Outcome("skipped", "capped")))
            continue
        interval = policy.call_interval if draft.channel == "call" else policy.sms_interval
        if interval is not None and not (fresh and seen.reason == "rate-limited"):
            key = f"call:{draft.from_}" if draft.channel == "call" else draft.from_  # a number's texts and calls apart
            slot = box.throttle.reserve(key, now, interval)
            if slot > now:
                refused.append((action_id, expected, Outcome("scheduled", "rate-limited", slot)))
                continue
        room = None if room is None or not fresh else room - 1
    return refused


def _claimed_today(uow: UnitOfWork, zone: ZoneInfo, now: datetime) -> int:
    local_midnight = datetime.combine(now.astimezone(zone).date(), datetime.min.time(), tzinfo=zone)
    return int(
        uow.session.execute(
            select(func.count()).where(
                OutboundAction.due_at >= local_midnight - CAP_LOOKBACK,
                or_(
                    OutboundAction.status == "sending",
                    (OutboundAction.status == "sent") & (OutboundAction.sent_at >= local_midnight),
                ),
            )
        ).scalar_one()
    )


@dataclass
class _Delivery:
    sent: list[tuple[str, Draft, str]] = field(default_factory=list)
    decided: list[tuple[str, Outcome]] = field(default_factory=list)
    opted_out: list[tuple[str, Draft]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)


def _deliver(
    box: Outbox,
    merchant_id: str,
    senders: Senders,
    claimed: list[tuple[str, Draft]],
    zone: ZoneInfo,
    claimed_at: datetime,
) -> dict[str, Outcome]:
    """Call the provider once per claimed message, recording the results in one transaction every
    ``RECORD_EVERY`` (with a slow provider, a crash leaves only the last few for reconciliation)
    and at the end, even when something unexpected stops the batch."""
    outcomes: dict[str, Outcome] = {}
    unknown: list[str] = []
    done, recorded = _Delivery(), time.monotonic()
    try:
        for action_id, draft in claimed:
            _deliver_one(senders, action_id, draft, done)
            if time.monotonic() - recorded >= RECORD_EVERY:
                outcomes |= _record_delivery(box.sera, merchant_id, senders, done, zone)
                unknown += done.unknown
                done, recorded = _Delivery(), time.monotonic()
    finally:
        outcomes |= _record_delivery(box.sera, merchant_id, senders, done, zone)
        unknown += done.unknown
    settle = Outcome("sending", "unknown-outcome", claimed_at + box.policy.settle)
    return outcomes | dict.fromkeys(unknown, settle)


def _deliver_one(senders: Senders, action_id: str, draft: Draft, done: _Delivery) -> None:
    sender = senders.get(draft.channel)
    if sender is None:  # claimed by a batch that had one: the shop's account went meanwhile
        done.decided.append((action_id, Outcome("skipped", "channel-unavailable")))
        return
    try:
        sid = sender.send(draft, action_id)
    except RecipientOptedOutError:
        done.opted_out.append((action_id, draft))
    except RetryableError as exc:
        if exc.status in NOT_ACCEPTED:
            done.decided.append((action_id, Outcome("scheduled", "provider-busy")))
        else:
            done.unknown.append(action_id)  # the provider may have it: reconciled once settled, never resent blindly
    except PermanentError:
        done.decided.append((action_id, Outcome("failed", "provider-refused")))
    else:
        done.sent.append((action_id, draft, sid))


def _record_delivery(
    sera: Sera, merchant_id: str, senders: Senders, done: _Delivery, zone: ZoneInfo
) -> dict[str, Outcome]:
    if not (done.sent or done.decided or done.opted_out):
        return {}
    now = sera.clock()
    outcomes: dict[str, Outcome] = {}
    with sera.uow(merchant_id) as uow:
        outcomes.update(_mark_sent(uow, done.sent, senders, "sent", zone, now))
        for action_id, outcome in done.decided:
            if outcome.reason == "provider-busy":
                outcome = Outcome("scheduled", outcome.reason, now + PROVIDER_BUSY)
            outcomes[action_id] = outcome if _transition(uow, [action_id], "sending", outcome, now) else NOOP
        for action_id, draft in done.opted_out:  # the carrier says they sent STOP: honoured for every later message
            outcome = Outcome("skipped", "do-not-contact")
            outcomes[action_id] = outcome if _transition(uow, [action_id], "sending", outcome, now) else NOOP
            add_do_not_contact(uow, draft.to, source="carrier", now=now)
        failed = [action_id for action_id, outcome in done.decided if outcome.status == "failed"]
        if failed:  # told at most once an hour, with that hour's first count
            context = {"count": len(failed), "kind": "message", "reason": "the provider refused them"}
            notify(uow, "outbound_failed", key=f"outbound:failed:{now:%Y-%m-%dT%H}", context=context, now=now)
        uow.commit()
    for action_id, outcome in outcomes.items():
        _log(action_id, outcome)
    return outcomes


def _transition(uow: UnitOfWork, action_ids: list[str], expected: str, outcome: Outcome, now: datetime) -> set[str]:
    """Compare-and-set on the status; returns the ids that moved (others were moved by someone else)."""
    values: dict[str, object] = {"status": outcome.status, "reason": outcome.reason, "updated_at": now}
    if outcome.status == "scheduled" and outcome.due_at is not None:
        values["due_at"] = outcome.due_at
    moved = uow.session.execute(
        update(OutboundAction)
        .where(OutboundAction.id.in_(action_ids), OutboundAction.status == expected)
        .values(**values)
        .returning(OutboundAction.id)
        .execution_options(synchronize_session=False)
    )
    return set(moved.scalars())


def _mark_sent(
    uow: UnitOfWork, sent: list[tuple[str, Draft, str]], senders: Senders, reason: str, zone: ZoneInfo, now: datetime
) -> dict[str, Outcome]:
    """``sending`` becomes ``sent`` with the provider's id; a text joins the customer's messages
    (sealed) and the shop's usage, as it happens (a call becomes a call record when it is
    answered, and counts when it ends)."""
    if not sent:
        return {}
    moved = _transition(uow, [action_id for action_id, _, _ in sent], "sending", Outcome("sent", reason), now)
    kept = [(action_id, draft, sid) for action_id, draft, sid in sent if action_id in moved]
    if kept:
        uow.session.execute(
            update(OutboundAction),
            [{"id": action_id, "provider_ref": sid, "sent_at": now} for action_id, _, sid in kept],
        )
    segments = 0
    for _, draft, sid in kept:
        if draft.channel == "call" and senders.call is not None:  # the provider's call record holds the number
            note_copy(uow, provider=senders.call.provider, kind="call", provider_id=sid, customer_id=draft.customer_id)
        if draft.channel == "call" or senders.sms is None:
            continue
        message = record_message(
            uow,
            direction="outbound",
            provider=senders.sms.provider,
            provider_message_id=sid,
            body=draft.body,
            status="sent",
            customer_id=draft.customer_id,
            call_id=None,
            now=now,
            segments=sms_segments(draft.body),
        )
        segments += message.segments
    if segments:
        record_usage(uow, now.astimezone(zone).date(), "sms_segments_outbound", segments)
    return {action_id: Outcome("sent", reason) if action_id in moved else NOOP for action_id, _, _ in sent}


def _find_sent(
    sera: Sera, merchant_id: str, sender: Sender, draft: Draft, action_id: str, claimed_at: datetime
) -> str | None:
    """After a crash: the provider's id of this very message (or call) if it went out, else None.

    A match is one the provider says could be this draft and is not already recorded as
    another send (identical texts, such as two recovery attempts, stay apart; so do two
    calls to the same number)."""
    matches = sender.recent(draft, action_id, claimed_at - CLOCK_SLACK, RECONCILE_DEPTH)
    if not matches:
        return None
    with sera.uow(merchant_id, readonly=True) as uow:
        known = set(
            uow.session.execute(select(OutboundAction.provider_ref).where(OutboundAction.provider_ref.in_(matches)))
            .scalars()
            .all()
        )
        if draft.channel == "sms":
            known |= set(
                uow.session.execute(select(Message.provider_message_id).where(Message.provider_message_id.in_(matches)))
                .scalars()
                .all()
            )
    return next((sid for sid in matches if sid not in known), None)


def _log(action_id: str, outcome: Outcome) -> None:
    log.info("outbound action", extra={"action": action_id, "status": outcome.status, "reason": outcome.reason})
