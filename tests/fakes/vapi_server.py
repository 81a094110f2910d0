"""A local stand-in for Vapi's REST API (``POST /call``, ``GET /call``, ``GET /phone-number``,
``DELETE /call/{id}``), answering in Vapi's own wire format.

It listens on 127.0.0.1 on a free port in a thread, records every request, and answers:
- 401 ``{"message": "Missing Authorization Header.", "error": "Unauthorized", "statusCode": 401}``
  without a Bearer key, and Vapi's "Invalid Key. Hot tip..." message for a wrong one;
- 400 ``{"message": [...], "error": "Bad Request", "statusCode": 400}`` for validation errors
  (the messages Vapi's API gives, e.g. a customer number not in E.164);
- 201 with a call object (``type: outboundPhoneCall``, ``status: queued``) otherwise;
- ``DELETE /call/{id}``: 200 with the call object it deleted, 404 for a call it does not hold.

``fail_next(status)`` makes the next request answer with that status (429, 503: Vapi busy).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
INVALID_KEY = "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa."


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeVapi:
    api_key: str = "vapi-private-test-key"
    org_id: str = "2c8ba7a1-3f0e-4c56-9d1e-7a7c1f0b9e11"
    requests: list[RecordedRequest] = field(default_factory=list)
    phone_numbers: dict[str, str] = field(default_factory=dict)  # number -> Vapi's phone number id
    calls: list[dict[str, Any]] = field(default_factory=list)  # the calls created, oldest first
    deleted: list[str] = field(default_factory=list)  # ids of the calls deleted
    # recordings on Vapi's storage, by path: readable without a key, as storage.vapi.ai's are
    storage: dict[str, bytes] = field(default_factory=dict)
    _failures: list[int] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeVapi:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def do_GET(self) -> None:
                fake._handle(self)

            def do_DELETE(self) -> None:
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def fail_next(self, status: int) -> None:
        self._failures.append(status)

    # -- the API ------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        self.requests.append(RecordedRequest(handler.command, handler.path, dict(handler.headers.items()), body))
        if handler.command == "GET" and handler.path.startswith("/storage/"):
            self._serve_recording(handler)
            return
        if handler.command == "GET":
            status, answer = self._list(handler.path, handler.headers.get("Authorization"))
        elif handler.command == "DELETE":
            status, answer = self._delete(handler.path, handler.headers.get("Authorization"))
        else:
            status, answer = self._answer(handler.path, handler.headers.get("Authorization"), body)
        payload = json.dumps(answer).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json; charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def store_recording(self, name: str, audio: bytes) -> str:
        """A call's recording on the fake's storage; its URL, as an end-of-call report gives it."""
        self.storage[f"/storage/{name}"] = audio
        return f"{self.base_url}/storage/{name}"

    def _serve_recording(self, handler: BaseHTTPRequestHandler) -> None:
        audio = self.storage.get(handler.path)
        handler.send_response(200 if audio is not None else 404)
        handler.send_header("Content-Type", "audio/wav" if audio is not None else "text/plain")
        handler.send_header("Content-Length", str(len(audio or b"")))
        handler.end_headers()
        handler.wfile.write(audio or b"")

    def _list(self, target: str, authorization: str | None) -> tuple[int, Any]:
        if authorization != f"Bearer {self.api_key}":
            return 401, {"message": INVALID_KEY, "error": "Unauthorized", "statusCode": 401}
        path, _, query = target.partition("?")
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if path == "/phone-number":
            return 200, [
                {"id": number_id, "orgId": self.org_id, "number": number, "provider": "twilio"}
                for number, number_id in self.phone_numbers.items()
            ]
        if path == "/call":
            rows = [
                c for c in reversed(self.calls) if c["phoneNumberId"] == params.get("phoneNumberId", c["phoneNumberId"])
            ]
            rows = [c for c in rows if c["createdAt"] > params.get("createdAtGt", "")]
            return 200, rows[: int(params.get("limit", "100"))]
        return 404, {"message": f"Cannot GET {path}", "error": "Not Found", "statusCode": 404}

    def incoming_call(self, phone_number_id: str, caller: str) -> str:
        """A call someone makes to the account's number (Vapi then posts its messages to Sera): its id."""
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        call = {"id": str(uuid.uuid4()), "orgId": self.org_id, "createdAt": now, "updatedAt": now}
        call |= {"type": "inboundPhoneCall", "status": "ended", "phoneNumberId": phone_number_id}
        call |= {"customer": {"number": caller}}
        self.calls.append(call)
        return str(call["id"])

    def holds(self, call_id: str) -> bool:
        return any(c["id"] == call_id for c in self.calls)

    def _delete(self, path: str, authorization: str | None) -> tuple[int, Any]:
        if self._failures:
            status = self._failures.pop(0)
            return status, {"message": "Service Unavailable", "error": "Service Unavailable", "statusCode": status}
        if authorization != f"Bearer {self.api_key}":
            return 401, {"message": INVALID_KEY, "error": "Unauthorized", "statusCode": 401}
        call_id = path.removeprefix("/call/")
        call = next((c for c in self.calls if c["id"] == call_id), None) if path.startswith("/call/") else None
        if call is None:
            return 404, {"message": "Not Found", "statusCode": 404}
        self.calls.remove(call)
        self.deleted.append(call_id)
        return 200, call

    def _answer(self, path: str, authorization: str | None, body: Any) -> tuple[int, dict[str, Any]]:
        if self._failures:
            status = self._failures.pop(0)
            return status, {"message": "Service Unavailable", "error": "Service Unavailable", "statusCode": status}
        if path != "/call":
            return 404, {"message": f"Cannot POST {path}", "error": "Not Found", "statusCode": 404}
        if not authorization or not authorization.startswith("Bearer "):
            return 401, {"message": "Missing Authorization Header.", "error": "Unauthorized", "statusCode": 401}
        if authorization.removeprefix("Bearer ") != self.api_key:
            return 401, {"message": INVALID_KEY, "error": "Unauthorized", "statusCode": 401}
        problems = _validate(body)
        if problems:
            return 400, {"message": problems, "error": "Bad Request", "statusCode": 400}
        call = self._call_object(body)
        self.calls.append(call)
        return 201, call

    def _call_object(self, body: dict[str, Any]) -> dict[str, Any]:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        call: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "orgId": self.org_id,
            "createdAt": now,
            "updatedAt": now,
            "type": "outboundPhoneCall",
            "status": "queued",
            "phoneCallProvider": "twilio",
            "phoneCallTransport": "pstn",
            "phoneNumberId": body["phoneNumberId"],
            "customer": body["customer"],
            "monitor": {
                "listenUrl": "wss://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/listen",
                "controlUrl": "https://phone-call-websocket.aws-us-west-2-backend-production1.vapi.ai/control",
            },
        }
        if "assistantId" in body:
            call["assistantId"] = body["assistantId"]
        else:
            call["assistant"] = body["assistant"]
        if "name" in body:
            call["name"] = body["name"]
        return call


def _validate(body: Any) -> list[str]:
    """The checks Vapi's CreateCallDTO makes that Sera could get wrong, in Vapi's words."""
    if not isinstance(body, dict):
        return ["body must be a JSON object"]
    problems = []
    customer = body.get("customer")
    number = customer.get("number") if isinstance(customer, dict) else None
    if not isinstance(number, str) or not E164.match(number):
        problems.append(
            "customer.number must be a valid phone number in the E.164 format. "
            "Hot tip, you may be missing the country code (Eg. US: +1)."
        )
    if "phoneNumber" not in body and not (
        isinstance(body.get("phoneNumberId"), str) and UUID.match(body["phoneNumberId"])
    ):
        problems.append("phoneNumberId must be a UUID")
    if ("assistantId" in body) == ("assistant" in body):
        problems.append("Provide exactly one of assistantId, assistant, squadId, squad, workflowId or workflow.")
    if isinstance(body.get("name"), str) and len(body["name"]) > 40:
        problems.append("name must be shorter than or equal to 40 characters")
    return problems
