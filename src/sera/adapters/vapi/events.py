"""What Sera does with each Vapi server message, in Sera's terms.

Vapi's model runs the conversation; Sera answers with the shop's assistant, runs the tools
and keeps the call record. Each message that changes anything is one unit of work that
also holds its webhook receipt, so a delivery Vapi repeats finds the receipt and does
nothing twice, and a failure half-way leaves nothing behind. Tool results are kept per
``toolCallId`` in the conversation's (sealed) state: a retried tool call gets the answer
it got the first time and never books twice.

Conversations are keyed (merchant, "voice", Vapi call id): an id, never personal data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sera.adapters.receipts import first_delivery
from sera.adapters.vapi.assistant import CallContext, build_assistant
from sera.adapters.vapi.payloads import (
    AssistantRequest,
    EndOfCallReport,
    ServerMessage,
    StatusUpdate,
    ToolCall,
    ToolCallsMessage,
    TranscriptMessage,
    TransferDestinationRequest,
)
from sera.agent.context import Caller, load_shop
from sera.agent.phrasing import say_when
from sera.agent.service import Agent, ConversationRef, ConversationSession
from sera.agent.tools import ToolError, ToolRegistry, next_opening
from sera.billing.usage import billed_minutes, record_usage
from sera.bootstrap import Sera
from sera.calls.service import TranscriptLine, record_call_report, save_transcript
from sera.customers.service import find_customer
from sera.knowledge.service import shop_policies
from sera.outbound.calls import call_result
from sera.storage.database import UnitOfWork

log = logging.getLogger("sera.vapi")
PROVIDER = "vapi"
CHANNEL = "voice"
SPEAKERS = {"bot": "agent", "assistant": "agent", "user": "caller"}
MAX_TRANSCRIPT_LINES = 2000
MAX_LINE_CHARS = 5000
KEPT_TOOL_RESULTS = 100  # per call, in the conversation state: enough for any retry Vapi makes
TOOL_FAILED = "Sorry, that didn't work. Offer to take a message instead."


@dataclass(frozen=True)
class Answer:
    """The JSON Vapi gets back, and its HTTP status."""

    body: dict[str, Any] = field(default_factory=dict)
    status: int = 200


class VapiEvents:
    """One handler per server message type Sera asks Vapi for; others are acknowledged."""

    def __init__(self, sera: Sera) -> None:
        self.sera = sera
        self.agent = Agent(sera)

    def handle(self, merchant_id: str, message: ServerMessage, *, secret: str) -> Answer:
        log.info("vapi message", extra={"type": message.type, "merchant": merchant_id, "call": _call_id(message)})
        if isinstance(message, AssistantRequest):
            return Answer(self.assistant(merchant_id, message, secret))
        if isinstance(message, ToolCallsMessage):
            return Answer(self.tool_calls(merchant_id, message))
        if isinstance(message, EndOfCallReport):
            return Answer(self.end_of_call(merchant_id, message))
        if isinstance(message, StatusUpdate):
            return Answer(self.status_update(merchant_id, message))
        if isinstance(message, TransferDestinationRequest):
            return Answer(self.transfer_destination(merchant_id, message))
        return Answer()

    # -- assistant-request -------------------------------------------------------------------

    def assistant(self, merchant_id: str, message: AssistantRequest, secret: str) -> dict[str, Any]:
        """The shop's assistant for this call. Read-only and answered in milliseconds (Vapi allows 7.5 s)."""
        with self.sera.uow(merchant_id, readonly=True) as uow:
            shop = load_shop(uow)
            context = CallContext(
                shop=shop,
                policies=shop_policies(uow),
                caller_first_name=_first_name(uow, message.caller_number),
                now=self.sera.clock(),
            )
        return {"assistant": build_assistant(context, self.sera.settings, secret)}

    # -- tool-calls --------------------------------------------------------------------------

    def tool_calls(self, merchant_id: str, message: ToolCallsMessage) -> dict[str, Any]:
        """Run each tool call once, through the same registry every brain uses."""
        requested = message.tool_calls
        if not requested:
            return {"results": []}
        with self._session(merchant_id, message) as session:
            # its model confirms, and says nothing of what it could not answer: Sera keeps those
            registry = ToolRegistry(session.ctx.shop.workflows, confirmations=False, records_unanswered=True)
            results = [self._answer(session, registry, message, call) for call in requested]
            session.commit()
        return {"results": results}

    def _answer(
        self, session: ConversationSession, registry: ToolRegistry, message: ToolCallsMessage, call: ToolCall
    ) -> dict[str, Any]:
        answered: dict[str, dict[str, Any]] = session.ctx.state.setdefault("tool_results", {})
        if call.id in answered:
            return answered[call.id]  # a retried delivery: the first answer, nothing run again
        if session.ended:
            return _failure(call, "The call has already ended.")
        event_id = f"{message.require_call().id}:tool-calls:{call.id}"
        if not first_delivery(session.uow, provider=PROVIDER, event_id=event_id, topic=message.type):
            return _failure(call, "This tool call was already handled.")
        answered[call.id] = result = _run_tool(session, registry, call)
        for stale in list(answered)[:-KEPT_TOOL_RESULTS]:
            del answered[stale]  # Vapi retries within seconds; the receipt still refuses a very late one
        return result

    # -- end-of-call-report ------------------------------------------------------------------

    def end_of_call(self, merchant_id: str, report: EndOfCallReport) -> dict[str, Any]:
        """The call record, complete: times, transcript, recording, summary, cost, outcome, usage."""
        with self._session(merchant_id, report) as session:
            event_id = f"{report.require_call().id}:{report.type}"
            if not first_delivery(session.uow, provider=PROVIDER, event_id=event_id, topic=report.type):
                return {}
            facts = CallFacts.of(report, fallback_start=session.call.started_at, now=self.sera.clock())
            recorded = bool(session.ctx.shop.agent.get("record_calls", True))
            record_call_report(
                session.uow,
                session.call,
                started_at=facts.started_at,
                ended_at=facts.ended_at,
                duration_s=facts.duration_s,
                outcome=session.outcome,
                ended_reason=facts.ended_reason,
                cost_cents=facts.cost_cents,
                recording_url=facts.recording_url if recorded else None,
                summary=facts.summary if recorded else None,
            )
            if recorded and facts.transcript:
                save_transcript(session.uow, session.call, facts.transcript)
            session.close(facts.ended_at)
            call = report.require_call()
            if report.direction == "outbound" and call.name:  # a call Sera placed: its result
                result = call_result(session.uow, call.name, placed_call_result(facts.ended_reason))
                if result == "voicemail":
                    session.call.outcome = "voicemail"
            _record_usage(session, report.direction, facts)
            session.commit()
        return {}

    # -- status-update -----------------------------------------------------------------------

    def status_update(self, merchant_id: str, update: StatusUpdate) -> dict[str, Any]:
        """in-progress opens the call record, forwarding counts as a transfer, ended closes it."""
        if update.status not in ("in-progress", "forwarding", "ended"):
            return {}  # scheduled, queued, ringing: nothing to keep yet
        call = update.require_call()
        with self._session(merchant_id, update) as session:
            event_id = f"{call.id}:{update.type}:{update.status}"
            if not first_delivery(session.uow, provider=PROVIDER, event_id=event_id, topic=update.type):
                return {}
            if update.status == "forwarding" and not session.ended:
                session.achieved("transferred")
            elif update.status == "ended":
                session.close(call.ended_at or update.sent_at or self.sera.clock())
            session.commit()
        return {}

    # -- transfer-destination-request --------------------------------------------------------

    def transfer_destination(self, merchant_id: str, request: TransferDestinationRequest) -> dict[str, Any]:
        """The handoff number while the shop is open; otherwise say it is closed and when it opens."""
        call = request.require_call()
        with self._session(merchant_id, request) as session:
            ctx = session.ctx
            if session.ended:
                return {"error": "The call has already ended."}
            if not ctx.shop.handoff_number or not ctx.shop.is_open(ctx.now):
                return {"error": _closed_message(session)}
            event_id = f"{call.id}:{request.type}"
            if first_delivery(session.uow, provider=PROVIDER, event_id=event_id, topic=request.type):
                session.achieved("transferred")
                session.commit()
            return {
                "destination": {
                    "type": "number",
                    "number": ctx.shop.handoff_number,
                    "message": "Connecting you to the team now.",
                }
            }

    # -- helpers -----------------------------------------------------------------------------

    @contextmanager
    def _session(self, merchant_id: str, message: ServerMessage) -> Iterator[ConversationSession]:
        """The conversation for this Vapi call, created on first use with the caller's number."""
        call = message.require_call()
        with self.agent.session(
            ConversationRef(merchant_id, CHANNEL, call.id),
            caller_phone=message.caller_number,
            shop_number=message.shop_number,
            provider=PROVIDER,
            direction=message.direction,
            provider_call_id=call.id,
        ) as session:
            yield session


def _call_id(message: ServerMessage) -> str | None:
    return message.call.id if message.call is not None else None


def _first_name(uow: UnitOfWork, caller_number: str | None) -> str | None:
    """A recognised caller's first name; the only thing about them the assistant is given."""
    customer = find_customer(uow, phone=caller_number) if caller_number else None
    if customer is None:
        return None
    return Caller(caller_number, customer.id, uow.vault.open(customer, "name")).first_name


def _run_tool(session: ConversationSession, registry: ToolRegistry, call: ToolCall) -> dict[str, Any]:
    """One tool in its own savepoint: a tool that fails leaves nothing behind, the others still run."""
    try:
        arguments = call.arguments()
    except ValueError as exc:
        return _failure(call, str(exc))
    caller = session.ctx.caller
    before = (caller.customer_id, caller.name)
    try:
        with session.uow.session.begin_nested():
            result = registry.run(session.ctx, call.tool_name, arguments)
    except ToolError as exc:
        caller.customer_id, caller.name = before
        return _failure(call, str(exc))
    except Exception:
        caller.customer_id, caller.name = before
        log.exception("vapi tool failed", extra={"tool": call.tool_name})
        return _failure(call, TOOL_FAILED)
    return {"toolCallId": call.id, "name": call.tool_name, "result": result.text}


def _failure(call: ToolCall, error: str) -> dict[str, Any]:
    """Vapi's failed tool result: the model hears the error and carries on."""
    return {"toolCallId": call.id, "name": call.tool_name, "error": error}


def _closed_message(session: ConversationSession) -> str:
    ctx = session.ctx
    opening = next_opening(ctx)
    when = f" It opens again {say_when(opening, ctx.local_now.date())}." if opening else ""
    return (
        f"No one from {ctx.shop.name} can take the call right now: the shop is closed.{when} "
        "Offer to take a message with transfer_call instead."
    )


def _record_usage(session: ConversationSession, direction: str, facts: CallFacts) -> None:
    """One call and its billed minutes, on the shop's local day the call started."""
    day = facts.started_at.astimezone(session.ctx.shop.zone).date()
    record_usage(session.uow, day, f"{direction}_calls", 1)
    record_usage(session.uow, day, "billed_minutes", billed_minutes(facts.duration_s))


@dataclass(frozen=True)
class CallFacts:
    """An end-of-call report in Sera's terms (times in UTC, cost in cents, transcript lines)."""

    started_at: datetime
    ended_at: datetime
    duration_s: int
    ended_reason: str | None
    cost_cents: int | None
    recording_url: str | None
    summary: str | None
    transcript: list[TranscriptLine]

    @classmethod
    def of(cls, report: EndOfCallReport, *, fallback_start: datetime, now: datetime) -> CallFacts:
        call = report.require_call()
        started = report.started_at or call.started_at or fallback_start
        ended = max(report.ended_at or call.ended_at or report.sent_at or now, started)
        measured = report.duration_seconds
        duration = round(measured) if measured is not None else round((ended - started).total_seconds())
        artifact = report.artifact
        recording = artifact.recording if artifact is not None else None
        mono = recording.mono if recording is not None else None
        return cls(
            started_at=started,
            ended_at=ended,
            duration_s=duration,
            ended_reason=_printable(report.ended_reason),
            cost_cents=_cents(report.cost),
            recording_url=(artifact.recording_url if artifact else None)
            or (mono.combined_url if mono else None)
            or (recording.stereo_url if recording else None)
            or report.recording_url,
            summary=(report.analysis.summary if report.analysis else None) or report.summary,
            transcript=_transcript(report),
        )


def _cents(usd: float | None) -> int | None:
    if usd is None:
        return None
    return int((Decimal(str(usd)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _printable(text: str | None) -> str | None:
    if not text:
        return None
    return "".join(c for c in text if c.isprintable())[:60] or None


def _transcript(report: EndOfCallReport) -> list[TranscriptLine]:
    """Who said what: Vapi's message list, or its plain transcript ("AI: ... / User: ...")."""
    messages: list[TranscriptMessage] = (report.artifact.messages if report.artifact else []) or report.messages
    lines = [
        TranscriptLine(SPEAKERS[m.role], m.message[:MAX_LINE_CHARS])
        for m in messages
        if m.role in SPEAKERS and m.message and m.message.strip()
    ]
    if not lines:
        text = (report.artifact.transcript if report.artifact else None) or report.transcript or ""
        lines = [line for line in map(_plain_line, text.splitlines()) if line is not None]
    return lines[:MAX_TRANSCRIPT_LINES]


def _plain_line(text: str) -> TranscriptLine | None:
    speaker, _, said = text.partition(":")
    role = {"ai": "agent", "assistant": "agent", "bot": "agent", "user": "caller"}.get(speaker.strip().lower())
    return TranscriptLine(role, said.strip()[:MAX_LINE_CHARS]) if role and said.strip() else None


def placed_call_result(ended_reason: str | None) -> str:
    """A call Sera placed, by Vapi's ``endedReason``: what became of it."""
    reason = ended_reason or ""
    if reason == "voicemail":
        return "voicemail"
    if reason == "customer-did-not-answer":
        return "no-answer"
    if reason == "customer-busy":
        return "busy"
    if "failed" in reason or "error" in reason:
        return "call-failed"
    return "answered"
