"""What Sera answers Twilio with: TwiML, written by the SDK's own builders.

Every voice answer either waits for the caller (``<Gather>`` followed by a
``<Redirect>`` to the no-input handler, which Twilio reaches when nobody spoke),
connects them (``<Dial>``), or ends the call (``<Hangup/>``): a call left open costs
the merchant money, so no answer may simply run out. The greeting of a call the shop
records begins with ``<Start><Recording>``: Twilio records from that moment, the
greeting included, and reports the finished file to the callback it names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]
from twilio.twiml.voice_response import VoiceResponse  # type: ignore[import-untyped]

from sera.agent.ports import Reply

EMPTY = str(MessagingResponse())  # "<Response />": nothing to say (Twilio's own auto-replies speak for us)
BARE = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>ok</Say></Response>'
DIAL_TIMEOUT_S = 25
# Characters XML 1.0 cannot carry: left in, they would make the whole answer unreadable to Twilio.
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    return _NOT_XML.sub("", text)


@dataclass(frozen=True)
class VoiceUrls:
    """Where Twilio continues a call; absolute, under SERA_PUBLIC_URL, so signatures match.
    ``shop`` and ``call``, when known, name the call a transfer's whisper is about."""

    base: str
    shop: str | None = None
    call: str | None = None

    @property
    def turn(self) -> str:
        return f"{self.base}/twilio/voice/turn"

    def no_input(self, attempt: int) -> str:
        return f"{self.base}/twilio/voice/no-input?attempt={attempt}"

    @property
    def dial_end(self) -> str:
        return f"{self.base}/twilio/voice/dial-end"

    @property
    def message(self) -> str:
        return f"{self.base}/twilio/voice/message"

    @property
    def relay_end(self) -> str:
        return f"{self.base}/twilio/voice/relay-end"

    @property
    def whisper(self) -> str | None:
        """What the person a call is handed to hears first (``<Number url>``)."""
        if not self.shop or not self.call:
            return None
        return f"{self.base}/twilio/voice/whisper?shop={self.shop}&call={self.call}"


def _response(recording_callback: str | None) -> VoiceResponse:
    """A TwiML document; one that first starts recording the call when given where to report it."""
    response = VoiceResponse()
    if recording_callback:
        response.start().recording(
            recording_status_callback=recording_callback,
            recording_status_callback_method="POST",
            recording_status_callback_event="completed",
        )
    return response


def listen(text: str, urls: VoiceUrls, *, attempt: int = 1, recording_callback: str | None = None) -> str:
    """Say ``text`` and wait for speech; silence falls through to the no-input handler."""
    response = _response(recording_callback)
    gather = response.gather(input="speech", action=urls.turn, method="POST", speech_timeout="auto")
    gather.say(xml_safe(text))
    response.redirect(urls.no_input(attempt), method="POST")
    return str(response)


def hang_up(text: str | None = None, *, recording_callback: str | None = None) -> str:
    response = _response(recording_callback)
    if text:
        response.say(xml_safe(text))
    response.hangup()
    return str(response)


def transfer(text: str, number: str, urls: VoiceUrls, *, recording_callback: str | None = None) -> str:
    """Connect the caller to a person, who first hears who is calling and why (the whisper);
    the dial-end handler decides what happens after."""
    response = _response(recording_callback)
    if text:
        response.say(xml_safe(text))
    dial = response.dial(action=urls.dial_end, method="POST", timeout=DIAL_TIMEOUT_S)
    if urls.whisper:
        dial.number(number, url=urls.whisper, method="POST")
    else:
        dial.number(number)
    return str(response)


def ask_for_message(text: str, goodbye: str, urls: VoiceUrls) -> str:
    """After a transfer nobody answered: the caller's words go to the message handler;
    silence hears ``goodbye``."""
    response = VoiceResponse()
    gather = response.gather(input="speech", action=urls.message, method="POST", speech_timeout="auto")
    gather.say(xml_safe(text))
    response.say(xml_safe(goodbye))
    response.hangup()
    return str(response)


def whisper(note: str) -> str:
    """Said to the person who answers a transfer, before the caller is connected."""
    response = VoiceResponse()
    response.say(xml_safe(note))
    return str(response)


def voice_reply(reply: Reply, urls: VoiceUrls, *, attempt: int = 1, recording_callback: str | None = None) -> str:
    """The agent's reply as the next step of the call; ``attempt`` counts prompts met by silence,
    ``recording_callback`` (a greeting's) starts recording the call."""
    if reply.transfer_to:
        return transfer(reply.text, reply.transfer_to, urls, recording_callback=recording_callback)
    if reply.ended:
        return hang_up(reply.text, recording_callback=recording_callback)
    return listen(reply.text, urls, attempt=attempt, recording_callback=recording_callback)


def relay(
    greeting: str, socket_url: str, urls: VoiceUrls, *, language: str, recording_callback: str | None = None
) -> str:
    """Hand the call to ConversationRelay: Twilio speaks the greeting, then talks to Sera over
    ``socket_url``; when the session ends, ``<Connect action>`` asks what comes next."""
    response = _response(recording_callback)
    connect = response.connect(action=urls.relay_end, method="POST")
    connect.conversation_relay(
        url=socket_url,
        welcome_greeting=xml_safe(greeting),
        language=language,
        interruptible="any",
        dtmf_detection=True,
    )
    return str(response)


def messages(texts: Sequence[str], status_callback: str | None = None) -> str:
    """One ``<Message>`` per text; none at all is an empty ``<Response/>``. Each text's delivery
    reports go to ``status_callback`` (the verb's ``action``), which tells Sera its sid."""
    response = MessagingResponse()
    options = {"action": status_callback, "method": "POST"} if status_callback else {}
    for text in texts:
        response.message(xml_safe(text), **options)
    return str(response)
