"""The demo shop's first conversations, so a newcomer's dashboard shows what the agent does.

``make demo`` runs these once, on a shop that has had no conversation yet: real conversations
through the agent (the embedded brain), as callers and texters of the demo shop's own customers
would have them. They book, ask, check an order, complain and leave a message, so the calls,
transcripts, appointments, tickets and customers of the dashboard all have something in them.
Nothing here is written around the agent: what it answers is what it would answer anyone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import func, select

from sera.agent.service import Agent, ConversationRef
from sera.bootstrap import Sera
from sera.storage.models import Call


@dataclass(frozen=True)
class DemoConversation:
    channel: str  # voice | sms | web
    caller: str | None  # the demo shop's customers (its orders carry their numbers)
    lines: tuple[str, ...]


CONVERSATIONS = (
    DemoConversation("voice", "+13125550143", ("I'd like to book a tune-up", "Tuesday at 10am", "yes")),
    DemoConversation("sms", "+13125550142", ("what's the status of my order",)),
    DemoConversation("web", None, ("What are your opening hours?",)),
    DemoConversation(
        "sms", "+13125550144", ("I want to complain, my bike came back with the brakes still squeaking", "yes")
    ),
    DemoConversation(
        "voice",
        "+13125550146",
        ("I'd like to leave a message for the owner", "yes", "I'd like a trade-in quote for my road bike"),
    ),
)


def has_conversations(sera: Sera, merchant_id: str) -> bool:
    with sera.uow(merchant_id, readonly=True) as reader:
        count = reader.session.execute(select(func.count()).select_from(Call).where(Call.merchant_id == merchant_id))
        return bool(count.scalar_one())


def hold_demo_conversations(sera: Sera, merchant_id: str) -> int:
    """Have the demo conversations with the shop's agent, once; returns how many were held."""
    if has_conversations(sera, merchant_id):
        return 0
    agent = Agent(sera)
    for conversation in CONVERSATIONS:
        ref = ConversationRef(merchant_id, conversation.channel, f"demo-{secrets.token_urlsafe(12)}")
        agent.start(ref, caller_phone=conversation.caller)
        for line in conversation.lines:
            if agent.reply(ref, line).ended:
                break
        agent.hang_up(ref)
    return len(CONVERSATIONS)
