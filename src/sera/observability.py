"""Structured logs with a request id, a personal-data filter, and Prometheus metrics.

Invariant: no log line carries personal data or a secret. Code logs ids and event
names only; the ``RedactingFilter`` is the safety net underneath: it masks anything
shaped like an email, a phone number, a card or an API key, every configured secret,
and drops exception messages (which may quote values) while keeping their type and
stack.
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

from prometheus_client import Counter, Gauge, Histogram

_request_id: ContextVar[str | None] = ContextVar("sera_request_id", default=None)

REQUESTS = Counter("sera_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("sera_http_request_seconds", "HTTP request latency", ["route"])
AUTH_FAILURES = Counter("sera_api_auth_failures_total", "Rejected API credentials", ["reason"])
PRIVACY_OVERDUE = Gauge("sera_privacy_requests_overdue", "Privacy requests past their due time")


def current_request_id() -> str | None:
    return _request_id.get()


def set_request_id(value: str | None = None) -> str:
    request_id = value if value and _SAFE_REQUEST_ID.fullmatch(value) else uuid.uuid4().hex
    _request_id.set(request_id)
    return request_id


_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")

_PATTERNS = [
    re.compile(r"sera_[A-Za-z0-9]+_[A-Za-z0-9_-]+"),  # API keys
    re.compile(r"(?i)bearer\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),  # emails
    re.compile(r"\+?\d[\d\s().-]{6,}\d"),  # phone- and card-like digit runs
]
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Never print this exact value (master keys, tokens, provider secrets)."""
    if value and len(value) >= 8:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        text = text.replace(secret, "[secret]")
    for pattern in _PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


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


class ConsoleFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}" for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")
        )
        line = f"{record.levelname:<7} {record.name}: {record.getMessage()} {extras}".rstrip()
        exception = getattr(record, "sera_exception", None)
        return f"{line}\n{exception}" if exception else line


def configure_logging(level: str = "INFO", fmt: str = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else ConsoleFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("uvicorn.access", "httpx", "httpcore", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests without query strings
