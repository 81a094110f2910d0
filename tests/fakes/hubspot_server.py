"""A local stand-in for HubSpot's CRM v3 API, answering in HubSpot's own wire format.

It listens on 127.0.0.1 on a free port in a thread, records every request, and serves:
- ``GET /account-info/v3/details``: the portal (``portalId``, ``timeZone``, ``uiDomain``...);
- ``POST /crm/v3/objects/{contacts,calls,meetings}``: creates, with ``associations`` checked
  (HubSpot-defined 194 call->contact, 200 meeting->contact; 279 contact->... is not needed);
  a contact with an email HubSpot already holds is a 409 ``Contact already exists. Existing ID: N``;
  enumerations checked (``hs_call_direction``, ``hs_call_status``, ``hs_meeting_outcome``) and
  ``hs_timestamp`` required on calls and meetings, as HubSpot's ``VALIDATION_ERROR`` says;
- ``PATCH /crm/v3/objects/{type}/{id}``: changes properties; 404 ``OBJECT_NOT_FOUND``;
- ``POST /crm/v3/objects/{type}/search``: ``filterGroups`` ORed, filters in a group ANDed,
  ``EQ`` (case-insensitive) and ``CONTAINS_TOKEN``, sorted, ``{"total", "results"}``;
- ``DELETE /crm/v3/objects/{type}/{id}`` (archive) and ``POST /crm/v3/objects/contacts/gdpr-delete``
  (``{"objectId": id}``): 204 with no body, the object and its associations gone; 404
  ``OBJECT_NOT_FOUND`` for an id HubSpot does not hold.
Every request needs ``Authorization: Bearer <token>``: 401 ``INVALID_AUTHENTICATION`` otherwise.

On demand: ``rate_limit(n, retry_after)`` answers the next n requests with HubSpot's 429
(``errorType: RATE_LIMIT``, ``policyName: SECONDLY``, a ``Retry-After`` header), ``storm(every)``
every n-th request until ``calm()``; ``fail_next(503)``; ``refuse_next_create(kind, message)``;
``lose_next_create(kind)`` makes the next object but closes the connection without answering (an
answer lost on the way); ``on_create`` is called once a call or meeting is made, before the
answer (a test kills the worker there, or changes what was sent), which goes only if it returns True.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

OBJECT_PATH = re.compile(r"^/crm/v3/objects/(contacts|calls|meetings)(?:/(search|gdpr-delete|\d+))?$")
ENUMS = {
    "hs_call_direction": {"INBOUND", "OUTBOUND"},
    "hs_call_status": {"BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED", "CONNECTING", "FAILED"}
    | {"IN_PROGRESS", "NO_ANSWER", "QUEUED", "RINGING"},
    "hs_meeting_outcome": {"SCHEDULED", "COMPLETED", "RESCHEDULED", "NO_SHOW", "CANCELED"},
}
KNOWN = {
    "contacts": {"email", "phone", "firstname", "lastname", "mobilephone", "company"},
    "calls": {"hs_timestamp", "hs_call_title", "hs_call_body", "hs_call_direction", "hs_call_duration"}
    | {"hs_call_status", "hs_call_disposition", "hs_call_from_number", "hs_call_to_number", "hubspot_owner_id"},
    "meetings": {"hs_timestamp", "hs_meeting_title", "hs_meeting_body", "hs_meeting_start_time"}
    | {"hs_meeting_end_time", "hs_meeting_outcome", "hs_meeting_location", "hubspot_owner_id"},
}
ASSOCIATION_TYPES = {"calls": 194, "meetings": 200}  # HUBSPOT_DEFINED, to a contact


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class FakeHubspot:
    token: str = "pat-na1-11111111-2222-3333-4444-555555555555"
    portal_id: int = 62515
    requests: list[RecordedRequest] = field(default_factory=list)
    objects: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"contacts": {}, "calls": {}, "meetings": {}}
    )
    associations: list[tuple[str, str, str, int]] = field(default_factory=list)  # (kind, id, contact id, type)
    _rate_limited: list[float] = field(default_factory=list)
    _failures: list[int] = field(default_factory=list)
    _lose_creates: list[str] = field(default_factory=list)
    _refusals: list[tuple[str, str]] = field(default_factory=list)  # (kind, HubSpot's message)
    _storm: tuple[int, float] | None = None
    # called with the kind once a call or meeting is made, before the answer; the answer goes if it returns True
    on_create: Callable[[str], bool | None] | None = None
    _seen: int = 0
    _next_id: int = 1000
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeHubspot:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                fake._handle(self)

            def do_POST(self) -> None:
                fake._handle(self)

            def do_PATCH(self) -> None:
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

    # -- what a test asks for -----------------------------------------------------------------------

    def rate_limit(self, requests: int, retry_after: float = 1) -> None:
        self._rate_limited.extend([retry_after] * requests)

    def fail_next(self, status: int) -> None:
        self._failures.append(status)

    def lose_next_create(self, kind: str) -> None:
        """The next ``kind`` (``calls``, ``contacts``...) created is never answered."""
        self._lose_creates.append(kind)

    def refuse_next_create(self, kind: str, message: str) -> None:
        """The next ``kind`` created is refused with a 400 ``VALIDATION_ERROR`` saying ``message``."""
        self._refusals.append((kind, message))

    def storm(self, every: int, retry_after: float = 1) -> None:
        """From now on every ``every``-th request is a 429, until ``calm()``."""
        self._storm, self._seen = (every, retry_after), 0

    def calm(self) -> None:
        self._storm = None

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r.method == method and r.path == path)

    def associated(self, kind: str, object_id: str) -> list[str]:
        """The contacts an object is associated with."""
        return [contact for k, oid, contact, _ in self.associations if k == kind and oid == object_id]

    # -- the API ------------------------------------------------------------------------------------

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(RecordedRequest(handler.command, handler.path, dict(handler.headers.items()), body))
            headers: dict[str, str] = {}
            self._seen += 1
            if self._storm is not None and self._seen % self._storm[0] == 0:
                self._rate_limited.append(self._storm[1])
            if self._rate_limited:
                headers["Retry-After"] = f"{self._rate_limited.pop(0):g}"
                status, answer = 429, _rate_limit_error()
            elif self._failures:
                status = self._failures.pop(0)
                answer = _error("Internal error", "INTERNAL_ERROR") if status >= 500 else _error("Bad request")
                if status == 403:
                    answer = _error(_NO_SCOPE, "MISSING_SCOPES")
            elif handler.headers.get("Authorization") != f"Bearer {self.token}":
                status, answer = 401, _error(_NO_AUTH, "INVALID_AUTHENTICATION")
            else:
                status, answer = self._route(handler.command, handler.path, body)
            kind = handler.path.removeprefix("/crm/v3/objects/")
            if status == 201 and self.on_create is not None and kind != "contacts" and not self.on_create(kind):
                handler.close_connection = True
                return
            if status == 201 and kind in self._lose_creates:
                self._lose_creates.remove(kind)
                handler.close_connection = True  # made, and never answered
                return
        payload = json.dumps(answer).encode() if status != 204 else b""
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if payload:
            handler.send_header("Content-Type", "application/json;charset=utf-8")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        handler.wfile.write(payload)

    def _route(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if method == "GET" and path == "/account-info/v3/details":
            return 200, {
                "portalId": self.portal_id,
                "accountType": "STANDARD",
                "timeZone": "US/Central",
                "companyCurrency": "USD",
                "additionalCurrencies": [],
                "utcOffset": "-06:00",
                "utcOffsetMilliseconds": -21600000,
                "uiDomain": "app.hubspot.com",
                "dataHostingLocation": "na1",
            }
        match = OBJECT_PATH.match(path.split("?", 1)[0])
        if match is not None and method == "DELETE" and match.group(2) and match.group(2).isdigit():
            return self._archive(match.group(1), match.group(2))
        if match is None or not isinstance(body, dict):
            return 404, _error("Unable to infer object type from: " + path, "OBJECT_NOT_FOUND")
        kind, tail = match.group(1), match.group(2)
        if method == "POST" and kind == "contacts" and tail == "gdpr-delete":
            if not isinstance(body.get("objectId"), str) or body.get("idProperty") not in (None, "hs_object_id"):
                return 400, _error("Invalid input JSON: objectId must be a string")
            return self._archive("contacts", body["objectId"])
        if method == "POST" and tail == "search":
            return 200, self._search(kind, body)
        if method == "POST" and tail is None:
            refusal = next((r for r in self._refusals if r[0] == kind), None)
            if refusal is not None:
                self._refusals.remove(refusal)
                return 400, _error(refusal[1], "VALIDATION_ERROR")
            return self._create(kind, body)
        if method == "PATCH" and tail is not None and tail.isdigit():
            return self._update(kind, tail, body)
        return 405, _error(f"{method} is not allowed on {path}")

    def _invalid(self, kind: str, properties: Any) -> list[dict[str, Any]]:
        if not isinstance(properties, dict):
            return [{"isValid": False, "message": "properties is required", "error": "REQUIRED", "name": "properties"}]
        problems = []
        for name, value in properties.items():
            if name not in KNOWN[kind]:
                message = f'Property "{name}" does not exist'
                problems.append({"isValid": False, "message": message, "error": "PROPERTY_DOESNT_EXIST", "name": name})
            elif not isinstance(value, str):
                problems.append({"isValid": False, "message": f"{value!r} is not a string", "error": "INVALID_STRING"})
            elif name in ENUMS and value not in ENUMS[name]:
                message = f"{value} was not one of the allowed options: {sorted(ENUMS[name])}"
                problems.append({"isValid": False, "message": message, "error": "INVALID_OPTION", "name": name})
        if kind != "contacts" and "hs_timestamp" not in properties:
            problems.append({"isValid": False, "message": "hs_timestamp is required", "error": "REQUIRED"})
        return problems

    def _create(self, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        properties = body.get("properties")
        problems = self._invalid(kind, properties)
        if problems:
            return 400, _error(f"Property values were not valid: {json.dumps(problems)}", "VALIDATION_ERROR")
        assert isinstance(properties, dict)
        email = (properties.get("email") or "").lower()
        if kind == "contacts" and email:
            for existing in self.objects["contacts"].values():
                if (existing["properties"].get("email") or "").lower() == email:
                    return 409, _error(f"Contact already exists. Existing ID: {existing['id']}", "CONFLICT")
        links = []
        for link in body.get("associations") or []:
            contact = str(link.get("to", {}).get("id"))
            types = link.get("types") or []
            if contact not in self.objects["contacts"]:
                return 400, _error(f"One or more associations are invalid: contact {contact} does not exist")
            for kind_of_link in types:
                if (
                    kind_of_link.get("associationTypeId") != ASSOCIATION_TYPES.get(kind)
                    or kind_of_link.get("associationCategory") != "HUBSPOT_DEFINED"
                ):
                    return 400, _error(f"invalid association type {kind_of_link} from {kind} to contacts")
            links.append(contact)
        self._next_id += 1
        object_id = str(self._next_id)
        now = _now()
        stored = {
            "id": object_id,
            "properties": {**properties, "hs_object_id": object_id, "hs_createdate": now, "createdate": now}
            | {"hs_lastmodifieddate": now},
            "createdAt": now,
            "updatedAt": now,
            "archived": False,
        }
        self.objects[kind][object_id] = stored
        for contact in links:
            self.associations.append((kind, object_id, contact, ASSOCIATION_TYPES[kind]))
        return 201, stored

    def _update(self, kind: str, object_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        stored = self.objects[kind].get(object_id)
        if stored is None:
            return 404, _error("resource not found", "OBJECT_NOT_FOUND")
        problems = self._invalid(kind, {"hs_timestamp": "", **(body.get("properties") or {})})
        if problems:
            return 400, _error(f"Property values were not valid: {json.dumps(problems)}", "VALIDATION_ERROR")
        stored["properties"].update(body["properties"])
        stored["updatedAt"] = stored["properties"]["hs_lastmodifieddate"] = _now()
        return 200, stored

    def _archive(self, kind: str, object_id: str) -> tuple[int, dict[str, Any]]:
        if self.objects[kind].pop(object_id, None) is None:
            return 404, _error(f"Object not found.  objectId are usually numeric. {object_id}", "OBJECT_NOT_FOUND")
        self.associations = [
            link for link in self.associations if not (link[0] == kind and link[1] == object_id)
            and not (kind == "contacts" and link[2] == object_id)
        ]  # fmt: skip
        return 204, {}

    def _search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        def matches(stored: dict[str, Any], rule: dict[str, Any]) -> bool:
            value = str(stored["properties"].get(rule.get("propertyName"), "") or "")
            wanted = str(rule.get("value", ""))
            if rule.get("operator") == "EQ":
                return value.lower() == wanted.lower()
            if rule.get("operator") == "CONTAINS_TOKEN":
                return wanted.lower() in re.split(r"\s+", value.lower())
            return False

        groups = body.get("filterGroups") or []
        found = [
            o
            for o in self.objects[kind].values()
            if not groups or any(all(matches(o, rule) for rule in g.get("filters") or []) for g in groups)
        ]
        for sort in reversed(body.get("sorts") or []):
            found.sort(key=lambda o: str(o["properties"].get(sort.get("propertyName"), "")))
            if sort.get("direction") == "DESCENDING":
                found.reverse()
        wanted = body.get("properties") or []
        results = [
            {**o, "properties": {k: v for k, v in o["properties"].items() if k in wanted or k == "hs_object_id"}}
            for o in found[: int(body.get("limit") or 10)]
        ]
        return {"total": len(found), "results": results}


_NO_AUTH = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
    "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)


_NO_SCOPE = (
    "This app hasn't been granted all required scopes to make this call. "
    "Read more about required scopes here: https://developers.hubspot.com/scopes."
)


def _error(message: str, category: str = "VALIDATION_ERROR") -> dict[str, Any]:
    return {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category}


def _rate_limit_error() -> dict[str, Any]:
    return {
        "status": "error",
        "message": "You have reached your secondly limit.",
        "errorType": "RATE_LIMIT",
        "correlationId": str(uuid.uuid4()),
        "policyName": "SECONDLY",
        "groupName": "publicapi:private-app:62515",
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
