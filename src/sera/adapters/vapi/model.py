"""Sera's brain as a Vapi assistant's model (Vapi's "custom LLM"), for shops whose file says
``agent.vapi_mode: model``.

The assistant Sera hands Vapi then names ``provider: custom-llm`` with ``url`` =
``{SERA_PUBLIC_URL}/vapi`` and the shop's Vapi secret as its credential, so for every turn
Vapi posts ``/vapi/chat/completions`` with ``Authorization: Bearer <secret>`` and an OpenAI
chat-completions body (the whole history; ``stream: true``) plus ``call``, ``phoneNumber``
and ``customer``. Sera takes the last user message as the caller's line, answers through
the same agent as every other channel (offline or LLM brain; the conversation is keyed by
Vapi's call id, so the tool-calls, status and end-of-call messages of that call land on the
same record), and streams the reply back as ``chat.completion.chunk`` events, each sentence
as soon as it exists, then ``data: [DONE]``. A reply that transfers or hangs up ends with a
``tool_calls`` delta for Vapi's own ``transferCall`` (destination: the shop's handoff number)
or ``endCall``.

A request Vapi repeats (the same history) gets the same answer and changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sera.adapters.vapi.payloads import InvalidPayloadError
from sera.agent.ports import Reply
from sera.agent.service import Agent, ConversationNotFoundError, ConversationRef
from sera.customers.phones import try_normalize_phone

log = logging.getLogger("sera.vapi.model")
MODEL_PATH = "/vapi/chat/completions"
MAX_LINE = 2000
TURN_TIMEOUT_S = 30.0  # the agent never takes this long; a stuck turn still ends the stream
TROUBLE = "Sorry, I had a problem with that. Could you say it another way?"


@dataclass(frozen=True)
class ModelTurn:
    """One custom-LLM request: whose call, and what the caller just said (None: nothing yet)."""

    call_id: str
    caller: str | None
    shop_number: str | None
    line: str | None
    turn_id: str
    model: str
    opening: str | None = None  # a call Sera placed: what Vapi said first (the opening Sera gave it)


def parse_turn(body: dict[str, Any]) -> ModelTurn:
    call = body.get("call")
    call_id = call.get("id") if isinstance(call, dict) else None
    if not isinstance(call_id, str) or not 1 <= len(call_id) <= 64:
        raise InvalidPayloadError("the request has no call id")
    messages = body.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise InvalidPayloadError("messages must be a list of objects")
    said = [m.get("content") for m in messages if m.get("role") == "user"]
    line = said[-1] if said else None
    if line is not None and not isinstance(line, str):
        raise InvalidPayloadError("a user message's content must be text")
    customer = body.get("customer") or (call.get("customer") if isinstance(call, dict) else None) or {}
    number = customer.get("number") if isinstance(customer, dict) else None
    phone = body.get("phoneNumber") or {}
    shop_number = phone.get("number") if isinstance(phone, dict) else None
    # a repeated request carries the same history: the same turn, answered once
    turn_id = hashlib.sha256(f"{call_id}:{len(messages)}:{line}".encode()).hexdigest()[:32]
    model = body.get("model")
    placed = isinstance(call, dict) and call.get("type") == "outboundPhoneCall"
    first = next((m.get("content") for m in messages if m.get("role") == "assistant"), None)
    return ModelTurn(
        call_id=call_id,
        caller=try_normalize_phone(number) if isinstance(number, str) and len(number) <= 32 else None,
        shop_number=try_normalize_phone(shop_number)
        if isinstance(shop_number, str) and len(shop_number) <= 32
        else None,
        line=line.strip()[:MAX_LINE] if line else None,
        turn_id=turn_id,
        model=model if isinstance(model, str) and len(model) <= 100 else "sera",
        opening=first[:MAX_LINE] if placed and isinstance(first, str) and first.strip() else None,
    )


def _phone(value: Any) -> str | None:
    return try_normalize_phone(value) if isinstance(value, str) and len(value) <= 32 else None


def stream_reply(agent: Agent, merchant_id: str, turn: ModelTurn, *, provider: str, channel: str) -> Iterator[str]:
    """Server-sent events: the reply's sentences as the brain writes them, then its ending."""
    pieces: queue.Queue[str | Reply | None] = queue.Queue()
    ref = ConversationRef(merchant_id, channel, turn.call_id)

    def begin() -> Reply:
        """The call's first request: its conversation starts (a repeat finds it and its greeting)."""
        return agent.start(
            ref,
            caller_phone=turn.caller,
            shop_number=turn.shop_number,
            provider=provider,
            direction="outbound" if turn.opening else "inbound",
            provider_call_id=turn.call_id,
            greeting=turn.opening,
        )

    def work() -> None:
        try:
            if turn.line is None:
                pieces.put(begin())
                return
            try:
                reply = agent.reply(ref, turn.line, turn_id=turn.turn_id, say=pieces.put)
            except ConversationNotFoundError:
                begin()
                reply = agent.reply(ref, turn.line, turn_id=turn.turn_id, say=pieces.put)
            pieces.put(reply)
        except Exception:
            log.exception("vapi model turn failed")
            pieces.put(None)

    threading.Thread(target=work, name="vapi-model-turn", daemon=True).start()
    chunk = _Chunks(turn.model, int(agent.sera.clock().timestamp()))
    yield chunk.delta({"role": "assistant", "content": ""})
    streamed = False
    while True:
        try:
            piece = pieces.get(timeout=TURN_TIMEOUT_S)
        except queue.Empty:
            piece = None
        if isinstance(piece, str):
            streamed = True
            yield chunk.delta({"content": piece + " "})
            continue
        reply = piece if piece is not None else Reply(TROUBLE)
        if not streamed and reply.text:  # a repeated request, an ending, a greeting: said whole
            yield chunk.delta({"content": reply.text})
        yield from chunk.ending(reply)
        return


class _Chunks:
    def __init__(self, model: str, created: int) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = created
        self.model = model

    def delta(self, delta: dict[str, Any], finish: str | None = None) -> str:
        event = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(event)}\n\n"

    def ending(self, reply: Reply) -> Iterator[str]:
        """``transferCall`` or ``endCall`` for a reply that ends the call; then the stop."""
        call: tuple[str, dict[str, Any]] | None = None
        if reply.transfer_to:
            call = ("transferCall", {"destination": reply.transfer_to})
        elif reply.ended:
            call = ("endCall", {})
        if call is not None:
            name, arguments = call
            piece = {"index": 0, "id": f"call_{uuid.uuid4().hex[:24]}", "type": "function"}
            piece["function"] = {"name": name, "arguments": json.dumps(arguments)}
            yield self.delta({"tool_calls": [piece]})
        yield self.delta({}, "tool_calls" if call else "stop")
        yield "data: [DONE]\n\n"
