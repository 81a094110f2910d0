"""The line a scenario's caller talks over: straight to the agent, or through Sera's Twilio
endpoints as Twilio would drive them (`sera eval --over twilio-relay|twilio-gather`).

Over Twilio, every request is signed with the SDK's ``RequestValidator`` and goes through the
whole web app in process: the incoming-call webhook, then either ConversationRelay's
WebSocket (``setup``, a ``prompt`` per caller line, the tokens until ``last`` or ``end``, the
``<Connect action>`` callback for an ending) or one ``<Gather>`` turn per line; the call's
completed status callback closes the record. So a scenario measures what a caller of a real
number gets, the channel's TwiML and protocol included. Text scenarios go to the agent.
"""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from contextlib import ExitStack
from typing import Any, Protocol

from sera.agent.ports import Action, ActionKind, Reply
from sera.agent.service import Agent, ConversationRef
from sera.bootstrap import Sera

OVER = ("agent", "twilio-relay", "twilio-gather")
EVAL_PUBLIC_URL = "https://sera.eval"
ACCOUNT = "AC" + "e" * 32


class CallerLine(Protocol):
    def greet(self) -> Reply: ...

    def say(self, line: str) -> Reply: ...

    def hang_up(self) -> None: ...


class AgentLine:
    """Straight to the channel-neutral agent."""

    def __init__(self, agent: Agent, ref: ConversationRef, caller: str | None, shop_number: str | None) -> None:
        self.agent, self.ref, self.caller, self.shop_number = agent, ref, caller, shop_number

    def greet(self) -> Reply:
        return self.agent.start(self.ref, caller_phone=self.caller, shop_number=self.shop_number)

    def say(self, line: str) -> Reply:
        return self.agent.reply(self.ref, line)

    def hang_up(self) -> None:
        self.agent.hang_up(self.ref)


class TwilioLine:
    """A phone call through Sera's Twilio endpoints, in relay or gather mode."""

    def __init__(self, sera: Sera, caller: str, shop_number: str, *, relay: bool) -> None:
        from fastapi.testclient import TestClient
        from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

        from sera.web.app import create_app

        token = sera.settings.twilio_auth_token
        assert token is not None, "a Twilio line needs SERA_TWILIO_AUTH_TOKEN"
        sera.settings = sera.settings.model_copy(update={"voice_mode": "relay" if relay else "gather"})
        self.validator = RequestValidator(token.get_secret_value())
        self.stack = ExitStack()
        self.http = self.stack.enter_context(TestClient(create_app(sera)))
        self.call_sid = "CA" + secrets.token_hex(16)
        self.caller, self.shop_number, self.relay = caller, shop_number, relay
        self.socket: Any = None

    def post(self, path: str, **fields: str) -> ET.Element:
        params = {
            "AccountSid": ACCOUNT,
            "ApiVersion": "2010-04-01",
            "CallSid": self.call_sid,
            "CallStatus": "in-progress",
            "Direction": "inbound",
            "From": self.caller,
            "To": self.shop_number,
            **fields,
        }
        signature = self.validator.compute_signature(EVAL_PUBLIC_URL + path, params)
        response = self.http.post(path, data=params, headers={"X-Twilio-Signature": signature})
        response.raise_for_status()
        return ET.fromstring(response.text) if response.text else ET.Element("Response")  # noqa: S314 - our own TwiML

    def greet(self) -> Reply:
        answer = self.post("/twilio/voice", CallStatus="ringing")
        relay = answer.find("Connect/ConversationRelay")
        if relay is None:
            return _reply(answer)
        url = relay.attrib["url"]
        path = "/" + url.split("/", 3)[3]
        signature = self.validator.compute_signature(url, {})
        self.socket = self.stack.enter_context(
            self.http.websocket_connect(path, headers={"X-Twilio-Signature": signature})
        )
        setup = {"type": "setup", "callSid": self.call_sid, "from": self.caller, "to": self.shop_number}
        self.socket.send_json({**setup, "direction": "inbound", "callStatus": "RINGING", "customParameters": {}})
        return Reply(relay.attrib.get("welcomeGreeting", ""))

    def say(self, line: str) -> Reply:
        if self.socket is None:
            return _reply(self.post("/twilio/voice/turn", SpeechResult=line, Confidence="0.9"))
        self.socket.send_json({"type": "prompt", "voicePrompt": line, "lang": "en-US", "last": True})
        tokens: list[str] = []
        while True:
            frame = self.socket.receive_json()
            if frame.get("type") == "text":
                tokens.append(str(frame.get("token", "")))
                if frame.get("last"):
                    return Reply("".join(tokens).strip())
            elif frame.get("type") == "end":
                ending = _reply(
                    self.post("/twilio/voice/relay-end", SessionStatus="ended", HandoffData=frame["handoffData"])
                )
                return Reply(" ".join(t for t in ("".join(tokens).strip(), ending.text) if t), ending.actions)

    def hang_up(self) -> None:
        try:
            self.post("/twilio/voice/status", CallStatus="completed", CallDuration="60")
        finally:
            self.stack.close()


def _reply(answer: ET.Element) -> Reply:
    """Sera's TwiML, as the caller lives it: what is said, then a dial, a hang-up or a wait."""
    text = " ".join((say.text or "").strip() for say in answer.iter("Say") if say.text)
    number = answer.findtext("Dial/Number") or answer.findtext("Dial")
    if number and number.strip():
        return Reply(text, (Action(ActionKind.TRANSFER, number=number.strip()),))
    if answer.find("Hangup") is not None:
        return Reply(text, (Action(ActionKind.HANG_UP),))
    return Reply(text)
