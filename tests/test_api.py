"""The merchant read API: keys, fields other programs rely on, pagination, filters, isolation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sera.access.api_keys import revoke_api_key
from sera.bootstrap import Sera
from sera.customers.service import create_customer
from sera.storage.models import ApiKey, AuditEntry
from tests.conftest import FakeClock, Personas
from tests.seed import CALLER_NAME, CALLER_PHONE, TRANSCRIPT_PHRASE, Seeded, seed_activity


@pytest.fixture
def client(sera: Sera) -> Iterator[TestClient]:
    from sera.web.app import create_app

    with TestClient(create_app(sera)) as test_client:
        yield test_client


@pytest.fixture
def seeded(sera: Sera, personas: Personas) -> Seeded:
    return seed_activity(sera, personas.northside_id)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


LISTS = ["appointments", "tickets", "calls", "customers", "privacy-requests"]


@pytest.mark.parametrize("path", LISTS)
def test_lists_need_a_valid_key(client: TestClient, personas: Personas, path: str) -> None:
    assert client.get(f"/api/v1/{path}").status_code == 401
    assert client.get(f"/api/v1/{path}", headers=_auth("sera_nope_nope")).status_code == 401
    assert client.get(f"/api/v1/{path}", headers={"Authorization": "Basic abc"}).status_code == 401
    wrong_secret = personas.owner_key[:-4] + "AAAA"
    response = client.get(f"/api/v1/{path}", headers=_auth(wrong_secret))
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get(f"/api/v1/{path}", headers=_auth(personas.teammate_key)).status_code == 200


def test_a_revoked_key_is_refused(client: TestClient, sera: Sera, personas: Personas) -> None:
    assert client.get("/api/v1/customers", headers=_auth(personas.owner_key)).status_code == 200
    prefix = personas.owner_key.split("_")[1]
    assert revoke_api_key(sera, personas.northside_id, prefix, actor="test")
    assert client.get("/api/v1/customers", headers=_auth(personas.owner_key)).status_code == 401


def test_keys_are_stored_only_as_hashes(sera: Sera, personas: Personas) -> None:
    with sera.uow(readonly=True) as uow:
        stored = repr([tuple(vars(k).values()) for k in uow.session.execute(select(ApiKey)).scalars()])
    assert personas.owner_key.split("_", 2)[2] not in stored


def test_customers_have_the_contract_fields(client: TestClient, personas: Personas, seeded: Seeded) -> None:
    body = client.get("/api/v1/customers", headers=_auth(personas.owner_key)).json()
    caller = next(c for c in body["data"] if c["id"] == seeded.customer_id)
    assert caller == {
        "id": seeded.customer_id,
        "name": CALLER_NAME,
        "phone": CALLER_PHONE,
        "email": "bart.quigley@example.com",
        "do_not_contact": False,
        "created_at": caller["created_at"],
        "sources": {},
    }
    names = {c["name"] for c in body["data"]}
    assert {"Priya Shah", "Marcus Lee", "Elena Rossi", "Tom Becker", CALLER_NAME} == names


def test_call_detail_has_its_transcript(client: TestClient, personas: Personas, seeded: Seeded) -> None:
    listed = client.get("/api/v1/calls", headers=_auth(personas.owner_key)).json()["data"]
    assert [c["id"] for c in listed] == [seeded.call_id]
    call = client.get(f"/api/v1/calls/{seeded.call_id}", headers=_auth(personas.owner_key)).json()
    assert {k: call[k] for k in ("channel", "direction", "from", "to", "duration_s", "outcome")} == {
        "channel": "voice",
        "direction": "inbound",
        "from": CALLER_PHONE,
        "to": "+13125550100",
        "duration_s": 180,
        "outcome": "ticket",
    }
    assert call["started_at"].endswith("+00:00") or call["started_at"].endswith("Z")
    assert TRANSCRIPT_PHRASE in call["transcript"][1]["text"]
    assert call["transcript"][0]["role"] == "agent"


def test_tickets_and_privacy_requests(client: TestClient, personas: Personas, seeded: Seeded) -> None:
    ticket = client.get("/api/v1/tickets", headers=_auth(personas.owner_key)).json()["data"][0]
    assert set(ticket) >= {
        "id",
        "subject",
        "description",
        "tags",
        "status",
        "created_at",
        "customer",
    }
    assert ticket["customer"]["name"] == CALLER_NAME and ticket["tags"] == ["repair"]
    request = client.get("/api/v1/privacy-requests", headers=_auth(personas.owner_key)).json()["data"][0]
    assert request["type"] == "access" and request["status"] == "pending"
    assert request["completed_at"] is None
    assert request["due_at"] > request["received_at"]


def test_pagination_walks_every_customer_once(
    client: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    with sera.uow(personas.northside_id) as uow:
        for i in range(23):
            clock.advance(minutes=1)
            create_customer(uow, name=f"Walker {i}", phone=f"+1312555{2000 + i}", now=clock())
        uow.commit()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/customers", params=params, headers=_auth(personas.owner_key)).json()
        seen += [c["name"] for c in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23 + 4
    assert seen[0] == "Walker 22"  # newest first


def test_date_filters(client: TestClient, sera: Sera, personas: Personas, clock: FakeClock) -> None:
    start = clock()
    with sera.uow(personas.northside_id) as uow:
        for i in range(3):
            create_customer(uow, name=f"Day {i}", now=start + timedelta(days=i + 1))
        uow.commit()
    since = (start + timedelta(days=2)).isoformat()
    until = (start + timedelta(days=3)).isoformat()
    body = client.get(
        "/api/v1/customers",
        params={"since": since, "until": until},
        headers=_auth(personas.owner_key),
    ).json()
    assert [c["name"] for c in body["data"]] == ["Day 1"]
    naive = client.get(
        "/api/v1/customers",
        params={"since": "2026-11-01T00:00:00"},
        headers=_auth(personas.owner_key),
    )
    assert naive.status_code == 422
    assert naive.json()["detail"][0]["loc"] == ["query", "since"]
    bad_cursor = client.get("/api/v1/customers", params={"cursor": "!!"}, headers=_auth(personas.owner_key))
    assert bad_cursor.status_code == 422
    assert bad_cursor.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_reads_of_personal_data_are_audited(client: TestClient, sera: Sera, personas: Personas, seeded: Seeded) -> None:
    client.get(f"/api/v1/calls/{seeded.call_id}", headers=_auth(personas.teammate_key))
    with sera.uow(readonly=True) as uow:
        entry = uow.session.execute(
            select(AuditEntry).where(AuditEntry.action == "api.read", AuditEntry.target_type == "call")
        ).scalar_one()
    assert entry.target_id == seeded.call_id
    assert entry.actor.startswith("api_key:key_")


# -- the outsider: every read path of another shop's data is a 404 or simply absent ------------


@pytest.mark.parametrize("path", LISTS)
def test_outsider_lists_show_none_of_northsides_data(
    client: TestClient, personas: Personas, seeded: Seeded, path: str
) -> None:
    body = client.get(f"/api/v1/{path}", headers=_auth(personas.outsider_key)).json()
    text = repr(body)
    assert CALLER_NAME not in text and "Priya" not in text
    ids = {seeded.customer_id, seeded.call_id, seeded.ticket_id, seeded.privacy_request_id}
    assert not ids & {item["id"] for item in body["data"]}


@pytest.mark.parametrize(
    ("path", "attr"),
    [
        ("customers", "customer_id"),
        ("calls", "call_id"),
        ("tickets", "ticket_id"),
        ("privacy-requests", "privacy_request_id"),
    ],
)
def test_outsider_gets_404_for_northsides_ids(
    client: TestClient, personas: Personas, seeded: Seeded, path: str, attr: str
) -> None:
    item_id = getattr(seeded, attr)
    assert client.get(f"/api/v1/{path}/{item_id}", headers=_auth(personas.owner_key)).status_code == 200
    response = client.get(f"/api/v1/{path}/{item_id}", headers=_auth(personas.outsider_key))
    assert response.status_code == 404


def test_operations_endpoints(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json()["database"] == "ok"
    client.get("/api/v1/customers")
    metrics = client.get("/metrics").text
    assert 'sera_http_requests_total{method="GET",route="/api/v1/customers",status="401"}' in metrics
    spec = client.get("/openapi.json").json()
    assert {"/api/v1/appointments", "/api/v1/calls/{call_id}", "/api/v1/privacy-requests"} <= set(spec["paths"])
    assert client.get("/healthz").headers["X-Request-ID"]
