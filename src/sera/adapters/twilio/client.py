"""Twilio's REST API (send an SMS, place, update and list calls, list messages, delete
recordings, messages and calls, redact a message) through the SDK.

The SDK builds the requests and reads the answers; every byte still goes through
``sera.adapters.http.HttpClient``, the one outbound wrapper (timeouts, retries, the
permanent/retryable split), via a ``twilio.http.HttpClient`` subclass that also moves
``https://api.twilio.com`` to ``SERA_TWILIO_API_BASE`` (tests point it at a local fake).

Errors come out as ``PermanentError`` (Twilio refused the request: a bad number, wrong
credentials, an opted-out recipient) or ``RetryableError`` (Twilio could not be reached
or was busy). Their messages carry the HTTP status and Twilio's error code, never the
response body, which can quote a phone number.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException  # type: ignore[import-untyped]
from twilio.http import HttpClient as TwilioHttpClient  # type: ignore[import-untyped]
from twilio.http.response import Response as TwilioResponse  # type: ignore[import-untyped]
from twilio.rest import Client  # type: ignore[import-untyped]

from sera.adapters.http import HttpClient, OutboundError, PermanentError, RetryableError
from sera.bootstrap import Sera
from sera.merchants.providers import provider_credentials

TWILIO_API = "https://api.twilio.com"
RETRYABLE_STATUS = {408, 425, 429, 500, 502, 503, 504}


@dataclass(frozen=True)
class SentMessage:
    sid: str
    status: str
    segments: int | None  # Twilio's count; None when it has not assigned one yet


@dataclass(frozen=True)
class MessageRecord:
    """One message as Twilio's Messages list shows it."""

    sid: str
    direction: str
    from_number: str | None
    to_number: str | None
    body: str | None
    status: str
    segments: int | None
    error_code: int | None


@dataclass(frozen=True)
class CallRecord:
    """One call as Twilio's Calls list shows it."""

    sid: str
    direction: str  # inbound | outbound-api (placed through the API) | outbound-dial (a <Dial> leg)
    created: datetime | None


def twilio_error_code(error: OutboundError) -> int | None:
    """Twilio's own error code from a refused request (e.g. 21610: the recipient opted out)."""
    try:
        code = json.loads(error.body).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, int) else None


class _ThroughSeraHttp(TwilioHttpClient):  # type: ignore[misc]
    """The SDK's transport, replaced by Sera's outbound wrapper."""

    def __init__(self, http: HttpClient, api_base: str) -> None:
        super().__init__(logger=None, is_async=False)
        self._http = http
        self._api_base = api_base.rstrip("/")

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Any:
        if uri.startswith(TWILIO_API):
            uri = self._api_base + uri[len(TWILIO_API) :]
        extra: dict[str, Any] = {} if timeout is None else {"timeout": timeout}
        response = self._http.request(method, uri, params=params, data=data, headers=headers, auth=auth, **extra)
        return TwilioResponse(response.status_code, response.text, response.headers)


def _mapped(exc: Exception) -> OutboundError:
    """An SDK error in Sera's terms; messages name status and code only."""
    if isinstance(exc, OutboundError):
        code = twilio_error_code(exc)
        kind = type(exc)
        return kind(f"twilio answered {exc.status} (code {code})", exc.status, exc.body)
    if isinstance(exc, TwilioRestException):
        status = int(exc.status or 0)
        kind = RetryableError if status in RETRYABLE_STATUS else PermanentError
        return kind(f"twilio answered {status} (code {exc.code})", status, json.dumps({"code": exc.code}))
    return PermanentError(f"twilio answer not understood: {type(exc).__name__}")


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


class TwilioClient:
    """One Twilio account's REST API."""

    def __init__(
        self, account_sid: str, auth_token: str, *, api_base: str = TWILIO_API, http: HttpClient | None = None
    ) -> None:
        self._owns_http = http is None
        self._http = http or HttpClient()
        self._sdk = Client(account_sid, auth_token, http_client=_ThroughSeraHttp(self._http, api_base))

    def send_sms(self, *, to: str, from_: str, body: str, status_callback: str | None = None) -> SentMessage:
        """Send a text; Twilio reports delivery to ``status_callback``."""
        options: dict[str, Any] = {"status_callback": status_callback} if status_callback else {}
        message = self._call(self._sdk.messages.create, to=to, from_=from_, body=body, **options)
        return SentMessage(str(message.sid), str(message.status), _int_or_none(message.num_segments) or None)

    def place_call(
        self,
        *,
        to: str,
        from_: str,
        url: str,
        status_callback: str | None = None,
        machine_callback: str | None = None,
    ) -> str:
        """Start an outbound call whose TwiML comes from ``url``; returns the CallSid.

        With ``machine_callback``, answering-machine detection runs in the background
        (``MachineDetection=DetectMessageEnd``, ``AsyncAmd``): the call connects at once, and
        the verdict (``AnsweredBy``) is posted there once a machine's greeting has ended."""
        options: dict[str, Any] = {}
        if status_callback:
            options = {"status_callback": status_callback, "status_callback_event": ["completed"]}
        if machine_callback:
            options |= {
                "machine_detection": "DetectMessageEnd",
                "async_amd": "true",
                "async_amd_status_callback": machine_callback,
                "async_amd_status_callback_method": "POST",
            }
        call = self._call(self._sdk.calls.create, to=to, from_=from_, url=url, method="POST", **options)
        return str(call.sid)

    def update_call(self, call_sid: str, *, twiml: str) -> None:
        """Replace what a live call is doing with ``twiml`` (e.g. a voicemail after the beep)."""
        self._call(self._sdk.calls(call_sid).update, twiml=twiml)

    def list_calls(self, *, to: str, from_: str, limit: int = 20) -> list[CallRecord]:
        """Calls between the two numbers, newest first."""
        rows = self._call(self._sdk.calls.list, to=to, from_=from_, limit=limit, page_size=min(limit, 1000))
        return [CallRecord(str(c.sid), str(c.direction), c.date_created) for c in rows]

    def list_messages(self, *, to: str | None = None, from_: str | None = None, limit: int = 50) -> list[MessageRecord]:
        """Messages newest first, following Twilio's pages up to ``limit``."""
        filters: dict[str, Any] = {}
        if to:
            filters["to"] = to
        if from_:
            filters["from_"] = from_
        page_size = min(limit, 1000)
        rows = self._call(self._sdk.messages.list, limit=limit, page_size=page_size, **filters)
        return [
            MessageRecord(
                sid=str(m.sid),
                direction=str(m.direction),
                from_number=m.from_,
                to_number=m.to,
                body=m.body,
                status=str(m.status),
                segments=_int_or_none(m.num_segments),
                error_code=_int_or_none(m.error_code),
            )
            for m in rows
        ]

    def delete(self, kind: str, sid: str) -> None:
        """Delete a ``recording``, ``message`` or ``call`` from the account (204). Twilio answers 404
        for a sid it does not hold, and refuses (code 20009) a message or call not yet final."""
        resources = {"recording": self._sdk.recordings, "message": self._sdk.messages, "call": self._sdk.calls}
        self._call(resources[kind](sid).delete)

    def redact_message(self, sid: str) -> None:
        """Empty a sent or received message's body, keeping its record (an update with ``Body=""``)."""
        self._call(self._sdk.messages(sid).update, body="")

    def close(self) -> None:
        """Release the wrapper this client made for itself; a wrapper handed in stays open."""
        if self._owns_http:
            self._http.close()

    @staticmethod
    def _call(operation: Any, **kwargs: Any) -> Any:
        try:
            return operation(**kwargs)
        except (OutboundError, TwilioRestException, TwilioException, ValueError, KeyError) as exc:
            raise _mapped(exc) from None


_shared_http: HttpClient | None = None
_shared_http_lock = threading.Lock()


def shared_http() -> HttpClient:
    """One outbound wrapper per process for Twilio: its connection pool and TLS setup are reused
    (building an httpx client costs tens of milliseconds, more than the request itself)."""
    global _shared_http
    with _shared_http_lock:
        if _shared_http is None:
            _shared_http = HttpClient()
        return _shared_http


def client_for(sera: Sera, merchant_id: str, *, http: HttpClient | None = None) -> TwilioClient | None:
    """The REST client of the merchant's own Twilio account, else Sera's; None without credentials."""
    with sera.uow(merchant_id, readonly=True) as uow:
        own = provider_credentials(uow, "twilio")
    if own is not None and own.account_id:
        account_sid, token = own.account_id, own.secret
    else:
        settings = sera.settings
        account_sid = settings.twilio_account_sid or ""
        token = settings.twilio_auth_token.get_secret_value() if settings.twilio_auth_token else ""
    if not account_sid or not token:
        return None
    return TwilioClient(account_sid, token, api_base=sera.settings.twilio_api_base, http=http or shared_http())
