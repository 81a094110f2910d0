"""The do-not-contact list in the merchant API: every listed number, customer or not, with how and
when it was listed; adding and removing (admins only, audited); finding customers by number."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from sera.agent.service import Agent, ConversationRef
from sera.audit import verify_chain
from sera.bootstrap import Sera
from sera.customers.service import add_do_not_contact, create_customer, find_customer, is_do_not_contact
from sera.storage.models import AuditEntry, DoNotContact, Merchant, new_id
from tests.conftest import FakeClock, Personas
from tests.seed import CALLER_NAME, CALLER_PHONE, Seeded, seed_activity

STRANGER = "+13125550188"  # not a customer of either shop
REASON = "asked us on the phone not to call again"


@pytest.fixture
def client(sera: Sera, personas: Personas) -> Iterator[TestClient]:
    from sera.web.app import create_app

    with TestClient(create_app(sera)) as test_client:
        yield test_client


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def listed(client: TestClient, key: str, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v1/do-not-contact", params=params, headers=_auth(key))
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def add(client: TestClient, key: str, phone: str, **extra: str) -> Any:
    return client.post("/api/v1/do-not-contact", json={"phone": phone, **extra}, headers=_auth(key))


def audit_entries(sera: Sera, merchant_id: str, action: str) -> list[AuditEntry]:
    with sera.uow(readonly=True) as uow:
        query = select(AuditEntry).where(AuditEntry.merchant_id == merchant_id, AuditEntry.action == action)
        return list(uow.session.execute(query.order_by(AuditEntry.position)).scalars())


def test_add_and_remove_round_trip(client: TestClient, sera: Sera, personas: Personas, clock: FakeClock) -> None:
    created = add(client, personas.owner_key, "(312) 555-0188", reason=REASON)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert {k: entry[k] for k in ("phone", "source", "reason", "customer_id")} == {
        "phone": STRANGER,  # normalised to E.164
        "source": "api",
        "reason": REASON,
        "customer_id": None,
    }
    assert datetime.fromisoformat(entry["created_at"]) == clock()
    assert listed(client, personas.owner_key) == [entry]
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert is_do_not_contact(uow, STRANGER)  # what every channel checks before contacting

    clock.advance(hours=1)
    again = add(client, personas.owner_key, STRANGER, reason="another reason")
    assert again.status_code == 200
    assert again.json() == entry  # harmless: same entry, time and reason kept
    assert len(listed(client, personas.owner_key)) == 1

    assert client.delete(f"/api/v1/do-not-contact/{STRANGER}", headers=_auth(personas.owner_key)).status_code == 204
    assert listed(client, personas.owner_key) == []
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert not is_do_not_contact(uow, STRANGER)
    missing = client.delete(f"/api/v1/do-not-contact/{STRANGER}", headers=_auth(personas.owner_key))
    assert missing.status_code == 404


def test_an_entry_can_be_removed_by_its_id(client: TestClient, personas: Personas) -> None:
    entry_id = add(client, personas.owner_key, STRANGER).json()["id"]
    assert client.delete(f"/api/v1/do-not-contact/{entry_id}", headers=_auth(personas.owner_key)).status_code == 204
    assert listed(client, personas.owner_key) == []
    gone = client.delete(f"/api/v1/do-not-contact/{entry_id}", headers=_auth(personas.owner_key))
    assert gone.status_code == 404


def test_a_number_is_normalised_for_the_shops_country(client: TestClient, sera: Sera, personas: Personas) -> None:
    with sera.uow() as uow:
        uow.session.execute(update(Merchant).where(Merchant.id == personas.northside_id).values(locale="en-GB"))
        uow.commit()
    assert add(client, personas.owner_key, "07400 123456").json()["phone"] == "+447400123456"
    assert add(client, personas.owner_key, "+1 312 555 0188").json()["phone"] == STRANGER  # E.164 is any country's


@pytest.mark.parametrize("phone", ["12", "not a number", "+1 312 555 01", ""])
def test_an_invalid_number_is_a_422_naming_the_field(client: TestClient, personas: Personas, phone: str) -> None:
    response = add(client, personas.owner_key, phone)
    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "phone"]
    assert listed(client, personas.owner_key) == []


def test_other_invalid_requests_are_422s(client: TestClient, personas: Personas) -> None:
    headers = _auth(personas.owner_key)
    no_phone = client.post("/api/v1/do-not-contact", json={"reason": REASON}, headers=headers)
    assert no_phone.status_code == 422 and no_phone.json()["detail"][0]["loc"] == ["body", "phone"]
    unknown_field = client.post("/api/v1/do-not-contact", json={"phone": STRANGER, "name": "x"}, headers=headers)
    assert unknown_field.status_code == 422
    bad_path = client.delete("/api/v1/do-not-contact/555", headers=headers)
    assert bad_path.status_code == 422 and bad_path.json()["detail"][0]["loc"] == ["path", "phone"]
    bad_query = client.get("/api/v1/customers", params={"phone": "555"}, headers=headers)
    assert bad_query.status_code == 422 and bad_query.json()["detail"][0]["loc"] == ["query", "phone"]
    assert "555" not in bad_query.text  # the number is not echoed back


def test_pagination_walks_every_number_once(
    client: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    with sera.uow(personas.northside_id) as uow:
        for i in range(23):
            clock.advance(minutes=1)
            add_do_not_contact(uow, f"+1312555{3000 + i}", source="sms", now=clock())
        uow.commit()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = client.get("/api/v1/do-not-contact", params=params, headers=_auth(personas.owner_key)).json()
        assert len(body["data"]) <= 10
        seen += [e["phone"] for e in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 23
    assert seen[0] == "+13125553022" and seen[-1] == "+13125553000"  # newest first
    since = (clock() - timedelta(minutes=1, seconds=30)).isoformat()
    assert [e["phone"] for e in listed(client, personas.owner_key, since=since)] == ["+13125553022", "+13125553021"]
    bad_cursor = client.get("/api/v1/do-not-contact", params={"cursor": "!!"}, headers=_auth(personas.owner_key))
    assert bad_cursor.status_code == 422


def test_a_voice_caller_who_objects_is_listed_with_the_source(
    client: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    agent = Agent(sera)
    ref = ConversationRef(personas.northside_id, "voice", uuid.uuid4().hex)
    agent.start(ref, caller_phone=STRANGER)
    assert agent.reply(ref, "don't ever call me again").ended
    [entry] = listed(client, personas.owner_key)
    assert (entry["phone"], entry["source"]) == (STRANGER, "agent:voice")
    assert datetime.fromisoformat(entry["created_at"]) == clock()


# -- who may do what --------------------------------------------------------------------------------


def test_a_viewer_reads_the_list_but_cannot_change_it(client: TestClient, personas: Personas) -> None:
    add(client, personas.owner_key, STRANGER)
    assert [e["phone"] for e in listed(client, personas.teammate_key)] == [STRANGER]
    assert add(client, personas.teammate_key, "+13125550189").status_code == 403
    removed = client.delete(f"/api/v1/do-not-contact/{STRANGER}", headers=_auth(personas.teammate_key))
    assert removed.status_code == 403
    assert [e["phone"] for e in listed(client, personas.owner_key)] == [STRANGER]


def test_the_list_needs_a_valid_key(client: TestClient) -> None:
    assert client.get("/api/v1/do-not-contact").status_code == 401
    assert client.post("/api/v1/do-not-contact", json={"phone": STRANGER}).status_code == 401
    assert client.delete(f"/api/v1/do-not-contact/{STRANGER}").status_code == 401


def test_an_outsider_never_sees_or_changes_another_shops_list(
    client: TestClient, sera: Sera, personas: Personas
) -> None:
    northside_entry = add(client, personas.owner_key, STRANGER, reason=REASON).json()
    assert listed(client, personas.outsider_key) == []
    for target in (STRANGER, northside_entry["id"]):
        response = client.delete(f"/api/v1/do-not-contact/{target}", headers=_auth(personas.outsider_key))
        assert response.status_code == 404
    assert listed(client, personas.owner_key) == [northside_entry]

    # The same number on the outsider's own list is their entry, not Northside's.
    theirs = add(client, personas.outsider_key, STRANGER)
    assert theirs.status_code == 201 and theirs.json()["id"] != northside_entry["id"]
    assert client.delete(f"/api/v1/do-not-contact/{STRANGER}", headers=_auth(personas.outsider_key)).status_code == 204
    assert listed(client, personas.owner_key) == [northside_entry]
    assert REASON not in repr(listed(client, personas.outsider_key))
    with sera.uow(personas.southside_id, readonly=True) as uow:
        assert not is_do_not_contact(uow, STRANGER)


# -- audit and storage ------------------------------------------------------------------------------


def test_reads_and_changes_are_audited_without_the_number(client: TestClient, sera: Sera, personas: Personas) -> None:
    entry_id = add(client, personas.owner_key, STRANGER, reason=REASON).json()["id"]
    add(client, personas.owner_key, STRANGER)
    listed(client, personas.teammate_key)
    client.delete(f"/api/v1/do-not-contact/{STRANGER}", headers=_auth(personas.owner_key))

    added = audit_entries(sera, personas.northside_id, "do_not_contact.added")
    assert [(e.target_type, e.target_id, e.details) for e in added] == [
        ("do_not_contact", entry_id, {"source": "api", "created": True}),
        ("do_not_contact", entry_id, {"source": "api", "created": False}),
    ]
    [read] = [e for e in audit_entries(sera, personas.northside_id, "api.read") if e.target_type == "do_not_contact"]
    assert (read.target_id, read.details) == (entry_id, {"count": 1})
    [removed] = audit_entries(sera, personas.northside_id, "do_not_contact.removed")
    assert removed.target_id == entry_id
    assert added[0].actor.startswith("api_key:key_") and read.actor.startswith("api_key:key_")
    assert read.actor != added[0].actor  # the teammate read, the owner wrote
    everything = repr([(e.target_id, e.details) for e in [*added, read, removed]])
    assert "5550188" not in everything and REASON not in everything
    with sera.uow(readonly=True) as uow:
        assert verify_chain(uow.session, personas.northside_id).ok


def test_the_number_and_reason_are_sealed_at_rest(client: TestClient, sera: Sera, personas: Personas) -> None:
    add(client, personas.owner_key, STRANGER, reason=REASON)
    with sera.db.engine.connect() as conn:
        row = conn.execute(select(DoNotContact.__table__)).one()
    stored = repr(tuple(row)).encode() + b"".join(bytes(v) for v in row if isinstance(v, bytes | memoryview))
    assert b"5550188" not in stored and REASON.encode() not in stored
    assert row.phone is not None and row.reason is not None


def test_erasing_a_customer_clears_their_number_but_keeps_it_blocked(
    client: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    with sera.uow(personas.northside_id) as uow:
        add_do_not_contact(uow, STRANGER, source="sms", now=clock())  # listed before they were a customer
        customer = create_customer(uow, name="Dana Later", phone=STRANGER)
        add_do_not_contact(uow, "+13125550189", source="sms", now=clock())
        linked = create_customer(uow, name="Lee Linked", phone="+13125550189")
        uow.commit()
    add(client, personas.owner_key, "+13125550189")
    for person in (customer, linked):
        assert client.delete(f"/api/v1/customers/{person.id}", headers=_auth(personas.owner_key)).status_code == 204
    assert sorted((e["phone"], e["source"]) for e in listed(client, personas.owner_key)) == [
        (None, "sms"),
        (None, "sms"),
    ]
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert is_do_not_contact(uow, STRANGER) and is_do_not_contact(uow, "+13125550189")


def test_an_entry_from_before_numbers_were_kept_shows_its_customers_number(
    client: TestClient, sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    with sera.uow(personas.northside_id) as uow:
        customer = create_customer(uow, name="Old Objector", phone=STRANGER)
        uow.session.add(  # as migration 0007 leaves an entry: the blind index only
            DoNotContact(
                id=new_id("dnc"),
                merchant_id=personas.northside_id,
                phone_bidx=uow.vault.phone_index(personas.northside_id, STRANGER),
                customer_id=customer.id,
                source="sms",
                created_at=clock(),
            )
        )
        uow.commit()
    [entry] = listed(client, personas.owner_key)
    assert (entry["phone"], entry["customer_id"]) == (STRANGER, customer.id)
    assert add(client, personas.owner_key, STRANGER).status_code == 200  # and listing it again seals the number
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert uow.session.execute(select(DoNotContact.phone)).scalar_one() is not None


# -- customers by number ----------------------------------------------------------------------------


def test_customers_are_found_by_phone(client: TestClient, sera: Sera, personas: Personas) -> None:
    seeded: Seeded = seed_activity(sera, personas.northside_id)
    for written in (CALLER_PHONE, "(312) 555-0177", "312-555-0177"):
        body = client.get("/api/v1/customers", params={"phone": written}, headers=_auth(personas.owner_key)).json()
        assert [(c["id"], c["name"], c["phone"]) for c in body["data"]] == [
            (seeded.customer_id, CALLER_NAME, CALLER_PHONE)
        ]
    nobody = client.get("/api/v1/customers", params={"phone": STRANGER}, headers=_auth(personas.owner_key))
    assert nobody.json() == {"data": [], "next_cursor": None}
    outsider = client.get("/api/v1/customers", params={"phone": CALLER_PHONE}, headers=_auth(personas.outsider_key))
    assert outsider.json()["data"] == []
    reads = [e for e in audit_entries(sera, personas.northside_id, "api.read") if e.target_type == "customer"]
    assert {(e.target_id, e.details["count"]) for e in reads} == {(seeded.customer_id, 1), (None, 0)}


def test_a_customer_on_the_list_shows_it(client: TestClient, sera: Sera, personas: Personas) -> None:
    with sera.uow(personas.northside_id) as uow:
        customer = create_customer(uow, name="Ria Listed", phone=STRANGER)
        uow.commit()
    entry = add(client, personas.owner_key, STRANGER).json()
    assert entry["customer_id"] == customer.id
    [found] = client.get("/api/v1/customers", params={"phone": STRANGER}, headers=_auth(personas.owner_key)).json()[
        "data"
    ]
    assert found["do_not_contact"] is True
    with sera.uow(personas.northside_id, readonly=True) as uow:
        assert find_customer(uow, phone=STRANGER) is not None


def test_the_openapi_document_describes_the_list(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    listing = spec["paths"]["/api/v1/do-not-contact"]
    assert set(listing) >= {"get", "post"}
    post = listing["post"]["responses"]
    for status in ("200", "201"):
        assert post[status]["content"]["application/json"]["schema"]["$ref"].endswith("/DoNotContactOut")
    assert "422" in post
    assert "delete" in spec["paths"]["/api/v1/do-not-contact/{phone}"]
    get_schema = listing["get"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert "DoNotContactOut" in get_schema
    fields = spec["components"]["schemas"]["DoNotContactOut"]["properties"]
    assert {"id", "phone", "source", "reason", "customer_id", "created_at"} <= set(fields)
    params = {p["name"] for p in spec["paths"]["/api/v1/customers"]["get"]["parameters"]}
    assert "phone" in params
