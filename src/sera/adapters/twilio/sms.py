"""Text messages over Twilio: the agent's conversation, the carrier keywords, delivery reports.

One conversation per (shop number, texter), resumed while it is recent
(``SERA_SMS_IDLE_MINUTES``). Its key is the shop number and the texter's blind index,
never their number. Keywords are the whole message, trimmed, any case:

- STOP, STOPALL, UNSUBSCRIBE, END, QUIT, CANCEL, REVOKE, OPTOUT: onto the
  do-not-contact list. Sera answers nothing: Twilio's Advanced Opt-Out already sends
  the confirmation, and blocks any further message to that number anyway.
- START, UNSTOP (and YES, only from a number on the list): off the list; again Twilio
  sends the confirmation. YES from anyone else is an ordinary answer ("yes, book it").
- HELP, INFO: the shop's help text (its name, its phone, how to opt out).

After those (and the do-not-contact list), an answer to the shop's feedback question
("4 quick and friendly", within two days of it) is recorded and thanked without the agent
(``sera.feedback.replies``); anything else is the agent's.

A number on the list gets no reply to anything else until it opts back in.

Retries are harmless: the agent answers a repeated MessageSid as it did the first
time, and the messages and their usage are recorded under a receipt for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import phonenumbers
from sqlalchemy import select

from sera.adapters.http import PermanentError
from sera.adapters.receipts import first_delivery
from sera.adapters.twilio.client import client_for
from sera.adapters.twilio.events import SmsEvent, SmsStatusEvent
from sera.agent.context import load_shop
from sera.agent.ports import Reply
from sera.agent.service import Agent, ConversationNotFoundError, ConversationRef
from sera.billing.usage import record_usage
from sera.bootstrap import Sera
from sera.calls.messages import find_message, record_message, sms_segments, update_message_status
from sera.customers.service import add_do_not_contact, find_customer, is_do_not_contact, remove_do_not_contact
from sera.feedback.replies import parse_answer, record_reply
from sera.privacy.copies import note_copy
from sera.storage.database import UnitOfWork
from sera.storage.models import Conversation, MerchantPhoneNumber

log = logging.getLogger("sera.twilio.sms")
PROVIDER = "twilio"
CHANNEL = "sms"
OPT_OUT = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "CANCEL", "REVOKE", "OPTOUT"})
OPT_IN = frozenset({"START", "UNSTOP"})
OPT_IN_WHEN_LISTED = frozenset({"YES"})
HELP = frozenset({"HELP", "INFO"})
# Twilio's message statuses in the order they happen; a late report never moves a message back.
STATUS_ORDER = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "receiving": 3,
    "received": 4,
    "delivered": 5,
    "undelivered": 5,
    "failed": 5,
    "canceled": 5,
    "partially_delivered": 5,
    "read": 6,
}


class DoNotContactError(PermanentError):
    """The recipient asked not to be contacted; nothing was sent."""


def national(number: str) -> str:
    """A number as people write it in its own country, e.g. (312) 555-0100."""
    parsed = phonenumbers.parse(number, None)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.NATIONAL))


def thread(sera: Sera, merchant_id: str, shop_number: str, sender: str) -> ConversationRef:
    """The conversation of one texter with one shop number, keyed without their number."""
    return ConversationRef(merchant_id, CHANNEL, f"{shop_number}:{sera.vault.phone_index(merchant_id, sender)}")


def help_text(shop_name: str, shop_number: str) -> str:
    return (
        f"{shop_name}: text us your question, or call {national(shop_number)}. "
        "Reply STOP to opt out, START to opt back in. Msg & data rates may apply."
    )


def as_text(reply: Reply) -> str:
    """The agent's reply for a text thread: a transfer becomes the number to call."""
    if reply.transfer_to:
        return f"You can reach the team directly at {national(reply.transfer_to)}."
    return reply.text


def receive_sms(sera: Sera, agent: Agent, merchant_id: str, sms: SmsEvent, sender: str, shop_number: str) -> list[str]:
    """Handle one inbound text; returns the texts to answer with (none: an empty TwiML)."""
    keyword = sms.body.strip().upper()
    now = sera.clock()
    with sera.uow(merchant_id, readonly=True) as uow:
        seen = find_message(uow, provider=PROVIDER, provider_message_id=sms.message_sid)
        listed = is_do_not_contact(uow, sender)
        shop_name = load_shop(uow).name
    if seen is not None:  # a retried delivery: answered as the first time, nothing done twice
        if seen.call_id is not None:
            return _converse(sera, agent, merchant_id, sms, sender, shop_number, retried=True)
        return [help_text(shop_name, shop_number)] if keyword in HELP else []
    if keyword in OPT_OUT:
        return _without_agent(
            sera, merchant_id, sms, lambda uow: add_do_not_contact(uow, sender, source="sms", now=now)
        )
    if keyword in OPT_IN or (listed and keyword in OPT_IN_WHEN_LISTED):
        return _without_agent(sera, merchant_id, sms, lambda uow: remove_do_not_contact(uow, sender))
    if keyword in HELP:
        return _without_agent(sera, merchant_id, sms, lambda uow: None, help_text(shop_name, shop_number))
    if listed:
        return _without_agent(sera, merchant_id, sms, lambda uow: None)  # recorded, never answered
    answered = _feedback_answer(sera, merchant_id, sms, sender)
    if answered is not None:
        return answered
    return _converse(sera, agent, merchant_id, sms, sender, shop_number)


def _feedback_answer(sera: Sera, merchant_id: str, sms: SmsEvent, sender: str) -> list[str] | None:
    """An answer to the shop's feedback question ("4 quick and friendly"): recorded with the text
    and thanked, never handed to the agent. None: an ordinary text (nothing was written)."""
    if parse_answer(sms.body) is None:
        return None
    with sera.uow(merchant_id) as uow:
        if not first_delivery(uow, provider=PROVIDER, event_id=f"sms:{sms.message_sid}", topic="sms.inbound"):
            return []  # a concurrent delivery of the same text handled it
        recorded = record_reply(uow, phone=sender, text=sms.body, now=sera.clock())
        if recorded is None:
            return None  # rolled back, the receipt with it: the agent's path records the text
        _record_exchange(sera, uow, sms, [recorded.thanks], call_id=None)
        uow.commit()
    return [recorded.thanks]


def _without_agent(
    sera: Sera, merchant_id: str, sms: SmsEvent, act: Callable[[UnitOfWork], object], reply: str | None = None
) -> list[str]:
    """A keyword (or a text from a listed number): ``act``, and the text recorded with its reply, once."""
    replies = [reply] if reply else []
    with sera.uow(merchant_id) as uow:
        if first_delivery(uow, provider=PROVIDER, event_id=f"sms:{sms.message_sid}", topic="sms.inbound"):
            act(uow)
            _record_exchange(sera, uow, sms, replies, call_id=None)
            uow.commit()
    return replies


def _converse(
    sera: Sera,
    agent: Agent,
    merchant_id: str,
    sms: SmsEvent,
    sender: str,
    shop_number: str,
    *,
    retried: bool = False,
) -> list[str]:
    """The agent's answer; a retried text is answered from the thread it was part of, never a new one."""
    ref = thread(sera, merchant_id, shop_number, sender)
    greeting = None
    if not retried:
        idle = timedelta(minutes=sera.settings.sms_idle_minutes)
        greeting = agent.open(ref, caller_phone=sender, shop_number=shop_number, provider=PROVIDER, idle_after=idle)
    try:
        reply = agent.reply(ref, sms.body, turn_id=sms.message_sid)
    except ConversationNotFoundError:
        log.warning("twilio text for a thread that is gone")
        return []
    replies = ([greeting.text] if greeting else []) + [as_text(reply)]
    with sera.uow(merchant_id) as uow:
        if first_delivery(uow, provider=PROVIDER, event_id=f"sms:{sms.message_sid}", topic="sms.inbound"):
            call_id = uow.session.execute(
                select(Conversation.call_id).where(
                    Conversation.channel == CHANNEL, Conversation.external_id == ref.external_id
                )
            ).scalar_one_or_none()
            _record_exchange(sera, uow, sms, replies, call_id=call_id)
            uow.commit()
    return replies


def _record_exchange(sera: Sera, uow: UnitOfWork, sms: SmsEvent, replies: list[str], call_id: str | None) -> None:
    """The text and Sera's replies (sealed, under the texter's key when known) and their segments."""
    now = sera.clock()
    day = now.astimezone(load_shop(uow).zone).date()
    customer = find_customer(uow, phone=sms.sender) if sms.sender else None
    customer_id = customer.id if customer else None
    inbound = record_message(
        uow,
        direction="inbound",
        provider=PROVIDER,
        provider_message_id=sms.message_sid,
        body=sms.body,
        status="received",
        customer_id=customer_id,
        call_id=call_id,
        now=now,
        segments=sms.segments,
    )
    record_usage(uow, day, "sms_segments_inbound", inbound.segments)
    for text in replies:
        # A TwiML reply's own sid is not known to Sera, so its delivery is not tracked.
        outbound = record_message(
            uow,
            direction="outbound",
            provider=PROVIDER,
            provider_message_id=None,
            body=text,
            status="queued",
            customer_id=customer_id,
            call_id=call_id,
            now=now,
        )
        record_usage(uow, day, "sms_segments_outbound", outbound.segments)


def status_url(sera: Sera, merchant_id: str) -> str:
    return f"{sera.settings.public_url.rstrip('/')}/twilio/sms/status?shop={merchant_id}"


def send_text(sera: Sera, merchant_id: str, *, to: str, body: str, from_number: str | None = None) -> str:
    """Text someone through Twilio's REST API, tracked by delivery reports; returns Sera's message id.

    Never texts a number on the do-not-contact list. Raises PermanentError or RetryableError.
    """
    with sera.uow(merchant_id, readonly=True) as uow:
        if is_do_not_contact(uow, to):
            raise DoNotContactError("the recipient is on the do-not-contact list")
        sender = (
            from_number
            or uow.session.execute(
                select(MerchantPhoneNumber.number).order_by(MerchantPhoneNumber.number).limit(1)
            ).scalar_one_or_none()
        )
    client = client_for(sera, merchant_id)
    if client is None or sender is None:
        raise PermanentError("no Twilio account or shop number to send from")
    try:
        sent = client.send_sms(to=to, from_=sender, body=body, status_callback=status_url(sera, merchant_id))
    finally:
        client.close()
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        customer = find_customer(uow, phone=to)
        message = record_message(
            uow,
            direction="outbound",
            provider=PROVIDER,
            provider_message_id=sent.sid,
            body=body,
            status=sent.status[:20],
            customer_id=customer.id if customer else None,
            call_id=None,
            now=now,
            segments=sent.segments or sms_segments(body),
        )
        record_usage(uow, now.astimezone(load_shop(uow).zone).date(), "sms_segments_outbound", message.segments)
        uow.commit()
        return message.id


def _note_reply(uow: UnitOfWork, event: SmsStatusEvent) -> None:
    """The reply is a copy at Twilio, of the texter's conversation (erased with them)."""
    customer = find_customer(uow, phone=event.recipient) if event.recipient else None
    note_copy(
        uow,
        provider=PROVIDER,
        kind="message",
        provider_id=event.message_sid,
        customer_id=customer.id if customer else None,
    )


def delivery_report(sera: Sera, merchant_id: str, event: SmsStatusEvent) -> bool:
    """A message's new status; replayed or late reports never move it back. False when nothing changed."""
    rank = STATUS_ORDER.get(event.status)
    if rank is None:
        return False
    with sera.uow(merchant_id) as uow:
        message = find_message(uow, provider=PROVIDER, provider_message_id=event.message_sid)
        if message is None:  # a reply Sera gave in TwiML: its first report is where its sid is learnt
            _note_reply(uow, event)
            uow.commit()
            return False
        if rank < STATUS_ORDER.get(message.status, -1) or message.status == event.status:
            return False
        update_message_status(uow, provider=PROVIDER, provider_message_id=event.message_sid, status=event.status)
        uow.commit()
    if event.error_code is not None:
        log.warning("twilio message not delivered", extra={"status": event.status, "code": event.error_code})
    return True
