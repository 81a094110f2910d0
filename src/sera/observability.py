"""Structured logs with a request id, a personal-data filter, and Prometheus metrics.

Invariant: no log line carries personal data or a secret. Code logs ids and event
names only; the ``RedactingFilter`` is the safety net underneath: it masks every
registered secret, Sera API keys and bearer tokens, email addresses, text that parses as
a valid phone number (``phonenumbers``' own matcher) and Luhn-valid card numbers, and drops
exception messages (which may quote values) while keeping their type and stack.

The filter is precise on purpose: addresses, ports, process ids, ids, timestamps and URLs
stay readable, because a log that masks every digit run cannot be used to debug anything.

Two formats: ``json`` (one object a line, for log shippers; what ``sera serve`` writes
unless told otherwise) and ``text`` (time, level, logger, message, then the structured
fields as key=value; what ``sera demo`` writes for a person at a terminal).
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import phonenumbers
from prometheus_client import Counter, Gauge, Histogram

_request_id: ContextVar[str | None] = ContextVar("sera_request_id", default=None)

REQUESTS = Counter("sera_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("sera_http_request_seconds", "HTTP request latency", ["route"])
AUTH_FAILURES = Counter("sera_api_auth_failures_total", "Rejected API credentials", ["reason"])
PRIVACY_OVERDUE = Gauge(
    "sera_privacy_requests_overdue", "Privacy requests, and deletions at providers, past their due time"
)
PROVIDER_DELETIONS_PENDING = Gauge(
    "sera_provider_deletions_pending", "Copies at providers (Twilio, Vapi) ordered deleted and not yet deleted"
)


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None = None) -> str:
    request_id = value if value and _SAFE_REQUEST_ID.fullmatch(value) else uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id


_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

_SECRET_PATTERNS = [
    re.compile(r"sera_[0-9a-f]{12}_[A-Za-z0-9_-]+"),  # Sera API keys (sera.access.api_keys)
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
]
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Six digits close together: the least any phone number has. Text without them (most log
# lines) skips the phone matcher, which costs about 0.15 ms a line.
_MAYBE_PHONE = re.compile(r"\d(?:\W{0,3}\d){5}")
# National numbers ("(312) 555-0142") are read as US numbers, the region Sera assumes when a
# shop names none (sera.customers.phones); international ones ("+44 20 ...") in any region.
_PHONE_REGION = "US"
# 15 to 19 digits, grouped or not, starting as card numbers do; masked only if Luhn-valid,
# so that long numeric ids (13-digit Shopify order ids, epoch milliseconds) stay readable.
_CARD = re.compile(r"(?<![\w.])[2-6]\d{3}(?:[ -]?\d){11,15}(?!\w|\.\d)")
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Never print this exact value (master keys, tokens, provider secrets)."""
    if value and len(value) >= 8:
        _secrets.add(value)


def redact(text: str) -> str:
    """Mask the secrets and personal data in ``text``; leave everything else as it was."""
    for secret in _secrets:
        text = text.replace(secret, "[secret]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[secret]", text)
    text = _EMAIL.sub("[redacted]", text)
    text = _mask_phone_numbers(text)
    return _CARD.sub(_mask_card, text)


def _mask_phone_numbers(text: str) -> str:
    if not _MAYBE_PHONE.search(text):
        return text
    # VALID: the number must be a real one for its region, not any run of digits
    matches = list(phonenumbers.PhoneNumberMatcher(text, _PHONE_REGION, leniency=phonenumbers.Leniency.VALID))
    for match in reversed(matches):
        text = text[: match.start] + "[redacted]" + text[match.end :]
    return text


def _mask_card(match: re.Match[str]) -> str:
    digits = [int(ch) for ch in match.group() if ch.isdigit()]
    checksum = sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])
    return "[redacted]" if checksum % 10 == 0 else match.group()


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key in _EXTRA_FIELDS_SKIP:
                continue
            if isinstance(value, str):
                record.__dict__[key] = redact(value)
        if record.exc_info and record.exc_info[1] is not None:
            exc_type, _exc, tb = record.exc_info
            # frame locations only: source lines and messages may quote personal data
            frames = "".join(f"  {f.filename}:{f.lineno} in {f.name}\n" for f in traceback.extract_tb(tb))
            record.sera_exception = f"{exc_type.__name__ if exc_type else 'Exception'} (message withheld)\n{frames}"
            record.exc_info = None
            record.exc_text = None
        return True


_EXTRA_FIELDS_SKIP = {
    "name",
    "levelname",
    "pathname",
    "filename",
    "module",
    "funcName",
    "processName",
    "threadName",
}
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "sera_exception",
    "asctime",
    "color_message",  # uvicorn's copy of the message with terminal colour codes
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            "request_id": current_request_id(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value
        exception = getattr(record, "sera_exception", None)
        if exception:
            payload["exception"] = exception
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """``2026-11-27 10:00:00.123 INFO    sera.web: request method=GET status=200 ...``"""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC).astimezone()  # the reader's local time
        fields: dict[str, Any] = {"request_id": current_request_id()}
        fields.update((k, v) for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_"))
        extras = " ".join(f"{key}={_text_value(value)}" for key, value in fields.items() if value is not None)
        line = (
            f"{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d} {record.levelname:<7} "
            f"{record.name}: {record.getMessage()} {extras}"
        ).rstrip()
        exception = getattr(record, "sera_exception", None)
        return f"{line}\n{exception}" if exception else line


def _text_value(value: Any) -> str:
    """A value as key=value shows it: quoted when it has a space, a quote or an = in it."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if not text or any(ch.isspace() or ch in '"=' for ch in text):
        return json.dumps(text)
    return text


def configure_logging(level: str = "INFO", fmt: str | None = "json") -> None:
    """Log to stderr through the personal-data filter, as ``json`` (also for None) or ``text``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(TextFormatter() if fmt in ("text", "console") else JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests without query strings
