"""Vapi's REST API, outbound: place a phone call (``POST /call``), list recent calls
(``GET /call``), find a phone number's id (``GET /phone-number``), delete a call
(``DELETE /call/{id}``).

Authenticated with the private API key (``Authorization: Bearer SERA_VAPI_API_KEY``) against
``SERA_VAPI_API_BASE``, through the one outbound HTTP wrapper. Vapi answers 201 with the call
object; a refused request is a 4xx with ``{"message": ..., "error": ..., "statusCode": ...}``
(``message`` is a list for validation errors).

Placing a call is not idempotent at Vapi (there is no idempotency key), so this client never
retries by itself: after a timeout the call may already be ringing. It raises RetryableError
and leaves the decision to the caller (a job that can check before trying again).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sera.adapters.http import HttpClient, PermanentError, RetryableError
from sera.config import Settings
from sera.customers.phones import normalize_phone
from sera.observability import register_secret

__all__ = ["OutboundCall", "PermanentError", "RetryableError", "VapiClient"]


@dataclass(frozen=True)
class OutboundCall:
    """The call Vapi created: its id (to match the server messages that follow) and status."""

    id: str
    status: str
    phone_number_id: str | None


class _CallObject(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    id: str = Field(min_length=1, max_length=64)
    status: str = "queued"
    phone_number_id: str | None = Field(default=None, alias="phoneNumberId")


class VapiClient:
    def __init__(self, settings: Settings, http: HttpClient | None = None) -> None:
        self.base_url = settings.vapi_api_base.rstrip("/")
        self._api_key = settings.vapi_api_key.get_secret_value() if settings.vapi_api_key else ""
        register_secret(self._api_key)
        self._http = http or HttpClient(retries=0)

    def create_outbound_call(
        self,
        *,
        customer_number: str,
        phone_number_id: str,
        assistant_id: str | None = None,
        assistant: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> OutboundCall:
        """Ask Vapi to call ``customer_number`` from the shop's Vapi number with an assistant.

        Only the number is sent about the customer: Vapi needs it to dial, nothing else.
        """
        if (assistant_id is None) == (assistant is None):
            raise ValueError("give exactly one of assistant_id and assistant")
        if not self._api_key:
            raise PermanentError("SERA_VAPI_API_KEY is not set")
        body: dict[str, Any] = {
            "phoneNumberId": phone_number_id,
            "customer": {"number": normalize_phone(customer_number)},
        }
        body.update({"assistantId": assistant_id} if assistant_id else {"assistant": assistant})
        if name:
            body["name"] = name[:40]
        try:
            response = self._http.request(
                "POST", f"{self.base_url}/call", json=body, headers={"Authorization": f"Bearer {self._api_key}"}
            )
        except PermanentError as exc:
            raise PermanentError(f"Vapi refused the call: {_vapi_message(exc.body)}", exc.status, exc.body) from None
        try:
            call = _CallObject.model_validate_json(response.content)
        except ValidationError:
            # the call may exist at Vapi: trying again could ring the customer twice
            raise PermanentError("Vapi answered POST /call without a call object", response.status_code) from None
        return OutboundCall(call.id, call.status, call.phone_number_id)

    def phone_number_id(self, number: str) -> str | None:
        """Vapi's id of the account's phone number ``number`` (``GET /phone-number``), or None."""
        for row in self._get_list("/phone-number", {"limit": "1000"}):
            if row.get("number") == number and isinstance(row.get("id"), str):
                return str(row["id"])
        return None

    def recent_calls(self, *, phone_number_id: str, since: datetime, limit: int) -> list[tuple[str, str | None]]:
        """``(id, name)`` of the calls from that number created after ``since`` (``GET /call``)."""
        query = {
            "phoneNumberId": phone_number_id,
            "createdAtGt": since.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "limit": str(limit),
        }
        return [
            (str(row["id"]), row.get("name") if isinstance(row.get("name"), str) else None)
            for row in self._get_list("/call", query)
            if isinstance(row.get("id"), str)
        ]

    def delete_call(self, call_id: str) -> bool:
        """Delete a call with its recording, transcript and summary (``DELETE /call/{id}``).
        False when Vapi no longer has it (404)."""
        if not self._api_key:
            raise PermanentError("SERA_VAPI_API_KEY is not set")
        try:
            self._http.request(
                "DELETE",
                f"{self.base_url}/call/{quote(call_id, safe='')}",
                headers={"Authorization": f"Bearer {self._api_key}"},
            )
        except PermanentError as exc:
            if exc.status == 404:
                return False
            raise PermanentError(f"Vapi refused the deletion: {_vapi_message(exc.body)}", exc.status) from None
        return True

    def _get_list(self, path: str, query: dict[str, str]) -> list[dict[str, Any]]:
        if not self._api_key:
            raise PermanentError("SERA_VAPI_API_KEY is not set")
        response = self._http.request(
            "GET", f"{self.base_url}{path}", params=query, headers={"Authorization": f"Bearer {self._api_key}"}
        )
        try:
            rows = response.json()
        except ValueError:
            raise RetryableError(f"Vapi answered GET {path} with no JSON", response.status_code) from None
        if not isinstance(rows, list):
            raise RetryableError(f"Vapi answered GET {path} without a list", response.status_code)
        return [row for row in rows if isinstance(row, dict)]

    def close(self) -> None:
        self._http.close()


def _vapi_message(body: str) -> str:
    """Vapi's own explanation: ``message`` (a string, or a list of validation messages)."""
    try:
        document = json.loads(body)
    except ValueError:
        return "no explanation"
    message = document.get("message") if isinstance(document, dict) else None
    if isinstance(message, list):
        return "; ".join(str(item) for item in message[:5])
    return str(message or document.get("error") or "no explanation") if isinstance(document, dict) else "no explanation"
