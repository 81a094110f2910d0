"""What Sera tells Vapi about a shop and a caller: what the call needs, and nothing more."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from sera.adapters.vapi.assistant import vapi_schema
from sera.agent.tools import TOOLS
from tests.adapters.vapi.conftest import load, post

# Every order customer in the demo shop file: names, phones, emails, and what they bought.
ORDER_CUSTOMERS = {
    "Priya Shah": ("+13125550142", "priya.shah@example.com"),
    "Marcus Lee": ("+13125550143", "marcus.lee@example.com"),
    "Elena Rossi": ("+13125550144", "elena.rossi@example.com"),
    "Tom Becker": ("+13125550146", "tom.becker@example.com"),
}
ORDER_DETAILS = ("1Z999AA10123456784", "794699999999", "1042", "1043", "1044", "1045", "1046")


def _assistant_text(client: TestClient, caller: str) -> str:
    payload = load("assistant-request")
    payload["message"]["customer"]["number"] = caller
    payload["message"]["call"]["customer"]["number"] = caller
    response = post(client, payload)
    assert response.status_code == 200
    return json.dumps(response.json())


def _personal_data() -> list[str]:
    found = []
    for name, (phone, email) in ORDER_CUSTOMERS.items():
        found += [*name.split(), phone, phone.removeprefix("+1"), email]
    return found


def test_the_assistant_holds_no_customer_data(vapi: TestClient) -> None:
    text = _assistant_text(vapi, "+13125550177")

    leaked = [value for value in _personal_data() + list(ORDER_DETAILS) if value in text]
    assert leaked == []


def test_a_recognised_caller_is_given_only_their_first_name(vapi: TestClient) -> None:
    text = _assistant_text(vapi, "+13125550142")  # Priya Shah calling

    assert "Priya" in text
    leaked = [value for value in _personal_data() + list(ORDER_DETAILS) if value in text and value != "Priya"]
    assert leaked == []


def test_tool_schemas_are_in_the_form_vapi_accepts() -> None:
    for tool in TOOLS:
        schema = vapi_schema(tool.parameters)
        text = json.dumps(schema)
        assert "additionalProperties" not in text
        assert schema["type"] == "object" and set(schema["required"]) <= set(schema["properties"])
        for prop in schema["properties"].values():
            assert prop["type"] != "array" or prop["items"] == {"type": "string"}
