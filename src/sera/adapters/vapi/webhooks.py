"""Inbound Vapi server messages: verify, parse, hand to the events service, answer in Vapi's format.

``POST /vapi/webhook`` is the "Server URL" of a Vapi phone number or assistant;
``POST /vapi/chat/completions`` is the model of the assistants that use Sera as their model. Vapi proves
who it is with the shared secret, sent as ``X-Vapi-Secret`` (the assistant's ``server``
headers, or a Vapi credential with that header) or as a Bearer credential. The secret is
the merchant's own (``sera.merchants.providers``, provider "vapi") or else
``SERA_VAPI_SECRET``; with neither there is nothing to check against and every request is
refused. A refused request is a 401 and nothing is stored.

The merchant is the owner of the business number in the message (``message.phoneNumber``):
it is read before the secret is checked, because the secret depends on it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from sera.adapters.vapi.assistant import WEBHOOK_PATH
from sera.adapters.vapi.events import CHANNEL, PROVIDER, Answer, VapiEvents
from sera.adapters.vapi.model import MODEL_PATH, parse_turn, stream_reply
from sera.adapters.vapi.payloads import (
    HANDLED,
    InvalidPayloadError,
    parse_document,
    parse_envelope,
    parse_message,
    routing_number,
)
from sera.bootstrap import Sera
from sera.merchants.providers import own_secret
from sera.merchants.service import merchant_id_for_number
from sera.observability import AUTH_FAILURES, register_secret
from sera.web.bodies import read_capped

log = logging.getLogger("sera.vapi")
MAX_BODY_BYTES = 2 * 1024 * 1024  # a long call's end-of-call-report is a few hundred KB
UNKNOWN_NUMBER = "This phone number is not connected to a shop on this Sera server."

router = APIRouter(include_in_schema=False)


async def _raw_body(request: Request) -> bytes:
    """The body, refused before it is read when it is not JSON, or in full when too large."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/json":
        raise HTTPException(415, "send application/json")
    return await read_capped(request, MAX_BODY_BYTES)


async def _events(request: Request) -> VapiEvents:
    """One events service per app: it holds no state of its own, conversations live in the database.

    Async (it does no I/O) so that FastAPI does not spend a thread-pool hop on it.
    """
    events: VapiEvents | None = getattr(request.app.state, "vapi_events", None)
    if events is None:
        events = request.app.state.vapi_events = VapiEvents(request.app.state.sera)
    return events


RawBody = Annotated[bytes, Depends(_raw_body)]
EventsDep = Annotated[VapiEvents, Depends(_events)]


@router.post(WEBHOOK_PATH)
def vapi_webhook(request: Request, body: RawBody, events: EventsDep) -> JSONResponse:
    """Verify, parse, let the events service act, answer with the JSON Vapi expects."""
    raw, problem = _envelope(body)
    merchant_id = _merchant_for(events.sera, raw)
    secret = authenticate(events.sera, merchant_id, request.headers)
    if secret is None:
        return _reply(Answer({"error": "unauthorized"}, 401))
    if raw is None:
        return _reply(Answer({"error": problem}, 400))
    return _reply(_act(events, merchant_id, raw, secret))


@router.post(MODEL_PATH)
def vapi_model(request: Request, body: RawBody, events: EventsDep) -> Response:
    """Vapi's custom-LLM request for a shop whose assistant uses Sera as its model: the reply
    streamed in OpenAI's format (``sera.adapters.vapi.model``)."""
    try:
        document = parse_document(body)
    except InvalidPayloadError as exc:
        document, problem = None, str(exc)
    merchant_id = _merchant_for(events.sera, document)
    if authenticate(events.sera, merchant_id, request.headers) is None:
        return _reply(Answer({"error": "unauthorized"}, 401))
    if document is None:
        return _reply(Answer({"error": problem}, 400))
    if merchant_id is None:
        return _reply(_unknown_number("chat-completions"))
    try:
        turn = parse_turn(document)
    except InvalidPayloadError as exc:
        return _reply(Answer({"error": str(exc)}, 400))
    stream = stream_reply(events.agent, merchant_id, turn, provider=PROVIDER, channel=CHANNEL)
    return StreamingResponse(stream, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def _envelope(body: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        return parse_envelope(body), ""
    except InvalidPayloadError as exc:
        return None, str(exc)


def _merchant_for(sera: Sera, raw: dict[str, Any] | None) -> str | None:
    """The shop that owns the business number in the message, if any."""
    number = routing_number(raw) if raw is not None else None
    return merchant_id_for_number(sera, number) if number else None


def _act(events: VapiEvents, merchant_id: str | None, raw: dict[str, Any], secret: str) -> Answer:
    try:
        message = parse_message(raw)
        if message.type not in HANDLED:
            return Answer()  # informational messages Sera did not ask for: acknowledged
        if merchant_id is None:
            return _unknown_number(message.type)
        return events.handle(merchant_id, message, secret=secret)
    except InvalidPayloadError as exc:
        return Answer({"error": str(exc)}, 400)


def _reply(answer: Answer) -> JSONResponse:
    return JSONResponse(answer.body, status_code=answer.status)


def _unknown_number(kind: str) -> Answer:
    """An assistant-request gets Vapi's spoken refusal; anything else a plain 404."""
    log.warning("vapi message for an unknown number", extra={"type": kind})
    if kind == "assistant-request":
        return Answer({"error": UNKNOWN_NUMBER})
    return Answer({"error": UNKNOWN_NUMBER}, 404)


# -- authentication ------------------------------------------------------------------------------


def authenticate(sera: Sera, merchant_id: str | None, headers: Mapping[str, str]) -> str | None:
    """The secret the request proved it knows, or None (compared in constant time)."""
    expected = expected_secret(sera, merchant_id)
    presented = presented_secret(headers)
    reason = "unconfigured" if not expected else "missing" if not presented else None
    if reason is None and not hmac.compare_digest(str(presented).encode(), str(expected).encode()):
        reason = "mismatch"
    if reason is not None:
        AUTH_FAILURES.labels(f"vapi_{reason}").inc()
        log.warning("vapi webhook refused", extra={"reason": reason, "merchant": merchant_id})
        return None
    return expected


def expected_secret(sera: Sera, merchant_id: str | None) -> str | None:
    """The merchant's own Vapi secret, else Sera's ``SERA_VAPI_SECRET``, else None."""
    own = own_secret(sera, merchant_id, "vapi") if merchant_id is not None else None
    if own:
        return own
    configured = sera.settings.vapi_secret.get_secret_value() if sera.settings.vapi_secret else None
    register_secret(configured)
    return configured or None


def presented_secret(headers: Mapping[str, str]) -> str | None:
    """``X-Vapi-Secret``, or the token of ``Authorization: Bearer``."""
    secret = headers.get("x-vapi-secret")
    if secret:
        return str(secret)
    scheme, _, token = str(headers.get("authorization") or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None
