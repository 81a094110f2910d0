"""The parts of Vapi's server messages that Sera reads, as pydantic models.

Every message is a POST of ``{"message": {"type": ..., "call": {...}, "phoneNumber": {...},
"customer": {...}, "timestamp": ...}}`` (https://docs.vapi.ai/server-url/events). Vapi sends
many more fields than these; they are ignored, so a new Vapi field never breaks a call.

The bounds below are not Vapi's: they keep whatever reaches the database inside its columns
(a Vapi call id is a UUID; Sera stores it in 64 characters) and keep arithmetic finite, so a
malformed delivery is a 400 and never a half-written record.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from sera.customers.phones import try_normalize_phone

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
HANDLED = ("assistant-request", "tool-calls", "end-of-call-report", "status-update", "transfer-destination-request")


class InvalidPayloadError(ValueError):
    """The body is not a Vapi server message Sera can act on; the message says what is wrong."""


def _aware(value: datetime | None) -> datetime | None:
    """Vapi sends ISO 8601 in UTC ('...Z'); a time without a zone is taken as UTC."""
    if value is None:
        return None
    value = value if value.tzinfo else value.replace(tzinfo=UTC)
    if not EARLIEST <= value < LATEST:
        raise ValueError("time out of range")
    return value.astimezone(UTC)


Moment = Annotated[datetime | None, AfterValidator(_aware)]
CallId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")]
ToolCallId = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:-]+$")]
Number = Annotated[str | None, Field(default=None, max_length=32)]


class _Part(BaseModel):
    """Extra fields are ignored: Vapi sends many, and adds more."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class PhoneNumber(_Part):
    id: str | None = Field(default=None, max_length=100)
    number: Number


class Customer(_Part):
    number: Number


class Call(_Part):
    id: CallId
    type: str | None = Field(default=None, max_length=40)  # inboundPhoneCall | outboundPhoneCall | webCall
    name: str | None = Field(default=None, max_length=40)  # a call Sera placed: its outbound action's id
    phone_number: PhoneNumber | None = Field(default=None, alias="phoneNumber")
    customer: Customer | None = None
    started_at: Moment = Field(default=None, alias="startedAt")
    ended_at: Moment = Field(default=None, alias="endedAt")


class ServerMessage(_Part):
    """What every message has: its type, the call, the shop's number and the caller."""

    type: str = Field(min_length=1, max_length=80)
    call: Call | None = None
    phone_number: PhoneNumber | None = Field(default=None, alias="phoneNumber")
    customer: Customer | None = None
    timestamp: float | str | None = None  # epoch milliseconds today; an ISO string in older payloads

    @property
    def shop_number(self) -> str | None:
        """The business number that was called (or, outbound, that called): routes to the merchant."""
        for phone in (self.phone_number, self.call.phone_number if self.call else None):
            if phone is not None and phone.number:
                return try_normalize_phone(phone.number)
        return None

    @property
    def caller_number(self) -> str | None:
        """The customer's number in E.164, or None (withheld, or not a phone number)."""
        for customer in (self.customer, self.call.customer if self.call else None):
            if customer is not None and customer.number:
                return try_normalize_phone(customer.number)
        return None

    @property
    def direction(self) -> str:
        return "outbound" if self.call is not None and self.call.type == "outboundPhoneCall" else "inbound"

    @property
    def sent_at(self) -> datetime | None:
        """When Vapi sent the message, if it said so sensibly."""
        try:
            if isinstance(self.timestamp, int | float):
                return _aware(datetime.fromtimestamp(self.timestamp / 1000, UTC))
            if isinstance(self.timestamp, str):
                return _aware(datetime.fromisoformat(self.timestamp.replace("Z", "+00:00")))
        except (ValueError, OverflowError, OSError):
            return None
        return None

    def require_call(self) -> Call:
        if self.call is None:
            raise InvalidPayloadError(f"{self.type}: message.call.id is required")
        return self.call


# -- tool-calls ------------------------------------------------------------------------------


class ToolFunction(_Part):
    name: str = Field(min_length=1, max_length=64)
    arguments: dict[str, Any] | str | None = None


class ToolCall(_Part):
    """One entry of ``toolCallList``: ``{"id", "type": "function", "function": {"name", "arguments"}}``.

    ``arguments`` is an object in live payloads and a JSON string in Vapi's OpenAPI schema;
    the docs' short example puts ``name`` and ``parameters`` on the entry itself. All three are read.
    """

    id: ToolCallId
    function: ToolFunction | None = None
    name: str | None = Field(default=None, max_length=64)
    parameters: dict[str, Any] | None = None

    @property
    def tool_name(self) -> str:
        return self.function.name if self.function is not None else (self.name or "")

    def arguments(self) -> dict[str, Any]:
        """The call's arguments as an object; raises ValueError when they are not one."""
        raw: Any = self.function.arguments if self.function is not None else self.parameters
        if raw is None or raw == "":
            return {}
        if isinstance(raw, str):
            try:
                raw = json.loads(raw)
            except ValueError:
                raise ValueError("arguments are not valid JSON") from None
        if not isinstance(raw, dict):
            raise ValueError("arguments must be an object")
        return raw


class ToolWithToolCall(_Part):
    tool_call: ToolCall = Field(alias="toolCall")


class ToolCallsMessage(ServerMessage):
    type: Literal["tool-calls"]
    tool_call_list: list[ToolCall] = Field(default_factory=list, alias="toolCallList", max_length=50)
    tool_with_tool_call_list: list[ToolWithToolCall] = Field(
        default_factory=list, alias="toolWithToolCallList", max_length=50
    )

    @property
    def tool_calls(self) -> list[ToolCall]:
        """``toolCallList``, or the calls inside ``toolWithToolCallList`` when only that came."""
        return list(self.tool_call_list) or [item.tool_call for item in self.tool_with_tool_call_list]


# -- end-of-call-report ------------------------------------------------------------------------


class TranscriptMessage(_Part):
    role: str = Field(max_length=40)  # bot | assistant | user | system | tool_calls | tool_call_result
    message: str | None = None


class MonoRecording(_Part):
    combined_url: str | None = Field(default=None, alias="combinedUrl", max_length=2000)


class Recording(_Part):
    stereo_url: str | None = Field(default=None, alias="stereoUrl", max_length=2000)
    mono: MonoRecording | None = None


class Artifact(_Part):
    messages: list[TranscriptMessage] = Field(default_factory=list)
    transcript: str | None = None
    recording_url: str | None = Field(default=None, alias="recordingUrl", max_length=2000)
    recording: Recording | None = None


class Analysis(_Part):
    summary: str | None = None


class EndOfCallReport(ServerMessage):
    type: Literal["end-of-call-report"]
    ended_reason: str | None = Field(default=None, alias="endedReason", max_length=200)
    artifact: Artifact | None = None
    analysis: Analysis | None = None
    cost: float | None = Field(default=None, ge=0, le=100_000)  # USD
    started_at: Moment = Field(default=None, alias="startedAt")
    ended_at: Moment = Field(default=None, alias="endedAt")
    duration_seconds: float | None = Field(default=None, alias="durationSeconds", ge=0, le=7 * 86400)
    # older reports carried these at the top level rather than in artifact / analysis
    messages: list[TranscriptMessage] = Field(default_factory=list)
    transcript: str | None = None
    recording_url: str | None = Field(default=None, alias="recordingUrl", max_length=2000)
    summary: str | None = None


# -- status-update, transfer-destination-request, assistant-request ----------------------------


class StatusUpdate(ServerMessage):
    type: Literal["status-update"]
    status: str = Field(min_length=1, max_length=40)  # scheduled | queued | ringing | in-progress | forwarding | ended
    ended_reason: str | None = Field(default=None, alias="endedReason", max_length=200)


class TransferDestinationRequest(ServerMessage):
    type: Literal["transfer-destination-request"]


class AssistantRequest(ServerMessage):
    type: Literal["assistant-request"]


MESSAGE_MODELS: dict[str, type[ServerMessage]] = {
    "assistant-request": AssistantRequest,
    "tool-calls": ToolCallsMessage,
    "end-of-call-report": EndOfCallReport,
    "status-update": StatusUpdate,
    "transfer-destination-request": TransferDestinationRequest,
}


def parse_document(body: bytes) -> dict[str, Any]:
    """The JSON object of a request body; raises InvalidPayloadError when it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise InvalidPayloadError("the body is not JSON") from None
    if b"\\u0000" in body:  # a NUL character: Vapi never sends one, and databases refuse it
        raise InvalidPayloadError("the body contains a NUL character")
    if not isinstance(document, dict):
        raise InvalidPayloadError("the body is not a JSON object")
    return document


def parse_envelope(body: bytes) -> dict[str, Any]:
    """The ``message`` object of a delivery; raises InvalidPayloadError when there is none."""
    document = parse_document(body)
    message = document.get("message")
    if not isinstance(message, dict):
        raise InvalidPayloadError("the body has no 'message' object")
    return message


def routing_number(message: dict[str, Any]) -> str | None:
    """The shop's number, read leniently from a message that may not validate (to pick its secret)."""
    call = message.get("call")
    for holder in (message, call if isinstance(call, dict) else {}):
        phone = holder.get("phoneNumber")
        number = phone.get("number") if isinstance(phone, dict) else None
        normalized = try_normalize_phone(number) if isinstance(number, str) and len(number) <= 32 else None
        if normalized:
            return normalized
    return None


def parse_message(message: dict[str, Any]) -> ServerMessage:
    """The typed message; unknown types come back as a plain ServerMessage (acknowledged, ignored)."""
    kind = message.get("type")
    model = MESSAGE_MODELS.get(kind) if isinstance(kind, str) else None
    try:
        return (model or ServerMessage).model_validate(message)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise InvalidPayloadError(f"message.{where}: {first['msg']}") from None
