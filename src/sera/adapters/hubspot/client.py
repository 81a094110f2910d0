"""HubSpot's CRM v3 wire format, through the one HTTP wrapper (which never retries here: the
shop's queue does, in order, after HubSpot's ``Retry-After``).

- ``GET /account-info/v3/details``: the portal a private-app token opens (the connection check).
- ``POST /crm/v3/objects/contacts/search``: a contact by ``phone`` or ``email`` (two filter
  groups, which HubSpot ORs), oldest first; ``POST /crm/v3/objects/contacts`` to create one
  (a 409 ``Contact already exists. Existing ID: N`` is that contact).
- ``POST /crm/v3/objects/{calls,meetings}`` with ``associations`` to the contact (HubSpot-defined
  types 194, call to contact, and 200, meeting to contact); ``PATCH .../{id}`` to change one;
  ``POST .../search`` on the title (which carries Sera's id) to find one made before.
- Erasure: ``DELETE /crm/v3/objects/{calls,meetings}/{id}`` archives one, and
  ``POST /crm/v3/objects/contacts/gdpr-delete`` with ``{"objectId": id}`` deletes a contact for
  good (HubSpot's GDPR delete); both answer 204, and 404 when HubSpot has no such object.

HubSpot's answers map to the capability's errors: 429 and 5xx (or no answer) to ``CrmBusyError``,
401 and 403 ``MISSING_SCOPES`` to ``CrmUnauthorizedError``, 404 to ``CrmNotFoundError``, any other
4xx to ``CrmRefusedError`` with HubSpot's message.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sera.adapters.http import HttpClient, OutboundError, PermanentError, RetryableError
from sera.integrations.hubspot import CrmBusyError, CrmNotFoundError, CrmRefusedError, CrmUnauthorizedError

DEFAULT_URL = "https://api.hubapi.com"
TIMEOUT = 10.0
ASSOCIATION = {"calls": 194, "meetings": 200}  # HUBSPOT_DEFINED: call -> contact, meeting -> contact
TITLE = {"calls": "hs_call_title", "meetings": "hs_meeting_title"}
CREATED = {"contacts": "createdate", "calls": "hs_createdate", "meetings": "hs_createdate"}
EXISTING = re.compile(r"Existing ID:\s*(\d+)")


def hubspot_http() -> HttpClient:
    return HttpClient(timeout=TIMEOUT, retries=0)


class HubspotClient:
    def __init__(self, http: HttpClient, token: str, base_url: str = DEFAULT_URL) -> None:
        self._http = http
        self._token = token
        self._base = base_url.rstrip("/")

    # -- the port ---------------------------------------------------------------------------------

    def portal_id(self) -> str:
        return str(self._call("GET", "/account-info/v3/details")["portalId"])

    def find_contact(self, phone: str | None, email: str | None) -> str | None:
        groups = [
            {"filters": [{"propertyName": name, "operator": "EQ", "value": value}]}
            for name, value in (("phone", phone), ("email", email))
            if value
        ]
        if not groups:
            return None
        return self._first("contacts", groups, ["phone", "email"])

    def create_contact(self, properties: dict[str, str]) -> str:
        try:
            return str(self._call("POST", "/crm/v3/objects/contacts", {"properties": properties})["id"])
        except CrmRefusedError as exc:
            existing = EXISTING.search(str(exc))
            if existing is None:
                raise
            return existing.group(1)

    def find_object(self, kind: str, title: str) -> str | None:
        groups = [{"filters": [{"propertyName": TITLE[kind], "operator": "EQ", "value": title}]}]
        return self._first(kind, groups, [TITLE[kind]])

    def create_object(self, kind: str, properties: dict[str, str], contact_id: str | None) -> str:
        body: dict[str, Any] = {"properties": properties}
        if contact_id is not None:
            kind_of_link = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": ASSOCIATION[kind]}
            body["associations"] = [{"to": {"id": contact_id}, "types": [kind_of_link]}]
        return str(self._call("POST", f"/crm/v3/objects/{kind}", body)["id"])

    def update_object(self, kind: str, object_id: str, properties: dict[str, str]) -> None:
        self._call("PATCH", f"/crm/v3/objects/{kind}/{object_id}", {"properties": properties})

    def archive_object(self, kind: str, object_id: str) -> None:
        self._call("DELETE", f"/crm/v3/objects/{kind}/{object_id}")

    def gdpr_delete_contact(self, contact_id: str) -> None:
        self._call("POST", "/crm/v3/objects/contacts/gdpr-delete", {"objectId": contact_id})

    # -- the wire -------------------------------------------------------------------------------

    def _first(self, kind: str, groups: list[dict[str, Any]], properties: list[str]) -> str | None:
        query = {
            "filterGroups": groups,
            "properties": properties,
            "sorts": [{"propertyName": CREATED[kind], "direction": "ASCENDING"}],
            "limit": 1,
        }
        results = self._call("POST", f"/crm/v3/objects/{kind}/search", query).get("results") or []
        return str(results[0]["id"]) if results else None

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        try:
            response = self._http.request(method, self._base + path, json=body, headers=headers)
        except RetryableError as exc:
            raise CrmBusyError(_message(exc), rate_limited=exc.status == 429, retry_after=exc.retry_after) from None
        except PermanentError as exc:
            if exc.status == 401 or (exc.status == 403 and _category(exc) == "MISSING_SCOPES"):
                raise CrmUnauthorizedError(_message(exc)) from None
            if exc.status == 404:
                raise CrmNotFoundError(_message(exc)) from None
            raise CrmRefusedError(_message(exc)) from None
        answer: dict[str, Any] = response.json() if response.content else {}
        return answer


def _error(exc: OutboundError) -> dict[str, Any]:
    try:
        found = json.loads(exc.body)
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def _category(exc: OutboundError) -> str | None:
    category = _error(exc).get("category")
    return str(category) if category else None


def _message(exc: OutboundError) -> str:
    """HubSpot's own words (its ``message``), else what the wrapper saw."""
    message = _error(exc).get("message")
    return str(message)[:250] if message else str(exc)
