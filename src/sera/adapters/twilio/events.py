"""Twilio's webhook parameters, parsed into the few facts Sera uses.

Parsing happens after the signature matched, but a signed request is still checked:
sids must look like Twilio's (they become keys and column values), numbers are
normalised to E.164 or dropped, counts are bounded. Anything else is a
``MalformedWebhook`` (a 400), so odd input never reaches the database half-checked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sera.customers.phones import try_normalize_phone

_SID = re.compile(r"^[A-Z]{2}[0-9a-fA-F]{32}$")
TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
MAX_CALL_SECONDS = 24 * 3600  # Twilio's longest possible call
MAX_SEGMENTS = 100  # a 1,600-character UCS-2 text is 24 segments
MAX_TEXT = 1600  # the longest text Twilio delivers; anything longer did not come from a phone


class MalformedWebhook(ValueError):  # noqa: N818 - reads as what it is
    """A signed request that is not a Twilio event Sera understands."""


def _sid(params: Mapping[str, str], name: str, prefixes: tuple[str, ...]) -> str:
    value = params.get(name, "")
    if not _SID.match(value) or not value.startswith(prefixes):
        raise MalformedWebhook(f"{name} is missing or not a Twilio sid")
    return value


def _bounded_int(value: str | None, upper: int) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    number = int(value)
    return number if number <= upper else None


@dataclass(frozen=True)
class CallEvent:
    """Any request about a call: who called whom, and which way."""

    call_sid: str
    outbound: bool
    caller: str | None  # the other party in E.164; None when withheld ("anonymous", a SIP address)
    shop_number: str | None


def shop_number_of_call(params: Mapping[str, str]) -> str | None:
    """The shop's side of a call: To for calls in, From for calls Sera placed."""
    outbound = params.get("Direction", "inbound").startswith("outbound")
    return params.get("From") if outbound else params.get("To")


def call_sid(params: Mapping[str, str]) -> str:
    """Which call a step of it is about (a turn, a silence, a transfer's end): no numbers parsed."""
    return _sid(params, "CallSid", ("CA",))


def call_event(params: Mapping[str, str]) -> CallEvent:
    outbound = params.get("Direction", "inbound").startswith("outbound")
    other = params.get("To") if outbound else params.get("From")
    return CallEvent(
        call_sid=call_sid(params),
        outbound=outbound,
        caller=try_normalize_phone(other),
        shop_number=try_normalize_phone(shop_number_of_call(params)),
    )


@dataclass(frozen=True)
class CallStatusEvent:
    call_sid: str
    status: str
    duration_s: int | None  # Twilio's CallDuration, only on a finished call

    @property
    def ended(self) -> bool:
        return self.status in TERMINAL_CALL_STATUSES


def call_status_event(params: Mapping[str, str]) -> CallStatusEvent:
    status = params.get("CallStatus", "")
    if not status or len(status) > 20:
        raise MalformedWebhook("CallStatus is missing")
    return CallStatusEvent(
        call_sid=call_sid(params),
        status=status,
        duration_s=_bounded_int(params.get("CallDuration"), MAX_CALL_SECONDS),
    )


@dataclass(frozen=True)
class RecordingEvent:
    call_sid: str
    recording_sid: str
    status: str
    url: str | None


def recording_event(params: Mapping[str, str]) -> RecordingEvent:
    url = params.get("RecordingUrl", "")
    return RecordingEvent(
        call_sid=call_sid(params),
        recording_sid=_sid(params, "RecordingSid", ("RE",)),
        status=params.get("RecordingStatus", "")[:20],
        url=url if url.startswith("https://") and len(url) <= 500 else None,
    )


@dataclass(frozen=True)
class SmsEvent:
    message_sid: str
    sender: str | None  # E.164; None for short codes and alphanumeric senders
    shop_number: str | None
    body: str
    segments: int | None  # Twilio's NumSegments


def sms_event(params: Mapping[str, str]) -> SmsEvent:
    return SmsEvent(
        message_sid=_sid(params, "MessageSid", ("SM", "MM")),
        sender=try_normalize_phone(params.get("From")),
        shop_number=try_normalize_phone(params.get("To")),
        body=params.get("Body", "")[:MAX_TEXT],
        segments=_bounded_int(params.get("NumSegments"), MAX_SEGMENTS) or None,
    )


@dataclass(frozen=True)
class SmsStatusEvent:
    message_sid: str
    status: str
    error_code: int | None
    recipient: str | None = None  # E.164, who the text went to


def sms_status_event(params: Mapping[str, str]) -> SmsStatusEvent:
    status = params.get("MessageStatus") or params.get("SmsStatus") or ""
    if not status or len(status) > 20:
        raise MalformedWebhook("MessageStatus is missing")
    return SmsStatusEvent(
        message_sid=_sid(params, "MessageSid", ("SM", "MM")),
        status=status,
        error_code=_bounded_int(params.get("ErrorCode"), 99999),
        recipient=try_normalize_phone(params.get("To")),
    )
