"""Vapi as it calls Sera: recorded server messages (fixtures/<event-type>.json) posted to the app.

Every fixture is one call to the demo shop (+13125550100) from a caller Sera does not know
(+13125550177), on Friday 27 November 2026 around 10:00 in Chicago: the test clock's time.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import func, select

from sera.bootstrap import Sera
from sera.calls.service import CallView, get_call
from sera.storage.models import Call, Conversation, WebhookReceipt
from sera.web.app import create_app
from tests.conftest import Personas

FIXTURES = Path(__file__).parent / "fixtures"
SECRET = "vapi-shared-secret-7f3a9c2e5b"
CALL_ID = "4f1c2a9e-7b3d-4e6a-9c1f-2d8e5b7a3c10"
SHOP_NUMBER = "+13125550100"
HANDOFF = "+13125550199"
CALLER = "+13125550177"
URL = "/vapi/webhook"


def load(event_type: str) -> dict[str, Any]:
    """A fresh copy of the recorded message, to change freely."""
    document: dict[str, Any] = json.loads((FIXTURES / f"{event_type}.json").read_text())
    return copy.deepcopy(document)


def tool_calls(*calls: tuple[str, str, dict[str, Any] | str], call_id: str = CALL_ID) -> dict[str, Any]:
    """The tool-calls fixture with other tool calls: (toolCallId, name, arguments)."""
    payload = load("tool-calls")
    message = payload["message"]
    message["call"]["id"] = call_id
    message["toolCallList"] = [
        {"id": tid, "type": "function", "function": {"name": name, "arguments": args}} for tid, name, args in calls
    ]
    message["toolWithToolCallList"] = [
        {"type": "function", "function": {"name": name}, "toolCall": entry}
        for (_tid, name, _args), entry in zip(calls, message["toolCallList"], strict=True)
    ]
    return payload


@pytest.fixture
def vapi(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    """The app, with Sera's own Vapi secret set and the demo shops imported."""
    sera.settings.vapi_secret = SecretStr(SECRET)
    with TestClient(create_app(sera)) as client:
        yield client


def post(client: TestClient, payload: Any, *, secret: str | None = SECRET, bearer: bool = False) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers.update({"Authorization": f"Bearer {secret}"} if bearer else {"X-Vapi-Secret": secret})
    response: httpx.Response = client.post(URL, content=json.dumps(payload).encode(), headers=headers)
    return response


@dataclass(frozen=True)
class Stored:
    """What the database holds for the shop: counts, and the call record when there is one."""

    calls: int
    conversations: int
    receipts: int
    call: CallView | None
    conversation_status: str | None


def stored(sera: Sera, merchant_id: str, call_id: str = CALL_ID) -> Stored:
    with sera.uow(merchant_id, readonly=True) as uow:
        row = uow.session.execute(select(Call).where(Call.provider_call_id == call_id)).scalar_one_or_none()
        conversation = uow.session.execute(
            select(Conversation).where(Conversation.external_id == call_id)
        ).scalar_one_or_none()
        return Stored(
            calls=uow.session.execute(select(func.count()).select_from(Call)).scalar_one(),
            conversations=uow.session.execute(select(func.count()).select_from(Conversation)).scalar_one(),
            receipts=uow.session.execute(select(func.count()).select_from(WebhookReceipt)).scalar_one(),
            call=get_call(uow, row.id) if row is not None else None,
            conversation_status=conversation.status if conversation is not None else None,
        )


def sealed_field(sera: Sera, merchant_id: str, column: str, call_id: str = CALL_ID) -> tuple[bytes | None, str | None]:
    """A sealed column of the call record: as stored, and opened."""
    with sera.uow(merchant_id, readonly=True) as uow:
        row = uow.session.execute(select(Call).where(Call.provider_call_id == call_id)).scalar_one()
        return getattr(row, column), uow.vault.open(row, column)
