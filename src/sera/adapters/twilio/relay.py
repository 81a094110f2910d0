"""Real-time calls over Twilio ConversationRelay: Twilio transcribes the caller and speaks
Sera's text; the two talk over one WebSocket per call.

The incoming-call webhook starts the call record and answers
``<Connect action=.../relay-end><ConversationRelay url="wss://.../twilio/relay/{shop}"
welcomeGreeting=...>``. Twilio then opens the WebSocket, signed like a webhook
(``X-Twilio-Signature`` over the wss URL, no parameters): it is checked with the shop's
token before the socket is accepted, so a stranger's socket is refused before a single
message is read.

Messages from Twilio (JSON text frames):
- ``setup``: the call (``callSid``, ``from``, ``to``), bound to the conversation the
  webhook began (or begun here, for a socket Twilio reconnects);
- ``prompt``: a caller turn (``voicePrompt``); the reply goes back as ``text`` tokens,
  each sentence as soon as the brain has it, then an empty token with ``last: true`` (or,
  for a reply that ends the call, ``end`` instead);
- ``interrupt``: the caller talked over the agent; the record keeps what they heard
  (``utteranceUntilInterrupt``);
- ``dtmf``: ``0`` asks for a person; other digits, ended by ``#``, are said as a line (an
  order number typed on the keypad);
- ``error``: logged.
A reply that ends the call (a transfer, a goodbye) is followed by ``end`` with
``handoffData`` (``{"reasonCode", "say"}``: what is left to say); Twilio then posts to the
``<Connect action>``, whose TwiML says it and dials the handoff number or hangs up, as the
conversation's own record says (the number never comes back through Twilio).

Bad input never crashes the process or half-writes a record: a frame over ``MAX_FRAME``
or a prompt before ``setup`` closes the socket (Twilio then posts the action, which ends
the call politely); malformed JSON and unknown types are logged and skipped.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.websockets import WebSocket, WebSocketDisconnect
from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

from sera.adapters.twilio.signature import auth_token
from sera.adapters.twilio.voice import CHANNEL, PROVIDER
from sera.agent.ports import Reply
from sera.agent.service import Agent, ConversationNotFoundError, ConversationRef
from sera.bootstrap import Sera
from sera.customers.phones import try_normalize_phone
from sera.merchants.service import merchant_id_for_number
from sera.storage.models import Merchant

log = logging.getLogger("sera.twilio.relay")
MAX_FRAME = 64 * 1024  # Twilio's messages are a few hundred bytes
MAX_DIGITS = 32
PERSON_DIGIT = "0"
ASK_FOR_PERSON = "I'd like to speak to a person."
CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
SHOP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
POLICY_VIOLATION, TOO_BIG = 1008, 1009

Send = Callable[[dict[str, Any]], Coroutine[Any, Any, None]]


def relay_url(public_url: str, merchant_id: str) -> str:
    """The WebSocket URL Twilio connects to: the public URL with ws(s), the shop in the path.

    No query string: Twilio signs the URL exactly as the TwiML gives it, and sources differ
    on how a query string enters the signature; a path is signed one way only."""
    scheme, _, rest = public_url.rstrip("/").partition("://")
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}/twilio/relay/{merchant_id}"


def verified_shop(sera: Sera, websocket: WebSocket, shop: str) -> bool:
    """Whether the upgrade request is signed with the shop's token (over the wss URL, no params)."""
    signature = websocket.headers.get("x-twilio-signature")
    if not signature or not SHOP_ID.match(shop) or websocket.scope.get("query_string"):
        return False
    with sera.uow(readonly=True) as uow:
        if uow.session.get(Merchant, shop) is None:
            return False
    token = auth_token(sera, shop)
    return bool(token) and bool(
        RequestValidator(token).validate(relay_url(sera.settings.public_url, shop), {}, signature)
    )


class RelaySession:
    """One call's socket: Twilio's messages in, the agent's tokens out."""

    def __init__(self, sera: Sera, agent: Agent, merchant_id: str, send: Send) -> None:
        self.sera = sera
        self.agent = agent
        self.merchant_id = merchant_id
        self.send = send
        self.ref: ConversationRef | None = None
        self.digits = ""
        self.speaking: asyncio.Task[None] | None = None  # the turn being answered, while frames keep coming
        self.cut = False  # the caller talked over it: a brain still writing stops
        self.lost = False  # the conversation is gone: the socket closes

    async def handle(self, raw: str) -> bool:
        """Act on one frame; False when the socket must close."""
        if self.lost:
            return False
        if len(raw) > MAX_FRAME:
            log.warning("relay frame too large", extra={"bytes": len(raw)})
            return False
        try:
            message = json.loads(raw)
        except ValueError:
            log.warning("relay frame is not JSON")
            return True
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "setup":
            return await self.setup(message)
        if kind in ("prompt", "dtmf", "interrupt") and self.ref is None:
            log.warning("relay message before setup", extra={"type": kind})
            return False
        if kind == "prompt":
            text = message.get("voicePrompt")
            if message.get("last", True) and isinstance(text, str) and text.strip():
                await self.answer(text.strip())
            return True
        if kind == "dtmf":
            return await self.digit(str(message.get("digit", ""))[:1])
        if kind == "interrupt":
            heard = message.get("utteranceUntilInterrupt")
            self.cut = True  # a brain still writing stops at its next sentence
            await self.settle()
            if isinstance(heard, str) and self.ref is not None:
                await anyio.to_thread.run_sync(self.agent.interrupted, self.ref, heard)
            return True
        if kind == "error":
            log.warning("relay reported an error")  # its description may quote the caller
            return True
        log.warning("relay message of an unknown type")
        return True

    async def setup(self, message: dict[str, Any]) -> bool:
        call_sid, caller, shop = message.get("callSid"), message.get("from"), message.get("to")
        if not isinstance(call_sid, str) or not CALL_SID.match(call_sid):
            log.warning("relay setup without a call")
            return False
        outbound = str(message.get("direction", "")).startswith("outbound")
        caller_phone = try_normalize_phone(str(shop if outbound else caller or ""))
        shop_number = try_normalize_phone(str(caller if outbound else shop or ""))
        if shop_number is None or merchant_id_for_number(self.sera, shop_number) != self.merchant_id:
            log.warning("relay setup for another shop's call")
            return False
        if self.ref is not None and self.ref.external_id != call_sid:
            log.warning("relay setup for a second call on one socket")
            return False
        self.ref = ConversationRef(self.merchant_id, CHANNEL, call_sid)
        begin = functools.partial(  # the webhook began the conversation; a reconnected socket finds it
            self.agent.start,
            self.ref,
            caller_phone=caller_phone,
            shop_number=shop_number,
            provider=PROVIDER,
            direction="outbound" if outbound else "inbound",
            provider_call_id=call_sid,
        )
        await anyio.to_thread.run_sync(begin)
        return True

    async def digit(self, digit: str) -> bool:
        if digit == PERSON_DIGIT and not self.digits:
            await self.answer(ASK_FOR_PERSON)
            return True
        if digit == "#":
            digits, self.digits = self.digits, ""
            if digits:
                await self.answer(digits)
            return True
        if digit == "*":
            self.digits = ""
        elif digit.isdigit() and len(self.digits) < MAX_DIGITS:
            self.digits += digit
        return True

    async def answer(self, line: str) -> None:
        """Start the agent's turn (after the one before), and go back to reading frames: an
        interruption must reach the turn while it is still being written."""
        await self.settle()
        self.cut = False
        self.speaking = asyncio.create_task(self.turn(line))

    async def settle(self) -> None:
        """Wait for the turn being answered, if any."""
        if self.speaking is not None:
            await self.speaking
            self.speaking = None

    async def turn(self, line: str) -> None:
        """The caller's line to the agent; each sentence goes out as soon as it exists."""
        assert self.ref is not None
        ref, send = self.ref, self.send
        streamed: list[str] = []

        def say(sentence: str) -> bool:
            if self.cut:
                return False  # the caller is talking: nothing more of this reply is said
            streamed.append(sentence)
            try:
                anyio.from_thread.run(send, {"type": "text", "token": sentence + " ", "last": False})
            except Exception:  # the caller hung up mid-reply: what the turn did still counts
                log.info("relay closed while the agent spoke")
            return True

        try:
            reply: Reply = await anyio.to_thread.run_sync(lambda: self.agent.reply(ref, line, say=say))
        except ConversationNotFoundError:
            log.warning("relay turn for a call Sera did not answer")
            self.lost = True
            return
        if reply.ended:  # its last words are said by the <Connect action>'s TwiML, then the dial or hang-up
            spoken = " ".join(streamed)
            rest = reply.text[len(spoken) :].strip() if reply.text.startswith(spoken) else reply.text
            handoff = {"reasonCode": "transfer" if reply.transfer_to else "end", "say": rest}
            frame: dict[str, Any] = {"type": "end", "handoffData": json.dumps(handoff)}
        else:
            frame = {"type": "text", "token": "", "last": True}  # the talk cycle is complete
        try:
            await send(frame)
        except Exception:
            log.info("relay closed before the reply was complete")


async def serve(sera: Sera, agent: Agent, websocket: WebSocket, merchant_id: str) -> None:
    """One ConversationRelay socket, from the signed upgrade to its close."""
    if not await anyio.to_thread.run_sync(verified_shop, sera, websocket, merchant_id):
        log.warning("relay upgrade refused: bad signature or unknown shop")
        await websocket.close(code=POLICY_VIOLATION)  # before accept: the upgrade is refused (403)
        return
    await websocket.accept()
    session = RelaySession(sera, agent, merchant_id, websocket.send_json)
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            raw = message.get("text")
            if raw is None:
                raw = (message.get("bytes") or b"").decode("utf-8", "replace")
            if not await session.handle(raw):
                await websocket.close(code=TOO_BIG if len(raw) > MAX_FRAME else POLICY_VIOLATION)
                return
    except WebSocketDisconnect:
        return
    finally:
        with anyio.CancelScope(shield=True):  # a turn under way completes: what the caller agreed to stands
            await session.settle()
