"""Inbound Twilio webhooks: verify, parse, hand to one service function, answer in TwiML.

| route | Twilio sends it | configure it as |
| --- | --- | --- |
| ``POST /twilio/voice`` | a call comes in | the number's Voice webhook |
| ``POST /twilio/voice/turn`` | the caller spoke (``<Gather>`` action) | (Sera's TwiML names it) |
| ``POST /twilio/voice/no-input`` | nobody spoke (``<Redirect>`` after ``<Gather>``) | (Sera's TwiML names it) |
| ``POST /twilio/voice/dial-end`` | a transfer's leg ended (``<Dial>`` action) | (Sera's TwiML names it) |
| ``WS /twilio/relay/{shop}`` | a ConversationRelay call's WebSocket (``relay`` mode) | (Sera's TwiML names it) |
| ``POST /twilio/voice/relay-end`` | a relay session ended (``<Connect>`` action) | (Sera's TwiML names it) |
| ``POST /twilio/voice/whisper`` | a transfer was answered (``<Number url>``) | (Sera's TwiML names it) |
| ``POST /twilio/voice/message`` | a message after a transfer nobody answered | (Sera's TwiML names it) |
| ``POST /twilio/voice/outbound`` | a call Sera placed was answered | (Sera's REST request names it) |
| ``POST /twilio/voice/amd`` | the answering-machine verdict on a call Sera placed | (Sera's REST request names it) |
| ``POST /twilio/voice/status`` | the call's status changed | the number's call status callback |
| ``POST /twilio/voice/recording`` | a recording is ready | (the greeting's ``<Start><Recording>`` names it) |
| ``POST /twilio/sms`` | a text comes in | the number's Messaging webhook |
| ``POST /twilio/sms/status`` | a sent text's delivery report | (Sera's REST request names it) |
| ``POST /twilio/bare`` | never: a constant TwiML answer | the load benchmark's baseline |

Every route but ``/twilio/bare`` refuses (403) a request whose signature does not
match, before anything is read from or written to the shop's data (the WebSocket: before
the socket is accepted).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Request, Response, WebSocket
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from sera.adapters.twilio import relay, sms, voice
from sera.adapters.twilio.events import (
    MalformedWebhook,
    call_event,
    call_sid,
    call_status_event,
    recording_event,
    shop_number_of_call,
    sms_event,
    sms_status_event,
)
from sera.adapters.twilio.signature import TwilioRequest, Verified, read_twilio_request, verify
from sera.adapters.twilio.twiml import BARE, EMPTY, VoiceUrls, ask_for_message, messages, voice_reply, whisper
from sera.adapters.twilio.twiml import relay as relay_twiml
from sera.agent.ports import Reply
from sera.agent.service import Agent
from sera.bootstrap import Sera

log = logging.getLogger("sera.twilio")
router = APIRouter(prefix="/twilio", include_in_schema=False)
T = TypeVar("T")
XML = "text/xml"
ACTION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


async def _sera(request: Request) -> Sera:
    sera: Sera = request.app.state.sera
    return sera


def _app_agent(state: Any) -> Agent:
    """One Agent per app: the brain is built once, conversations live in the database."""
    agent: Agent | None = getattr(state, "twilio_agent", None)
    if agent is None:
        agent = state.twilio_agent = Agent(state.sera)
    return agent


async def _agent(request: Request) -> Agent:
    return _app_agent(request.app.state)


# The dependencies are async and do no I/O, so each request crosses to a worker thread
# once, for the route itself (verify, one service call), instead of once per dependency.
SeraDep = Annotated[Sera, Depends(_sera)]
AgentDep = Annotated[Agent, Depends(_agent)]
Webhook = Annotated[TwilioRequest, Depends(read_twilio_request)]


def _sms_to(params: Mapping[str, str]) -> str | None:
    return params.get("To")


def _sms_from(params: Mapping[str, str]) -> str | None:
    return params.get("From")


def _by_shop_only(_params: Mapping[str, str]) -> str | None:
    return None  # callbacks whose URL Sera made: routed by ?shop=


def _parse(parser: Callable[[Mapping[str, str]], T], hook: Verified) -> T:
    try:
        return parser(hook.params)
    except MalformedWebhook:
        raise HTTPException(400, "not a Twilio event Sera understands") from None


def _xml(twiml: str) -> Response:
    return Response(twiml, media_type=XML)


def _urls(sera: SeraDep, merchant_id: str | None = None, call: str | None = None) -> VoiceUrls:
    return VoiceUrls(sera.settings.public_url.rstrip("/"), merchant_id, call)


@router.post("/voice")
def incoming_call(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, shop_number_of_call)
    call = _parse(call_event, hook)
    if hook.merchant_id is None:
        return _xml(voice_reply(voice.unknown_number(), _urls(sera)))
    return _opening(sera, hook.merchant_id, call.call_sid, voice.answer(agent, hook.merchant_id, call))


@router.post("/voice/outbound")
def placed_call_answered(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, shop_number_of_call)
    call = _parse(call_event, hook)
    action = _action(hook)
    if hook.merchant_id is None or action is None:
        return _xml(voice_reply(voice.unknown_number(), _urls(sera)))
    reply = voice.answer_placed_call(sera, agent, hook.merchant_id, call, action)
    return _opening(sera, hook.merchant_id, call.call_sid, reply)


def _opening(sera: Sera, merchant_id: str, call_sid: str, reply: Reply) -> Response:
    """A call's first words, over ConversationRelay or with ``<Gather>``, as the shop says."""
    plan = voice.call_plan(sera, merchant_id)
    urls = _urls(sera, merchant_id, call_sid)
    if plan.over_relay and not reply.ended:
        socket = relay.relay_url(sera.settings.public_url, merchant_id)
        twiml = relay_twiml(
            reply.text, socket, urls, language=plan.language, recording_callback=plan.recording_callback
        )
        return _xml(twiml)
    return _xml(voice_reply(reply, urls, recording_callback=plan.recording_callback))


def _action(hook: Verified) -> str | None:
    """The outbound action a callback of a call Sera placed is about (its URL names it)."""
    action = hook.request.query.get("action", "")
    return action if ACTION_ID.match(action) else None


@router.post("/voice/amd", status_code=204)
def machine_detected(webhook: Webhook, sera: SeraDep) -> Response:
    hook = verify(sera, webhook, _by_shop_only)
    sid = _parse(call_sid, hook)
    action = _action(hook)
    if hook.merchant_id is not None and action is not None:
        answered_by = hook.params.get("AnsweredBy", "")[:30]
        voice.machine_verdict(sera, hook.merchant_id, action, sid, answered_by)
    return Response(status_code=204)


@router.post("/voice/turn")
def caller_spoke(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, shop_number_of_call)
    sid = _parse(call_sid, hook)
    if hook.merchant_id is None:
        return _xml(voice_reply(voice.unknown_number(), _urls(sera)))
    speech = hook.params.get("SpeechResult", "")
    reply = voice.take_turn(agent, hook.merchant_id, sid, speech, voice.turn_id(hook.request, sid))
    return _xml(voice_reply(reply, _urls(sera, hook.merchant_id, sid)))


@router.post("/voice/no-input")
def nobody_spoke(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, shop_number_of_call)
    sid = _parse(call_sid, hook)
    if hook.merchant_id is None:
        return _xml(voice_reply(voice.unknown_number(), _urls(sera)))
    attempt = hook.request.query.get("attempt", "")
    number = int(attempt) if attempt.isdigit() and len(attempt) < 3 else len(voice.REPROMPTS) + 1
    reply = voice.no_input(agent, hook.merchant_id, sid, number)
    return _xml(voice_reply(reply, _urls(sera), attempt=number + 1))


@router.post("/voice/dial-end")
def transfer_ended(webhook: Webhook, sera: SeraDep) -> Response:
    hook = verify(sera, webhook, shop_number_of_call)
    _parse(call_sid, hook)
    ended = voice.after_transfer(hook.params.get("DialCallStatus", ""))
    if ended is None:
        return _xml(ask_for_message(voice.LEAVE_A_MESSAGE, voice.NOBODY_FREE, _urls(sera)))
    return _xml(voice_reply(ended, _urls(sera)))


@router.post("/voice/message")
def message_left(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, shop_number_of_call)
    sid = _parse(call_sid, hook)
    if hook.merchant_id is None:
        return _xml(voice_reply(voice.unknown_number(), _urls(sera)))
    speech = hook.params.get("SpeechResult", "")
    reply = voice.leave_message(agent, hook.merchant_id, sid, speech, voice.turn_id(hook.request, sid))
    return _xml(voice_reply(reply, _urls(sera)))


@router.websocket("/relay/{shop}")
async def relay_session(websocket: WebSocket, shop: str) -> None:
    await relay.serve(websocket.app.state.sera, _app_agent(websocket.app.state), websocket, shop)


@router.post("/voice/relay-end")
def relay_ended(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, shop_number_of_call)
    sid = _parse(call_sid, hook)
    if hook.merchant_id is None:
        return _xml(voice_reply(voice.unknown_number(), _urls(sera)))
    handoff = hook.params.get("HandoffData", "")
    reply = voice.after_relay(agent, hook.merchant_id, sid, handoff)
    return _xml(voice_reply(reply, _urls(sera, hook.merchant_id, sid)))


@router.post("/voice/whisper")
def transfer_whisper(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, _by_shop_only)
    call = hook.request.query.get("call", "")
    if hook.merchant_id is None or not relay.CALL_SID.match(call):
        return _xml(str(VoiceResponse()))  # nothing to say: connect at once
    return _xml(whisper(voice.handoff_note(agent, hook.merchant_id, call)))


@router.post("/voice/status", status_code=204)
def call_status(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, shop_number_of_call)
    event = _parse(call_status_event, hook)
    if hook.merchant_id is not None:
        voice.call_ended(sera, agent, hook.merchant_id, event, _action(hook))
    return Response(status_code=204)


@router.post("/voice/recording", status_code=204)
def recording_status(webhook: Webhook, sera: SeraDep) -> Response:
    hook = verify(sera, webhook, _by_shop_only)
    event = _parse(recording_event, hook)
    if hook.merchant_id is not None:
        voice.recording_ready(sera, hook.merchant_id, event)
    return Response(status_code=204)


@router.post("/sms")
def incoming_sms(webhook: Webhook, sera: SeraDep, agent: AgentDep) -> Response:
    hook = verify(sera, webhook, _sms_to)
    text = _parse(sms_event, hook)
    if hook.merchant_id is None or text.sender is None or text.shop_number is None:
        log.warning("twilio text Sera cannot answer", extra={"known_shop": hook.merchant_id is not None})
        return _xml(EMPTY)
    replies = sms.receive_sms(sera, agent, hook.merchant_id, text, text.sender, text.shop_number)
    return _xml(messages(replies, sms.status_url(sera, hook.merchant_id)))


@router.post("/sms/status", status_code=204)
def sms_status(webhook: Webhook, sera: SeraDep) -> Response:
    hook = verify(sera, webhook, _sms_from)
    event = _parse(sms_status_event, hook)
    if hook.merchant_id is not None:
        sms.delivery_report(sera, hook.merchant_id, event)
    return Response(status_code=204)


@router.post("/bare")
async def bare() -> Response:
    """The load benchmark's baseline: constant TwiML, no signature, no database. Safe to expose."""
    return _xml(BARE)
