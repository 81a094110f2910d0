"""A local stand-in for Twilio's REST API (2010-04-01): Messages create, list, redact and
delete, Calls create, list, update and delete, Recordings delete and their audio (``.mp3``), and the called phone (``ring``): the webhooks Twilio sends for a
call it placed (the answer URL, the asynchronous answering-machine verdict, the status
callback), signed with the account's auth token by the SDK's own validator.

It answers like the real API: form-encoded requests, HTTP basic auth with the account
SID and auth token, JSON resources with "SM…", "CA…" and "RE…" sids, 201 on create,
list pages with ``next_page_uri``, 204 on delete (404 for a sid the account does not
hold; code 20009 for a message or call that is not final yet), and errors as Twilio's error JSON
``{"code", "message", "more_info", "status"}``. It records every request it received
so tests can assert what Sera sent, and can be told to fail the next requests (a 500
or a 429) to exercise retries.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from twilio.request_validator import RequestValidator  # type: ignore[import-untyped]

# Sera's own Twilio account in the tests (SERA_TWILIO_ACCOUNT_SID / SERA_TWILIO_AUTH_TOKEN).
ACCOUNT_SID = "AC0f5ab0e7a4d2c1b8e9f6a3d4c2b1a0e9"
AUTH_TOKEN = "9f2c4e6a8b0d1f3e5a7c9b2d4f6e8a0c"

API = "/2010-04-01/Accounts/"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Messages\.json$")
_CALLS = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Calls\.json$")
_CALL = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Calls/(?P<sid>CA[0-9a-f]{32})\.json$")
_MESSAGE = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Messages/(?P<sid>(SM|MM)[0-9a-f]{32})\.json$")
_RECORDING = re.compile(r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Recordings/(?P<sid>RE[0-9a-f]{32})\.json$")
_RECORDING_MEDIA = re.compile(
    r"^/2010-04-01/Accounts/(?P<account>AC[0-9a-f]{32})/Recordings/(?P<sid>RE[0-9a-f]{32})\.(?P<ext>mp3|wav)$"
)
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


Deliver = Callable[[str, dict[str, str], dict[str, str]], Any]  # url, form, headers -> the answer


def new_sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def _rfc2822(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    form: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class FakeTwilio:
    """The fake's state: accounts it knows, resources created, requests seen."""

    accounts: dict[str, str] = field(default_factory=dict)  # account sid -> auth token
    messages: list[dict[str, Any]] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    placed: dict[str, dict[str, str]] = field(default_factory=dict)  # call sid -> the create request's form
    updates: list[tuple[str, str]] = field(default_factory=list)  # (call sid, TwiML) of every call update
    recordings: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[tuple[str, str]] = field(default_factory=list)  # (kind, sid) of every delete done (204)
    redacted: list[str] = field(default_factory=list)  # sids of messages whose body was emptied
    received: list[Received] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)  # statuses to answer next, in order
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(self, status: int, times: int = 1) -> None:
        with self.lock:
            self.failures.extend([status] * times)

    def requests_to(self, suffix: str, method: str = "POST") -> list[Received]:
        return [r for r in self.received if r.method == method and r.path.endswith(suffix)]

    def holds(self, sid: str) -> bool:
        """Whether the account still holds this message, call or recording."""
        with self.lock:
            return any(r["sid"] == sid for r in (*self.messages, *self.calls, *self.recordings))


def twilio_error(status: int, code: int, message: str) -> dict[str, Any]:
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: tests read ``received`` instead

    # -- plumbing --------------------------------------------------------------------------
    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: int, message: str) -> None:
        self._answer(status, twilio_error(status, code, message))

    def _record(self) -> Received:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        split = urlsplit(self.path)
        seen = Received(
            method=self.command,
            path=split.path,
            query=parse_qs(split.query),
            form=parse_qs(raw, keep_blank_values=True),
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        with self.server.state.lock:
            self.server.state.received.append(seen)
        return seen

    def _authorised(self, account: str) -> bool:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except ValueError:
            return False
        return user == account and self.server.state.accounts.get(account) == password

    def _injected_failure(self) -> int | None:
        with self.server.state.lock:
            return self.server.state.failures.pop(0) if self.server.state.failures else None

    def _dispatch(self, routes: dict[re.Pattern[str], Any]) -> None:
        seen = self._record()
        for pattern, handler in routes.items():
            match = pattern.match(seen.path)
            if match is None:
                continue
            if not self._authorised(match["account"]):
                self._error(401, 20003, "Authenticate")
                return
            failure = self._injected_failure()
            if failure is not None:
                self._error(failure, 20500 if failure >= 500 else 20429, "Injected failure")
                return
            handler(seen, **match.groupdict())
            return
        self._error(404, 20404, f"The requested resource {seen.path} was not found")

    def do_POST(self) -> None:
        self._dispatch(
            {
                _MESSAGES: self._create_message,
                _MESSAGE: self._redact_message,
                _CALLS: self._create_call,
                _CALL: self._update_call,
            }
        )

    def do_DELETE(self) -> None:
        self._dispatch(
            {
                _MESSAGE: lambda seen, account, sid: self._delete(seen, "messages", account, sid),
                _CALL: lambda seen, account, sid: self._delete(seen, "calls", account, sid),
                _RECORDING: lambda seen, account, sid: self._delete(seen, "recordings", account, sid),
            }
        )

    def _delete(self, seen: Received, kind: str, account: str, sid: str) -> None:
        state = self.server.state
        with state.lock:
            rows: list[dict[str, Any]] = getattr(state, kind)
            row = next((r for r in rows if r["sid"] == sid and r["account_sid"] == account), None)
            final = row is not None and row.get("status") not in _IN_FLIGHT
            if final:
                rows.remove(row)
                state.deleted.append((kind, sid))
        if final:
            self._deleted()
        if row is None:
            self._error(404, 20404, f"The requested resource {seen.path} was not found")
        elif not final:
            self._error(409, 20009, "Cannot delete this resource before it is complete")
        else:
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def _deleted(self) -> None:
        """Between deleting and answering (a paced fake waits here)."""

    def _redact_message(self, seen: Received, account: str, sid: str) -> None:
        form = {k: v[0] for k, v in seen.form.items()}
        if form.get("Body") != "":
            self._error(400, 30400, "Message body redaction request does not have empty Body parameter.")
            return
        state = self.server.state
        with state.lock:
            row = next((m for m in state.messages if m["sid"] == sid and m["account_sid"] == account), None)
            if row is not None:
                row["body"] = ""
                state.redacted.append(sid)
        if row is None:
            self._error(404, 20404, f"The requested resource {seen.path} was not found")
        else:
            self._answer(200, row)

    def do_GET(self) -> None:
        self._dispatch({_MESSAGES: self._list_messages, _CALLS: self._list_calls, _RECORDING_MEDIA: self._media})

    def _media(self, seen: Received, account: str, sid: str, ext: str) -> None:
        """A recording's audio, as Twilio serves ``/Recordings/RE….mp3`` (or ``.wav``)."""
        with self.server.state.lock:
            row = next(
                (r for r in self.server.state.recordings if r["sid"] == sid and r["account_sid"] == account), None
            )
        if row is None:
            self._error(404, 20404, f"The requested resource {seen.path} was not found")
            return
        audio: bytes = row.get("audio") or b"ID3" + sid.encode()
        self.send_response(200)
        self.send_header("Content-Type", "audio/mpeg" if ext == "mp3" else "audio/x-wav")
        self.send_header("Content-Length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)

    # -- resources -------------------------------------------------------------------------
    def _create_message(self, seen: Received, account: str) -> None:
        form = {k: v[0] for k, v in seen.form.items()}
        to, sender, body = form.get("To"), form.get("From"), form.get("Body")
        if not to:
            self._error(400, 21604, "A 'To' phone number is required.")
            return
        if not _E164.match(to):
            self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
            return
        if not sender and not form.get("MessagingServiceSid"):
            self._error(400, 21603, "A 'From' phone number is required.")
            return
        if not body and not form.get("MediaUrl"):
            self._error(400, 21602, "Message body is required.")
            return
        sid = new_sid("SM")
        now = _rfc2822(datetime.now(UTC))
        message = {
            "account_sid": account,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": sender,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": "1",
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{API}{account}/Messages/{sid}/Media.json"},
            "to": to,
            "uri": f"{API}{account}/Messages/{sid}.json",
        }
        with self.server.state.lock:
            self.server.state.messages.append(message)
        self._answer(201, message)
        message["status"] = "delivered"  # the carrier's report, at once (``hold`` keeps one in flight)

    def _list_messages(self, seen: Received, account: str) -> None:
        query = {k: v[0] for k, v in seen.query.items()}
        try:
            page_size = max(1, min(int(query.get("PageSize", "50")), 1000))
            page = max(0, int(query.get("Page", "0")))
        except ValueError:
            self._error(400, 20001, "Invalid paging parameters")
            return
        with self.server.state.lock:
            rows = [m for m in reversed(self.server.state.messages) if m["account_sid"] == account]
        if "To" in query:
            rows = [m for m in rows if m["to"] == query["To"]]
        if "From" in query:
            rows = [m for m in rows if m["from"] == query["From"]]
        start = page * page_size
        chunk = rows[start : start + page_size]
        base = f"{API}{account}/Messages.json"
        filters = {k: v for k, v in query.items() if k in ("To", "From")}

        def uri(number: int) -> str:
            return f"{base}?{urlencode({**filters, 'PageSize': page_size, 'Page': number})}"

        more = start + page_size < len(rows)
        self._answer(
            200,
            {
                "end": start + len(chunk) - 1 if chunk else start,
                "first_page_uri": uri(0),
                "messages": chunk,
                "next_page_uri": f"{uri(page + 1)}&PageToken=PA{chunk[-1]['sid']}" if more and chunk else None,
                "page": page,
                "page_size": page_size,
                "previous_page_uri": uri(page - 1) if page > 0 else None,
                "start": start,
                "uri": uri(page),
            },
        )

    def _create_call(self, seen: Received, account: str) -> None:
        form = {k: v[0] for k, v in seen.form.items()}
        to, sender = form.get("To"), form.get("From")
        if not to:
            self._error(400, 21201, "No 'To' number is specified")
            return
        if not sender:
            self._error(400, 21213, "No 'From' number is specified")
            return
        if not (form.get("Url") or form.get("Twiml") or form.get("ApplicationSid")):
            self._error(400, 21205, "Url parameter is required.")
            return
        if form.get("MachineDetection") not in (None, "Enable", "DetectMessageEnd"):
            self._error(400, 21260, "MachineDetection must be Enable or DetectMessageEnd")
            return
        sid = new_sid("CA")
        now = _rfc2822(datetime.now(UTC))
        call = {
            "account_sid": account,
            "annotation": None,
            "answered_by": None,
            "api_version": "2010-04-01",
            "caller_name": None,
            "date_created": now,
            "date_updated": now,
            "direction": "outbound-api",
            "duration": None,
            "end_time": None,
            "forwarded_from": None,
            "from": sender,
            "from_formatted": sender,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": sid,
            "start_time": None,
            "status": "queued",
            "subresource_uris": {"recordings": f"{API}{account}/Calls/{sid}/Recordings.json"},
            "to": to,
            "to_formatted": to,
            "trunk_sid": None,
            "uri": f"{API}{account}/Calls/{sid}.json",
        }
        with self.server.state.lock:
            self.server.state.calls.append(call)
            self.server.state.placed[sid] = form
        self._answer(201, call)

    def _list_calls(self, seen: Received, account: str) -> None:
        query = {k: v[0] for k, v in seen.query.items()}
        page_size = max(1, min(int(query.get("PageSize", "50") or 50), 1000))
        with self.server.state.lock:
            rows = [c for c in reversed(self.server.state.calls) if c["account_sid"] == account]
        rows = [c for c in rows if c["to"] == query.get("To", c["to"]) and c["from"] == query.get("From", c["from"])]
        base = f"{API}{account}/Calls.json"
        self._answer(
            200,
            {
                "calls": rows[:page_size],
                "end": min(len(rows), page_size) - 1,
                "first_page_uri": base,
                "next_page_uri": None,
                "page": 0,
                "page_size": page_size,
                "previous_page_uri": None,
                "start": 0,
                "uri": base,
            },
        )

    def _update_call(self, seen: Received, account: str, sid: str) -> None:
        form = {k: v[0] for k, v in seen.form.items()}
        with self.server.state.lock:
            call = next((c for c in self.server.state.calls if c["sid"] == sid and c["account_sid"] == account), None)
            if call is not None and call["status"] not in ("completed", "busy", "no-answer", "failed", "canceled"):
                self.server.state.updates.append((sid, form.get("Twiml", "")))
        if call is None:
            self._error(404, 20404, f"The requested resource {seen.path} was not found")
        elif call["status"] in ("completed", "busy", "no-answer", "failed", "canceled"):
            self._error(400, 21220, "Call is not in-progress. Cannot redirect.")
        else:
            self._answer(200, call)


_IN_FLIGHT = ("queued", "sending", "ringing", "in-progress")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeTwilio) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


class TwilioServer:
    """Start with ``with TwilioServer() as fake:``; ``fake.url`` is its API base."""

    def __init__(self) -> None:
        self.state = FakeTwilio()
        self._server = _Server(self.state)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add_account(self, account_sid: str, auth_token: str) -> None:
        self.state.accounts[account_sid] = auth_token

    def received_text(self, account_sid: str, *, sender: str, to: str, body: str) -> str:
        """A text someone sent to a number of the account (before Twilio posts it to Sera): its sid."""
        sid = new_sid("SM")
        now = _rfc2822(datetime.now(UTC))
        row = {"account_sid": account_sid, "sid": sid, "from": sender, "to": to, "body": body}
        row |= {"direction": "inbound", "status": "received", "date_created": now, "num_segments": "1"}
        with self.state.lock:
            self.state.messages.append(row)
        return sid

    def incoming_call(self, account_sid: str, *, caller: str, to: str) -> str:
        """A call someone makes to a number of the account (completed once it ends): its sid."""
        sid = new_sid("CA")
        now = _rfc2822(datetime.now(UTC))
        row = {"account_sid": account_sid, "sid": sid, "from": caller, "to": to, "direction": "inbound"}
        row |= {"status": "in-progress", "date_created": now}
        with self.state.lock:
            self.state.calls.append(row)
        return sid

    def recorded(self, account_sid: str, call_sid: str, audio: bytes | None = None) -> str:
        """A finished recording of a call (before Twilio posts its callback): its sid; ``audio``
        is what its ``.mp3`` serves."""
        sid = new_sid("RE")
        with self.state.lock:
            row = {"account_sid": account_sid, "sid": sid, "call_sid": call_sid, "audio": audio}
            self.state.recordings.append(row)
        return sid

    def set_status(self, sid: str, status: str) -> None:
        """Move a message or call along (``sending`` holds a message in flight; ``completed`` ends a call)."""
        with self.state.lock:
            for row in (*self.state.messages, *self.state.calls):
                if row["sid"] == sid:
                    row["status"] = status

    def ring(self, sid: str, deliver: Deliver, *, answered_by: str | None, status: str = "completed") -> list[Any]:
        """The called phone, for a call placed through this fake: Twilio's webhooks, signed.

        ``answered_by`` (``human``, ``machine_end_beep``, ``fax``, ``unknown``) picks the call up:
        the answer URL is fetched, the verdict of asynchronous detection follows (if it was
        asked for), then the call completes. ``None`` never picks up: only the status callback
        comes, with ``status`` (``no-answer``, ``busy``, ``failed``). Returns what each delivery answered."""
        form = self.state.placed[sid]
        call = next(c for c in self.state.calls if c["sid"] == sid)
        token = self.state.accounts[call["account_sid"]]
        common = {"AccountSid": call["account_sid"], "ApiVersion": "2010-04-01", "CallSid": sid}
        parties = {"Direction": "outbound-api", "From": call["from"], "To": call["to"]}
        parties |= {"Caller": call["from"], "Called": call["to"]}
        answers = []

        def post(url: str, params: dict[str, str]) -> None:
            signature = RequestValidator(token).compute_signature(url, params)
            answers.append(deliver(url, params, {"X-Twilio-Signature": signature}))

        if answered_by is not None:
            call["status"] = "in-progress"
            post(form["Url"], common | parties | {"CallStatus": "in-progress"})
            if form.get("AsyncAmdStatusCallback"):
                amd = {"AnsweredBy": answered_by, "MachineDetectionDuration": "4200"}
                post(form["AsyncAmdStatusCallback"], common | amd)
        call["status"] = status if answered_by is None else "completed"
        if form.get("StatusCallback"):
            ended = {"CallStatus": call["status"], "CallDuration": "42" if answered_by else "0"}
            post(form["StatusCallback"], common | parties | ended | {"CallbackSource": "call-progress-events"})
        return answers

    def __enter__(self) -> TwilioServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
