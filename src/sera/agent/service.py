"""The channel-neutral agent: start a conversation, take a caller line, get a reply.

Every turn is one unit of work: the conversation's state is loaded (and locked),
the brain answers using the tools, the transcript and state are sealed and saved,
and the call record is closed when the conversation ends. Nothing is kept in
process memory, so any web process can serve the next turn.

A conversation that goes quiet is over after its channel's idle timeout
(``Settings.idle_timeout``): ``sera.agent.idle`` closes it, and a caller who writes
again on a thread (SMS) or a page (/try) that keeps the same id starts a new one.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError

from sera.agent.context import Caller, TurnContext, load_shop
from sera.agent.language.intents import Intent, detect_intents
from sera.agent.ports import Action, ActionKind, Brain, Reply, Say
from sera.agent.tools import ToolRegistry
from sera.bootstrap import Sera
from sera.calls.service import (
    TranscriptLine,
    append_transcript,
    end_call,
    link_customer,
    read_transcript,
    save_transcript,
    start_call,
)
from sera.customers.service import find_customer
from sera.privacy.copies import holds_copies, note_copy
from sera.reports.questions import record_unanswered
from sera.storage.database import MERCHANT, UnitOfWork, prescoped
from sera.storage.models import Call, Conversation, Merchant, Transcript, new_id

OUTCOME_PRIORITY = (
    "booked",
    "rescheduled",
    "cancelled",
    "transferred",
    "message",
    "opted_out",
    "privacy_request",
    "ticket",
    "order_status",
    "knowledge",
)
log = logging.getLogger("sera.agent")
MAX_LINE = 2000  # characters of one caller line that reach the brain and the transcript
IDLE = "idle-timeout"  # a call's ended_reason when it ended because its conversation went quiet
OPENING_LINES = 3  # the caller's first lines, kept to tell the person a call is handed to what it is about
NOTE_WORDS, NOTE_MIN_WORDS = 20, 3
NOTE_TOPICS = {  # what a call is about, for the whisper to the person it is handed to
    Intent.BOOK: "a new booking",
    Intent.RESCHEDULE: "moving a booking",
    Intent.CANCEL: "cancelling a booking",
    Intent.ORDER_STATUS: "an order",
    Intent.SUPPORT: "a problem with an order",
    Intent.PRIVACY_ERASURE: "their personal data",
    Intent.PRIVACY_ACCESS: "their personal data",
    Intent.PRIVACY_CORRECTION: "their personal data",
    Intent.PRIVACY_OBJECTION: "their personal data",
    Intent.OPT_OUT: "not being contacted",
    Intent.QUESTION: "a question",
    Intent.HOURS: "opening hours",
}


_BY_REF = (
    Conversation.merchant_id == MERCHANT,
    Conversation.channel == bindparam("channel"),
    Conversation.external_id == bindparam("external_id"),
)
_FIND = prescoped(select(Conversation).where(*_BY_REF))
_FIND_LOCKED = prescoped(select(Conversation).where(*_BY_REF).with_for_update())
_CALL = prescoped(select(Call).where(Call.merchant_id == MERCHANT, Call.id == bindparam("id")))
# A turn's one query: the conversation (locked), its call and transcript, the shop's version.
_LOAD = prescoped(
    select(Conversation, Call, Transcript, Merchant.updated_at)
    .join(Call, (Call.id == Conversation.call_id) & (Call.merchant_id == MERCHANT))
    .outerjoin(Transcript, (Transcript.call_id == Call.id) & (Transcript.merchant_id == MERCHANT))
    .join(Merchant, Merchant.id == Conversation.merchant_id)
    .where(*_BY_REF)
    .with_for_update(of=Conversation)
)


class ConversationNotFoundError(LookupError):
    pass


@dataclass(frozen=True)
class ConversationRef:
    merchant_id: str
    channel: str  # voice | sms | web
    external_id: str  # the channel's conversation id; never personal data


def _stored_reply(state: dict[str, Any]) -> Reply:
    """The answer already given, for a retried delivery."""
    actions = tuple(
        Action(ActionKind(a["kind"]), a.get("number"), a.get("text")) for a in state.get("last_actions", [])
    )
    return Reply(state.get("last_reply", ""), actions)


def main_outcome(outcomes: list[str]) -> str:
    return next((o for o in OUTCOME_PRIORITY if o in outcomes), "abandoned")


def conversation_state(uow: UnitOfWork, conversation: Conversation) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(uow.vault.open(conversation, "state") or "{}")
    return state


def close_conversation(
    uow: UnitOfWork, conversation: Conversation, call: Call | None, *, ended_at: datetime, reason: str | None = None
) -> None:
    """End the conversation and, once, its call record, with the most important outcome its
    tools achieved (``abandoned`` when none)."""
    if call is not None and call.ended_at is None:
        outcome = main_outcome(conversation_state(uow, conversation).get("outcomes", []))
        end_call(uow, call, ended_at=ended_at, outcome=outcome, reason=reason)
    conversation.status = "ended"


def is_over(conversation: Conversation, now: datetime, idle_after: timedelta) -> bool:
    """Ended, or quiet for ``idle_after``: the caller's next line begins a new conversation."""
    return conversation.status != "active" or now - conversation.updated_at >= idle_after


def _keep(uow: UnitOfWork, conversation: Conversation, ctx: TurnContext, call: Call) -> None:
    """Seal the conversation's state; a caller who became known moves the call under their key."""
    ctx.state["caller_name"] = ctx.caller.name
    if ctx.caller.customer_id and call.customer_id != ctx.caller.customer_id:
        link_customer(uow, call, ctx.caller.customer_id)
    conversation.customer_id = ctx.caller.customer_id
    conversation.updated_at = ctx.now
    uow.vault.seal(conversation, state=json.dumps(ctx.state))


@dataclass(frozen=True)
class CallOpening:
    """How a new conversation's call record begins."""

    caller_phone: str | None
    shop_number: str | None = None
    provider: str = "local"
    direction: str = "inbound"
    provider_call_id: str | None = None
    greeting: str | None = None  # a call Sera placed opens with why it calls, not the shop's greeting


@dataclass
class _Stored:
    """A conversation as one query loads it: its row, its call, the call's transcript (if any
    yet), and the version of the shop's settings."""

    conversation: Conversation
    call: Call
    transcript: Transcript | None
    shop_version: datetime | None = None  # None: load_shop reads it


class Agent:
    def __init__(self, sera: Sera, brain: Brain | None = None) -> None:
        from sera.agent.llm.brain import ShopBrain
        from sera.agent.offline.brain import OfflineBrain

        self.sera = sera
        models = sera.chat_models or (lambda ctx: None)
        self.brain: Brain = brain or ShopBrain(models, OfflineBrain(), max_tool_calls=sera.settings.llm_max_tool_calls)

    def start(
        self,
        ref: ConversationRef,
        *,
        caller_phone: str | None,
        shop_number: str | None = None,
        provider: str = "local",
        direction: str = "inbound",
        provider_call_id: str | None = None,
        greeting: str | None = None,
    ) -> Reply:
        """Open a conversation (or, for a retried delivery, answer as the first time) and greet
        (with ``greeting`` instead of the shop's, for a call Sera placed)."""
        opening = CallOpening(caller_phone, shop_number, provider, direction, provider_call_id, greeting)
        now = self.sera.clock()
        with self.sera.uow(ref.merchant_id) as uow:
            existing = self._find(uow, ref)
            if existing is not None:
                return _stored_reply(self._state(uow, existing))
            _, reply = self._begin(uow, ref, opening, now)
            uow.commit()
        return reply

    def open(
        self,
        ref: ConversationRef,
        *,
        caller_phone: str | None,
        shop_number: str | None,
        provider: str,
        idle_after: timedelta,
    ) -> Reply | None:
        """For message threads: start a conversation unless one is active and recent.

        Returns the greeting when a new conversation began, else None. A thread idle
        longer than ``idle_after`` is closed (its call record ends) and begins afresh.
        """
        now = self.sera.clock()
        call_id = f"{ref.external_id}:{secrets.token_hex(4)}"  # a thread may restart within a second
        opening = CallOpening(caller_phone, shop_number, provider, "inbound", call_id)
        with self.sera.uow(ref.merchant_id) as uow:
            existing = self._find(uow, ref, lock=True)
            if existing is not None and not is_over(existing, now, idle_after):
                return None
            if existing is not None:
                self._retire(uow, existing)
            _, reply = self._begin(uow, ref, opening, now)
            uow.commit()
        return reply

    def _begin(
        self, uow: UnitOfWork, ref: ConversationRef, opening: CallOpening, now: datetime
    ) -> tuple[_Stored, Reply]:
        call, ctx = self._open(uow, ref, opening, now)
        reply = Reply(opening.greeting) if opening.greeting else self.brain.greet(ctx)
        stored = _Stored(self._add_conversation(uow, ref, call, now), call, None)
        self._save(uow, stored, ctx, [TranscriptLine("agent", reply.text)], reply)
        return stored, reply

    def _retire(self, uow: UnitOfWork, conversation: Conversation) -> None:
        """Make way for a new conversation under the same id: this one ends (a quiet one at its
        last activity) and its state goes; its call record and transcript stay."""
        if conversation.status == "active":
            self._close(uow, conversation, conversation.updated_at, reason=IDLE)
        uow.session.delete(conversation)
        uow.session.flush()

    def _renew(self, uow: UnitOfWork, ref: ConversationRef, old: _Stored, now: datetime) -> _Stored:
        """A new conversation under ``old``'s id, for the same caller on the same line, greeted."""
        numbers = uow.vault.open_many(old.call, "from_number", "to_number")
        ours, theirs = (
            ("from_number", "to_number") if old.call.direction == "outbound" else ("to_number", "from_number")
        )
        opening = CallOpening(
            caller_phone=numbers[theirs],
            shop_number=numbers[ours],
            provider=old.call.provider,
            direction=old.call.direction,
            provider_call_id=f"{ref.external_id}:{secrets.token_hex(4)}",  # the old call keeps its own
        )
        self._retire(uow, old.conversation)
        stored, _ = self._begin(uow, ref, opening, now)
        return stored

    @staticmethod
    def _open(uow: UnitOfWork, ref: ConversationRef, opening: CallOpening, now: datetime) -> tuple[Call, TurnContext]:
        """The call record and a first turn context (the caller recognised by their number)."""
        phone = opening.caller_phone
        customer = find_customer(uow, phone=phone) if phone else None
        caller = Caller(phone, customer.id if customer else None)
        if customer is not None:
            caller.name = uow.vault.open(customer, "name")
        call = start_call(
            uow,
            channel=ref.channel,
            direction=opening.direction,
            provider=opening.provider,
            from_number=opening.shop_number if opening.direction == "outbound" else phone,
            to_number=phone if opening.direction == "outbound" else opening.shop_number,
            started_at=now,
            customer_id=caller.customer_id,
            provider_call_id=opening.provider_call_id or ref.external_id,
        )
        if ref.channel == "voice" and call.provider_call_id and holds_copies(call.provider, "call"):
            note_copy(
                uow,
                provider=call.provider,
                kind="call",
                provider_id=call.provider_call_id,
                customer_id=caller.customer_id,
                record_id=call.id,
            )
        ctx = TurnContext(uow, load_shop(uow), caller, ref.channel, now, {"caller_phone": phone}, call.id)
        return call, ctx

    @staticmethod
    def _add_conversation(uow: UnitOfWork, ref: ConversationRef, call: Call, now: datetime) -> Conversation:
        conversation = Conversation(
            id=new_id("cnv"),
            merchant_id=ref.merchant_id,
            channel=ref.channel,
            external_id=ref.external_id,
            call_id=call.id,
            created_at=now,
        )
        uow.session.add(conversation)
        return conversation

    def reply(
        self,
        ref: ConversationRef,
        text: str,
        *,
        turn_id: str | None = None,
        renew_after: timedelta | None = None,
        say: Say | None = None,
    ) -> Reply:
        """The agent's answer to one caller line.

        ``turn_id`` is the channel's id for this delivery: a retried delivery with the
        same id gets the same answer and is not a second turn. ``renew_after``, for a
        channel whose caller keeps the conversation's id (the /try page): when the
        conversation is over (ended, or quiet this long), the line begins a new one under
        the same id, for the same caller; the old call record keeps its end. ``say``, for a
        channel that speaks while the reply is written (a real-time voice stream), receives
        each sentence as soon as the brain has it.
        """
        now = self.sera.clock()
        line = (text or "")[:MAX_LINE]
        with self.sera.uow(ref.merchant_id) as uow:
            stored = self._load(uow, ref)
            if stored is None:
                raise ConversationNotFoundError(ref.external_id)
            if renew_after is not None and is_over(stored.conversation, now, renew_after):
                stored = self._renew(uow, ref, stored, now)
            ctx = self._resume(uow, ref, stored, now)
            state = ctx.state
            if stored.conversation.status == "ended" or (turn_id is not None and state.get("last_turn_id") == turn_id):
                return _stored_reply(state)
            state["last_turn_id"] = turn_id
            opening = state.setdefault("opening_lines", [])
            if len(opening) < OPENING_LINES and line.strip():
                opening.append(line.strip()[:200])  # what the call is about, for a transfer's whisper
            try:
                reply = self.brain.respond(ctx, line, say)
            except Exception:
                # a defect must not cost the caller the call: nothing of this turn is kept
                log.exception("brain failed", extra={"conversation": stored.conversation.id})
                return Reply("Sorry, I had a problem with that. Could you say it another way?")
            self._save(uow, stored, ctx, [TranscriptLine("caller", line), TranscriptLine("agent", reply.text)], reply)
            if reply.unanswered and ctx.shop.agent.get("record_calls", True):  # kept as long as transcripts
                record_unanswered(
                    uow,
                    question=reply.unanswered,
                    channel=ref.channel,
                    asked_at=now,
                    call_id=stored.call.id,
                    customer_id=ctx.caller.customer_id,
                )
            uow.commit()
        return reply

    def prepare(self, merchant_id: str) -> None:
        """Build what the shop's first turn needs (its profile, its knowledge index), for a
        channel that has a moment before the caller speaks (a greeting being played)."""
        from sera.agent.understanding.embedding import embedder
        from sera.knowledge.service import shop_index

        try:
            with self.sera.uow(merchant_id, readonly=True) as uow:
                load_shop(uow)
                shop_index(uow, embedder())
        except Exception:  # only a head start: the turn builds what it needs anyway
            log.warning("preparing the shop failed", exc_info=True, extra={"merchant_id": merchant_id})

    def last_reply(self, ref: ConversationRef) -> Reply | None:
        """What the agent said last in this conversation (with its actions); None if unknown."""
        with self.sera.uow(ref.merchant_id, readonly=True) as uow:
            conversation = self._find(uow, ref)
            return _stored_reply(self._state(uow, conversation)) if conversation is not None else None

    def message_after_transfer(self, ref: ConversationRef, words: str, *, turn_id: str | None = None) -> Reply:
        """Nobody answered the transfer: the caller's message for the team, taken as the agent
        takes one (who called, the number to call back, what about), and the call's outcome is
        ``message``, not ``transferred``. A retried delivery gets the same answer, one message."""
        now = self.sera.clock()
        with self.sera.uow(ref.merchant_id) as uow:
            stored = self._load(uow, ref)
            if stored is None:
                raise ConversationNotFoundError(ref.external_id)
            ctx = self._resume(uow, ref, stored, now)
            if turn_id is not None and ctx.state.get("last_turn_id") == turn_id:
                return _stored_reply(ctx.state)
            ctx.state["last_turn_id"] = turn_id
            outcomes = ctx.state.setdefault("outcomes", [])
            outcomes[:] = [o for o in outcomes if o != "transferred"]  # it did not happen
            line = (words or "").strip()[:MAX_LINE]
            args = {"message": line or "(the caller left no words)", "callback_number": ctx.caller.phone or "not given"}
            result = ToolRegistry(ctx.shop.workflows).run(ctx, "take_message", args)
            reply = Reply(f"{result.text} Goodbye!", (Action(ActionKind.HANG_UP),))
            lines = [TranscriptLine("caller", line), TranscriptLine("agent", reply.text)] if line else []
            if stored.call.ended_at is not None:  # ended at the transfer (or reported over): its times stand
                stored.call.outcome = main_outcome(outcomes)
            self._save(uow, stored, ctx, lines or [TranscriptLine("agent", reply.text)], reply)
            uow.commit()
        return reply

    def handoff_note(self, ref: ConversationRef) -> str:
        """One sentence for the person a conversation is handed to: the caller's first name (when
        known) and what they called about, in their own words (their most telling opening line)."""
        with self.sera.uow(ref.merchant_id, readonly=True) as uow:
            conversation = self._find(uow, ref)
            state = self._state(uow, conversation) if conversation is not None else {}
        name = str(state.get("caller_name") or "").split()
        said = [line for line in state.get("opening_lines", []) if len(line.split()) >= NOTE_MIN_WORDS]
        about = max(said, key=len, default="")
        words = about.split()
        about = " ".join(words[:NOTE_WORDS]) + ("..." if len(words) > NOTE_WORDS else "")
        topic = next(
            (NOTE_TOPICS[s.intent] for line in said for s in detect_intents(line) if s.intent in NOTE_TOPICS), None
        )
        who = f"Call from {name[0]}" if name else "Call from a customer"
        if topic:
            who += f" about {topic}"
        return f"{who}{f', who said: {about}' if about else ''}. Connecting you now."

    def interrupted(self, ref: ConversationRef, heard: str) -> None:
        """The caller talked over the agent: the transcript and the dialogue state keep only what
        they heard of its last reply (a real-time voice channel reports how far it got)."""
        with self.sera.uow(ref.merchant_id) as uow:
            stored = self._load(uow, ref)
            if stored is None:
                return
            state = self._state(uow, stored.conversation)
            said = str(state.get("last_reply") or "")
            heard = heard.strip()[: len(said)]
            if not said or heard == said:
                return
            state["last_reply"], state["cut_short"] = heard, True  # what every brain reads as its last words
            uow.vault.seal(stored.conversation, state=json.dumps(state))
            if stored.transcript is not None:
                lines = read_transcript(uow, stored.transcript)
                last = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].role == "agent"), None)
                if last is not None:
                    lines[last] = TranscriptLine("agent", heard)
                    save_transcript(uow, stored.call, lines, row=stored.transcript)
            uow.commit()

    def hang_up(
        self, ref: ConversationRef, *, ended_at: datetime | None = None, duration_s: int | None = None
    ) -> str | None:
        """The caller left (or the channel reported the end): close the call record.

        ``duration_s`` is the provider's own figure when it has one. Returns the call id.
        """
        with self.sera.uow(ref.merchant_id) as uow:
            call = self.end(uow, ref, ended_at=ended_at or self.sera.clock(), duration_s=duration_s)
            uow.commit()
        return call.id if call is not None else None

    def end(self, uow: UnitOfWork, ref: ConversationRef, *, ended_at: datetime, duration_s: int | None) -> Call | None:
        """``hang_up`` inside the caller's unit of work (which commits it): the call, or None if unknown."""
        conversation = self._find(uow, ref, lock=True)
        if conversation is None:
            return None
        call = self._close(uow, conversation, ended_at)
        if call is not None and duration_s is not None:
            call.duration_s = duration_s
        return call

    @staticmethod
    def _close(
        uow: UnitOfWork, conversation: Conversation, ended_at: datetime, *, reason: str | None = None
    ) -> Call | None:
        call = uow.run(_CALL, id=conversation.call_id).scalar_one_or_none()
        close_conversation(uow, conversation, call, ended_at=ended_at, reason=reason)
        return call

    def _resume(self, uow: UnitOfWork, ref: ConversationRef, stored: _Stored, now: datetime) -> TurnContext:
        """A turn context with the stored conversation's remembered state."""
        state = self._state(uow, stored.conversation)
        caller = Caller(state.get("caller_phone"), stored.conversation.customer_id, state.get("caller_name"))
        shop = load_shop(uow, stored.shop_version)
        return TurnContext(uow, shop, caller, ref.channel, now, state, stored.call.id)

    # -- persistence -----------------------------------------------------------------------------

    @staticmethod
    def _find(uow: UnitOfWork, ref: ConversationRef, *, lock: bool = False) -> Conversation | None:
        statement = _FIND_LOCKED if lock else _FIND
        return uow.run(statement, channel=ref.channel, external_id=ref.external_id).scalar_one_or_none()

    @staticmethod
    def _load(uow: UnitOfWork, ref: ConversationRef) -> _Stored | None:
        """The conversation (locked), its call and transcript, and the shop's version, in one
        query; None when the conversation or its call is gone."""
        row = uow.run(_LOAD, channel=ref.channel, external_id=ref.external_id).one_or_none()
        return _Stored(*row) if row is not None else None

    @staticmethod
    def _state(uow: UnitOfWork, conversation: Conversation) -> dict[str, Any]:
        return conversation_state(uow, conversation)

    def _save(
        self, uow: UnitOfWork, stored: _Stored, ctx: TurnContext, lines: list[TranscriptLine], reply: Reply
    ) -> None:
        state = ctx.state
        state["last_reply"] = reply.text
        state["last_actions"] = [{"kind": a.kind.value, "number": a.number, "text": a.text} for a in reply.actions]
        _keep(uow, stored.conversation, ctx, stored.call)
        if ctx.shop.agent.get("record_calls", True):
            stored.transcript = append_transcript(uow, stored.call, stored.transcript, lines)
        if reply.ended:
            if stored.call.ended_at is None:
                end_call(uow, stored.call, ended_at=ctx.now, outcome=main_outcome(state.get("outcomes", [])))
            stored.conversation.status = "ended"

    # -- sessions: a channel whose own model runs the dialogue and calls Sera's tools -----------

    @contextmanager
    def session(
        self,
        ref: ConversationRef,
        *,
        caller_phone: str | None,
        shop_number: str | None,
        provider: str,
        direction: str = "inbound",
        provider_call_id: str | None = None,
    ) -> Iterator[ConversationSession]:
        """One unit of work on a conversation (created on first use, without a greeting).

        For channels like Vapi, where the provider's model talks and Sera only runs tools
        and keeps the record: the conversation row is locked for the session, and nothing
        is kept unless ``ConversationSession.commit()`` is called.
        """
        opening = CallOpening(caller_phone, shop_number, provider, direction, provider_call_id)
        now = self.sera.clock()
        with self.sera.uow(ref.merchant_id) as uow:
            stored = self._load(uow, ref) or self._create_quietly(uow, ref, opening, now)
            ctx = self._resume(uow, ref, stored, now)
            yield ConversationSession(uow, ctx, stored.call, stored.conversation)

    def _create_quietly(self, uow: UnitOfWork, ref: ConversationRef, opening: CallOpening, now: datetime) -> _Stored:
        """A new conversation; or, when a concurrent request created it first, theirs (locked)."""
        try:
            with uow.session.begin_nested():
                call, ctx = self._open(uow, ref, opening, now)
                conversation = self._add_conversation(uow, ref, call, now)
                _keep(uow, conversation, ctx, call)
                uow.session.flush()
        except IntegrityError:
            theirs = self._load(uow, ref)
            if theirs is None:
                raise
            return theirs
        return _Stored(conversation, call, None)


@dataclass
class ConversationSession:
    """A conversation's unit of work: its turn context (state, caller, shop) and call record."""

    uow: UnitOfWork
    ctx: TurnContext
    call: Call
    conversation: Conversation

    @property
    def ended(self) -> bool:
        return self.conversation.status == "ended"

    @property
    def outcome(self) -> str:
        """The call's outcome so far: the most important one its tools achieved."""
        return main_outcome(self.ctx.state.get("outcomes", []))

    def achieved(self, outcome: str) -> None:
        """Something the channel did itself (a provider-side transfer) counts toward the outcome."""
        self.ctx.state.setdefault("outcomes", []).append(outcome)

    def close(self, ended_at: datetime) -> None:
        """The call is over: end its record (once) with the outcome, and the conversation."""
        if self.call.ended_at is None:
            end_call(self.uow, self.call, ended_at=ended_at, outcome=self.outcome)
        self.conversation.status = "ended"

    def commit(self) -> None:
        _keep(self.uow, self.conversation, self.ctx, self.call)
        self.uow.commit()
