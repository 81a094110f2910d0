"""What every channel sees of the agent, and the port a brain plugs into.

A channel starts a conversation (shop, channel, caller) and gets a reply; then hands
each caller line in and gets a reply plus actions (transfer, hang up, send an SMS).
A brain (the offline one, or an LLM) decides what to say and which tools to call;
it never touches a channel's wire format.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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
    fallback: str | None = None  # why the LLM brain handed this turn to the offline brain (`sera eval` counts them)
    unanswered: str | None = None  # the caller's question the shop has no answer to (the weekly report lists them)

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


# Receives the reply sentence by sentence, as soon as each exists; a reply that ends the
# conversation (a transfer, a goodbye) is not handed to it: the channel says that one itself,
# with the ending (a real-time channel must not cut its own last words short). Returning
# False means the caller is talking over the agent: a brain still writing stops there, and
# its reply is what it said so far.
Say = Callable[[str], bool | None]


class Brain(Protocol):
    def greet(self, ctx: TurnContext) -> Reply: ...

    def respond(self, ctx: TurnContext, text: str, say: Say | None = None) -> Reply:
        """The reply to a caller line. A brain that streams hands each sentence to ``say``
        as soon as it is written; the returned reply holds the whole text either way."""
        ...


# -- the port a language model plugs into (the OpenAI chat-completions adapter) ---------------


@dataclass(frozen=True)
class TextDelta:
    """A piece of the model's reply text, as it streams."""

    text: str


@dataclass(frozen=True)
class ToolCallRequest:
    """One tool call the model made, its arguments as the raw JSON text it wrote."""

    id: str
    name: str
    arguments: str


ModelEvent = TextDelta | ToolCallRequest


class ModelUnavailableError(Exception):
    """The model could not answer in time (error, timeout, rate limit): the turn falls back."""

    def __init__(self, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class ModelGarbageError(Exception):
    """The model answered, but not in the wire format (a chunk that is not JSON, no choices)."""


class ChatModel(Protocol):
    """A chat-completions model with tools: streams text deltas, then the complete tool calls."""

    name: str

    def complete(
        self, messages: list[dict[str, Any]], tools: list[dict[str, Any]], *, tool_choice: str = "auto"
    ) -> Iterator[ModelEvent]: ...
