"""Phone calls over Twilio: the agent's conversation, a call's end, its recording.

A call's conversation is keyed by its CallSid. Every step is safe to repeat, because
Twilio repeats deliveries: the agent answers a retried greeting or turn as it did the
first time, a call's end is counted once (its receipt commits with the usage it
guards), and a recording reference is simply written again. Recording starts with the
greeting's own TwiML (``<Start><Recording>``), so no REST request delays or races it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from dataclasses import dataclass

from sera.adapters.http import OutboundError
from sera.adapters.receipts import first_delivery
from sera.adapters.twilio.client import client_for
from sera.adapters.twilio.events import CallEvent, CallStatusEvent, RecordingEvent
from sera.adapters.twilio.signature import TwilioRequest
from sera.adapters.twilio.twiml import hang_up
from sera.agent.context import load_shop
from sera.agent.ports import Action, ActionKind, Reply
from sera.agent.service import Agent, ConversationNotFoundError, ConversationRef
from sera.billing.usage import billed_minutes, record_usage
from sera.bootstrap import Sera
from sera.calls.service import attach_recording, find_call
from sera.outbound.calls import call_finished, machine_answered, opening
from sera.outbound.drafts import shop_number, voicemail
from sera.privacy.copies import note_copy, order_copy, start_deletions
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant

log = logging.getLogger("sera.twilio.voice")
PROVIDER = "twilio"
CHANNEL = "voice"
REPROMPTS = (
    "Sorry, I didn't hear anything. How can I help you?",
    "Are you still there? Tell me what you need, or say goodbye.",
)
NO_INPUT_GOODBYE = "I can't hear anything, so I'll end the call now. Please call back any time. Goodbye!"
UNKNOWN_NUMBER = "Sorry, this number is not taking calls right now. Goodbye."
LOST_CALL = "Sorry, I lost track of our call. Please call back. Goodbye."
RELAY_LOST = "Sorry, I missed that. Could you say it again?"
NOBODY_FREE = "Sorry, nobody could take your call just now. Please try again later. Goodbye."
LEAVE_A_MESSAGE = (
    "Sorry, nobody could pick up just now. Tell me your message and I'll pass it on, "
    "and someone will call you back on this number."
)
ANSWERED = frozenset({"completed", "answered"})
MAX_SAID = 2000


def _ref(merchant_id: str, call_sid: str) -> ConversationRef:
    return ConversationRef(merchant_id, CHANNEL, call_sid)


def _ending(text: str) -> Reply:
    return Reply(text, (Action(ActionKind.HANG_UP),))


def unknown_number() -> Reply:
    """A call to a number no shop answers: say so briefly and hang up."""
    log.warning("twilio call to a number no shop answers")
    return _ending(UNKNOWN_NUMBER)


def records_calls(uow: UnitOfWork) -> bool:
    return bool(load_shop(uow).agent.get("record_calls", True))


def answer(agent: Agent, merchant_id: str, call: CallEvent) -> Reply:
    """Greet the caller (a retried delivery hears the same greeting, and no second call is recorded).

    While the greeting plays, the shop's first turn is prepared in the background (its
    knowledge index, built once per shop version), so the caller's first words do not wait.
    """
    threading.Thread(target=agent.prepare, args=(merchant_id,), name="prepare-shop", daemon=True).start()
    return agent.start(
        _ref(merchant_id, call.call_sid),
        caller_phone=call.caller,
        shop_number=call.shop_number,
        provider=PROVIDER,
        direction="outbound" if call.outbound else "inbound",
        provider_call_id=call.call_sid,
    )


def answer_placed_call(sera: Sera, agent: Agent, merchant_id: str, call: CallEvent, action_id: str) -> Reply:
    """A call Sera placed was picked up: the agent opens with why it calls (a retried delivery
    hears the same words). A call for no action Sera placed is ended at once."""
    with sera.uow(merchant_id, readonly=True) as uow:
        greeting = opening(uow, action_id)
    if greeting is None or not call.outbound:
        log.warning("twilio answer for a call Sera did not place")
        return _ending("")
    threading.Thread(target=agent.prepare, args=(merchant_id,), name="prepare-shop", daemon=True).start()
    return agent.start(
        _ref(merchant_id, call.call_sid),
        caller_phone=call.caller,
        shop_number=call.shop_number,
        provider=PROVIDER,
        direction="outbound",
        provider_call_id=call.call_sid,
        greeting=greeting,
    )


def machine_verdict(sera: Sera, merchant_id: str, action_id: str, call_sid: str, answered_by: str) -> None:
    """Twilio's answering-machine verdict on a call Sera placed. A machine whose greeting has
    ended gets the voicemail, once (the live call is redirected to it); a fax is hung up on;
    a person carries on with the agent."""
    with sera.uow(merchant_id) as uow:
        verdict = machine_answered(uow, action_id, answered_by)
        message = _voicemail(uow) if verdict == "voicemail" else None
        uow.commit()
    if verdict is None:
        return
    client = client_for(sera, merchant_id)
    if client is None:
        log.warning("answering-machine verdict for a shop without a Twilio account")
        return
    try:
        client.update_call(call_sid, twiml=hang_up(message))
    except OutboundError as exc:  # the call may have ended meanwhile: nothing to leave a message on
        log.warning("could not leave the voicemail", extra={"error": str(exc)})


def _voicemail(uow: UnitOfWork) -> str:
    merchant = uow.session.get(Merchant, uow.merchant_id)
    return voicemail(merchant, shop_number(uow)) if merchant is not None else ""


def turn_id(request: TwilioRequest, call_sid: str) -> str:
    """Twilio's id for this delivery, the same on a retry: its idempotency token, else a hash of the request."""
    if request.idempotency_token:
        return request.idempotency_token[:200]
    fields = "&".join(f"{k}={v}" for k, v in sorted(request.params.multi_items()))
    return f"{call_sid}:{hashlib.sha256(fields.encode()).hexdigest()[:32]}"


def take_turn(agent: Agent, merchant_id: str, call_sid: str, speech: str, turn: str) -> Reply:
    """The agent's answer to what the caller said."""
    try:
        return agent.reply(_ref(merchant_id, call_sid), speech, turn_id=turn)
    except ConversationNotFoundError:
        log.warning("twilio turn for a call Sera did not answer")
        return _ending(LOST_CALL)


def no_input(agent: Agent, merchant_id: str, call_sid: str, attempt: int) -> Reply:
    """Nobody spoke: ask again (twice at most), then end the call politely and close its record."""
    if 1 <= attempt <= len(REPROMPTS):
        return Reply(REPROMPTS[attempt - 1])
    agent.hang_up(_ref(merchant_id, call_sid))
    return _ending(NO_INPUT_GOODBYE)


def after_transfer(dial_status: str) -> Reply | None:
    """The transferred leg ended: hang up when it was answered; None when nobody picked up
    (the caller is offered to leave a message)."""
    return _ending("") if dial_status in ANSWERED else None


def leave_message(agent: Agent, merchant_id: str, call_sid: str, speech: str, turn: str) -> Reply:
    """What the caller said after a transfer nobody answered: a message for the team."""
    try:
        return agent.message_after_transfer(_ref(merchant_id, call_sid), speech, turn_id=turn)
    except ConversationNotFoundError:
        log.warning("twilio message for a call Sera did not answer")
        return _ending(LOST_CALL)


def call_ended(
    sera: Sera, agent: Agent, merchant_id: str, event: CallStatusEvent, action_id: str | None = None
) -> None:
    """Twilio reports the call over: close the record with its duration and count usage, once;
    for a call Sera placed (``action_id``), its result (answered, no answer, busy, failed).

    The receipt, the closed record and the usage commit together: a repeated report
    changes nothing, and a crash half-way leaves the retry all of it to do.
    """
    if not event.ended:
        return
    result = None
    if action_id is not None:  # a compare-and-set: repeating it changes nothing
        with sera.uow(merchant_id) as uow:
            result = call_finished(uow, action_id, event.status)
            uow.commit()
    with sera.uow(merchant_id) as uow:
        if not first_delivery(uow, provider=PROVIDER, event_id=f"call-ended:{event.call_sid}", topic="voice.status"):
            return
        call = agent.end(uow, _ref(merchant_id, event.call_sid), ended_at=sera.clock(), duration_s=event.duration_s)
        if call is None:
            return  # not a call anyone answered: no record to close or count
        if result == "voicemail":
            call.outcome = "voicemail"
        day = call.started_at.astimezone(load_shop(uow).zone).date()
        record_usage(uow, day, "outbound_calls" if call.direction == "outbound" else "inbound_calls", 1)
        record_usage(uow, day, "billed_minutes", billed_minutes(call.duration_s or 0))
        uow.commit()


def after_relay(agent: Agent, merchant_id: str, call_sid: str, handoff_data: str) -> Reply:
    """The relay session ended (``<Connect action>``): what the agent's last reply asked for.

    The dial or hang-up comes from the conversation's own record, never from what came
    back through Twilio; ``handoff_data`` only carries the words still to say before it. A
    session that ended any other way (ConversationRelay not enabled on the account, an
    error, a dropped socket) does not drop the caller: the call carries on with ``<Gather>``.
    """
    last = agent.last_reply(_ref(merchant_id, call_sid))
    if last is None:
        log.warning("relay session ended for a call Sera did not answer")
        return _ending(LOST_CALL)
    if not last.ended:
        log.warning("relay session ended without the agent ending it: the call goes on with Gather")
        return Reply(RELAY_LOST)
    try:
        handoff = json.loads(handoff_data) if handoff_data else {}
        rest = str(handoff.get("say") or "") if isinstance(handoff, dict) else ""
    except ValueError:
        rest = ""
    return Reply(rest[:MAX_SAID], last.actions)


def handoff_note(agent: Agent, merchant_id: str, call_sid: str) -> str:
    """The whisper for the person a call is transferred to: who is calling, about what."""
    return agent.handoff_note(_ref(merchant_id, call_sid))


@dataclass(frozen=True)
class CallPlan:
    """How a shop's call is answered: where its recording is reported (None: not recorded),
    whether it goes over ConversationRelay (the file's ``agent.voice_mode``, else
    SERA_VOICE_MODE), and the language it is spoken in."""

    recording_callback: str | None
    over_relay: bool
    language: str


def call_plan(sera: Sera, merchant_id: str) -> CallPlan:
    """Read from the shop's settings once, for the incoming-call webhook."""
    with sera.uow(merchant_id, readonly=True) as uow:
        shop, recorded = load_shop(uow), records_calls(uow)
    recording = f"{sera.settings.public_url.rstrip('/')}/twilio/voice/recording?shop={merchant_id}"
    return CallPlan(
        recording_callback=recording if recorded else None,
        over_relay=(shop.agent.get("voice_mode") or sera.settings.voice_mode) == "relay",
        language=shop.locale,
    )


def recording_ready(sera: Sera, merchant_id: str, event: RecordingEvent) -> bool:
    """A finished recording is a copy at Twilio: noted in the deletion ledger, and its reference
    kept on the call if the shop records calls; if it does not (any longer), deleted there now.
    A recording of a call Sera does not know is left alone (it is not Sera's)."""
    if event.status != "completed" or event.url is None:
        return False
    ordered: list[str] = []
    with sera.uow(merchant_id) as uow:
        call = find_call(uow, provider=PROVIDER, provider_call_id=event.call_sid)
        if call is None:
            log.warning("twilio recording for a call Sera does not know")
            return False
        note_copy(
            uow,
            provider=PROVIDER,
            kind="recording",
            provider_id=event.recording_sid,
            customer_id=call.customer_id,
            record_id=call.id,
        )
        kept = records_calls(uow)
        if kept:
            attach_recording(uow, call, event.url)
        else:
            ordered = order_copy(uow, PROVIDER, "recording", event.recording_sid, "not_recorded", sera.clock())
        uow.commit()
    start_deletions(sera, ordered)
    return kept
