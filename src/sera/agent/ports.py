"""What every channel sees of the agent, and the port a brain plugs into.

A channel starts a conversation (shop, channel, caller) and gets a reply; then hands
each caller line in and gets a reply plus actions (transfer, hang up, send an SMS).
A brain (the offline one, or an LLM) decides what to say and which tools to call;
it never touches a channel's wire format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sera.agent.context import TurnContext


class ActionKind(StrEnum):
    TRANSFER = "transfer"  # connect the caller to ``number``
    HANG_UP = "hang_up"  # the conversation is over
    SEND_SMS = "send_sms"  # text ``text`` to the caller


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    number: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Reply:
    text: str
    actions: tuple[Action, ...] = ()
    understood: bool = True  # False when the agent did not understand the line (`sera eval` lists those)

    @property
    def ended(self) -> bool:
        return any(a.kind in (ActionKind.HANG_UP, ActionKind.TRANSFER) for a in self.actions)

    @property
    def transfer_to(self) -> str | None:
        return next((a.number for a in self.actions if a.kind is ActionKind.TRANSFER), None)


@dataclass
class ConversationState:
    """A brain's memory of one conversation; persisted (sealed) between turns."""

    data: dict[str, Any] = field(default_factory=dict)


class Brain(Protocol):
    def greet(self, ctx: TurnContext) -> Reply: ...

    def respond(self, ctx: TurnContext, text: str) -> Reply: ...
