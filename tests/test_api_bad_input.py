"""Input no field can hold is a 4xx naming the field, wherever it enters, and nothing is written.

The first two tests are the server errors an outside schemathesis run found; the rest are
the class they belong to: every text field of every write, the path, the query.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from sera.bootstrap import Sera
from sera.storage.models import AuditEntry, Customer, DoNotContact, PrivacyRequest
from tests.conftest import Personas
from tests.seed import Seeded, seed_activity

# Not storable: NUL, an escape character, a C1 control, a lone surrogate (as JSON sends it).
UNSTORABLE = ["a\x00b", "a\x1bb", "a\x84b", "a\ud800b"]


@pytest.fixture
def client(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    from sera.web.app import create_app

    with TestClient(create_app(sera)) as test_client:
        yield test_client


@pytest.fixture
def seeded(sera: Sera, personas: Personas) -> Seeded:
    return seed_activity(sera, personas.northside_id)


JSON = {"Content-Type": "application/json"}


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **JSON}


def _rows(sera: Sera) -> dict[str, int]:
    with sera.uow(readonly=True) as uow:
        return {
            model.__tablename__: uow.session.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (PrivacyRequest, Customer, DoNotContact, AuditEntry)
        }


def _json(body: dict[str, Any]) -> str:
    """JSON as a client sends it: a lone surrogate travels as its escape, e.g. "\\ud800"."""
    return json.dumps(body)


def test_the_calendar_feed_with_odd_bytes_in_its_path_is_a_client_error(client: TestClient) -> None:
    found = "/calendar/__main__/%C3%A6%C2%97%C3%B2%F1%B2%85%AC%01%10%F2%85%A4%B3%23.ics"
    response = client.get(found)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "token"]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(merchant=st.binary(min_size=1, max_size=20), token=st.binary(min_size=1, max_size=50))
def test_the_calendar_feed_answers_any_path_with_a_client_error(
    client: TestClient, merchant: bytes, token: bytes
) -> None:
    response = client.get(f"/calendar/{quote(merchant, safe='')}/{quote(token, safe='')}.ics")
    assert response.status_code in {404, 422}, response.text


def test_a_privacy_request_with_control_and_astral_characters_is_refused_whole(
    client: TestClient, sera: Sera, personas: Personas
) -> None:
    found = {
        "email": "hannah.cole@example.com",
        "phone": "\u008aBFA\u00f2F\u00be\u00c9\u0089]\u0080\ud9ff\udc89^\u00c5\u001e",
        "type": "correction",
        "details": "S^\udba5\udc4b\u0084",
        "customer_id": None,
    }
    before = _rows(sera)
    response = client.post("/api/v1/privacy-requests", content=_json(found), headers=_auth(personas.owner_key))
    assert response.status_code == 422
    assert {tuple(error["loc"]) for error in response.json()["detail"]} == {("body", "phone"), ("body", "details")}
    assert _rows(sera) == before
    astral = {"type": "access", "email": "hannah.cole@example.com", "details": "S^\U000f944b 🚲 line\nbreak"}
    response = client.post("/api/v1/privacy-requests", content=_json(astral), headers=_auth(personas.owner_key))
    assert response.status_code == 201, response.text  # characters beyond the first plane are text like any other


WRITES = [
    ("post", "/api/v1/privacy-requests", {"type": "access"}, ["phone", "email", "details", "customer_id"]),
    ("patch", "/api/v1/customers/{customer_id}", {}, ["name", "phone", "email"]),
    ("post", "/api/v1/do-not-contact", {"phone": "+13125550188"}, ["phone", "reason"]),
]


@pytest.mark.parametrize("value", UNSTORABLE)
@pytest.mark.parametrize(("method", "path", "body", "fields"), WRITES)
def test_every_text_field_refuses_what_cannot_be_stored(
    client: TestClient,
    sera: Sera,
    personas: Personas,
    seeded: Seeded,
    method: str,
    path: str,
    body: dict[str, str],
    fields: list[str],
    value: str,
) -> None:
    url = path.format(customer_id=seeded.customer_id)
    before = _rows(sera)
    for field in fields:
        response = client.request(method, url, content=_json({**body, field: value}), headers=_auth(personas.owner_key))
        assert response.status_code == 422, (field, response.text)
        assert ["body", field] in [error["loc"] for error in response.json()["detail"]], response.text
    assert _rows(sera) == before


@pytest.mark.parametrize("value", UNSTORABLE)
def test_the_try_page_refuses_what_cannot_be_stored(client: TestClient, sera: Sera, value: str) -> None:
    for field in ("shop", "caller_phone"):
        response = client.post("/try/conversations", content=_json({field: value}), headers=JSON)
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["body", field]
    conversation = client.post("/try/conversations", json={}).json()["conversation_id"]
    before = _rows(sera)
    response = client.post(f"/try/conversations/{conversation}/messages", content=_json({"text": value}), headers=JSON)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "text"]
    assert _rows(sera) == before


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/v1/customers?phone=%00", "phone"),
        ("/api/v1/customers?cursor=%00", "cursor"),
        ("/api/v1/customers?until=0.5", "until"),
        ("/api/v1/usage?since=0", "since"),
        ("/api/v1/outbound?since=2026-11-01T09:00:00", "since"),
        ("/api/v1/outbound/actions?customer_id=%C3%A6", "customer_id"),
        ("/api/v1/customers/cus_%00", "customer_id"),
        ("/api/v1/calls/%F0%9F%9A%B2", "call_id"),
        ("/api/v1/do-not-contact/%0A", "phone"),
    ],
)
def test_query_and_path_values_are_checked_before_anything_is_read(
    client: TestClient, personas: Personas, url: str, field: str
) -> None:
    method = "delete" if url.startswith("/api/v1/do-not-contact/") else "get"
    response = client.request(method, url, headers=_auth(personas.owner_key))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][-1] == field


def test_a_cursor_that_decodes_to_something_else_is_refused(client: TestClient, personas: Personas) -> None:
    """Well-formed base64 and JSON, but not a position: a NUL id, a naive time, a number."""
    import base64

    for inside in (["2026-11-27T16:00:00+00:00", "cus_\u0000"], ["2026-11-27T16:00:00", "cus_1"], [1, 2]):
        cursor = base64.urlsafe_b64encode(json.dumps(inside).encode()).decode().rstrip("=")
        response = client.get("/api/v1/customers", params={"cursor": cursor}, headers=_auth(personas.owner_key))
        assert response.status_code == 422, inside
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]
