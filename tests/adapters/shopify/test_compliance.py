"""Shopify's privacy requests and uninstalls are carried out, and completed, within 48 hours
(the controllable clock stands in for the hours in between)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from sera.access.api_keys import create_api_key
from sera.adapters.shopify.events import process_event
from sera.adapters.twilio.events import RecordingEvent
from sera.adapters.twilio.voice import recording_ready
from sera.bootstrap import Sera
from sera.calls.messages import record_message
from sera.calls.service import TranscriptLine, end_call, save_transcript, start_call
from sera.customers.service import find_or_create_customer
from sera.merchants.service import merchant_id_for_domain
from sera.privacy.copies import copies_of
from sera.storage.models import AuditEntry, Customer, Order, PrivacyRequest, ShopifyEvent, new_id
from tests.adapters.shopify.conftest import SHOP, SHOPPER_EMAIL, SHOPPER_NAME, SHOPPER_PHONE, load, post, row_counts
from tests.conftest import FakeClock
from tests.fakes.shopify_server import FakeShopify
from tests.fakes.twilio_server import TwilioServer

WITHIN = timedelta(hours=48)
TRANSCRIPT = "my gravel king is stuck in the big ring"


def seed_shopper(sera: Sera, merchant_id: str) -> str:
    """Harriet called the shop once and has a local order #1043; returns her customer id."""
    now = sera.clock()
    with sera.uow(merchant_id) as uow:
        customer = find_or_create_customer(uow, name=SHOPPER_NAME, phone=SHOPPER_PHONE, email=SHOPPER_EMAIL)
        call = start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="twilio",
            from_number=SHOPPER_PHONE,
            to_number="+13125550100",
            started_at=now - timedelta(minutes=4),
            customer_id=customer.id,
        )
        save_transcript(uow, call, [TranscriptLine("caller", TRANSCRIPT)])
        end_call(uow, call, ended_at=now, outcome="ticket")
        order = Order(id=new_id("ord"), merchant_id=merchant_id, number="5623418519745", placed_on=now.date())
        order.status, order.items = "shipped", []
        uow.session.add(order)
        uow.vault.seal(order, customer_name=SHOPPER_NAME, customer_phone="+13125550111", customer_email=None)
        uow.commit()
        return customer.id


def requests(sera: Sera, merchant_id: str) -> list[PrivacyRequest]:
    with sera.uow(merchant_id, readonly=True) as uow:
        return list(uow.session.execute(select(PrivacyRequest)).scalars())


def audit_actions(sera: Sera, merchant_id: str | None) -> list[str]:
    with sera.uow(readonly=True) as uow:
        rows = uow.session.execute(select(AuditEntry.action).where(AuditEntry.merchant_id == merchant_id))
        return list(rows.scalars())


def test_a_data_request_is_answered_within_48_hours(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera, clock: FakeClock
) -> None:
    seed_shopper(sera, installed)
    received = clock()
    assert post(client, fake_shopify, "customers/data_request", load("customers/data_request")).status_code == 200
    clock.advance(minutes=2)
    jobs.run_pending()

    (request,) = requests(sera, installed)
    assert request.status == "completed" and request.source == "shopify"
    assert request.completed_at is not None and request.completed_at - received < WITHIN
    key = create_api_key(sera, installed, role="admin", actor="test")
    export = client.get(
        f"/api/v1/privacy-requests/{request.id}/export", headers={"Authorization": f"Bearer {key}"}
    ).json()
    assert export["customer"]["name"] == SHOPPER_NAME
    assert export["calls"][0]["transcript"] == [{"role": "caller", "text": TRANSCRIPT}]


def test_a_redaction_erases_the_customer_and_the_named_orders_within_48_hours(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera, clock: FakeClock
) -> None:
    customer_id = seed_shopper(sera, installed)
    received = clock()
    assert post(client, fake_shopify, "customers/redact", load("customers/redact")).status_code == 200
    clock.advance(minutes=2)
    jobs.run_pending()

    (request,) = requests(sera, installed)
    assert request.type == "erasure" and request.status == "completed"
    assert request.completed_at is not None and request.completed_at - received < WITHIN
    assert sera.keystore.customer_keys(installed, [customer_id]) == {}
    with sera.uow(installed, readonly=True) as uow:
        assert uow.session.execute(select(Customer)).first() is None
        order = uow.session.execute(select(Order)).scalar_one()
        assert (order.customer_name, order.customer_phone, order.customer_id) == (None, None, None)
    assert "customer.erased" in audit_actions(sera, installed)


def test_redacting_a_customer_sera_never_saw_completes_as_an_audited_no_op(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera
) -> None:
    payload = load("customers/redact")
    payload["customer"] = {"id": 1234567, "email": "nobody@example.com", "phone": "+13125550199"}
    payload["orders_to_redact"] = []
    before = row_counts(sera)
    assert post(client, fake_shopify, "customers/redact", payload).status_code == 200
    jobs.run_pending()

    (request,) = requests(sera, installed)
    assert (request.status, request.customer_id) == ("completed", None)
    after = row_counts(sera)
    assert after["customers"] == before["customers"]
    with sera.uow(readonly=True) as uow:
        completed = uow.session.execute(
            select(AuditEntry).where(AuditEntry.action == "privacy_request.completed")
        ).scalar_one()
    assert completed.details == {"type": "erasure", "customer_found": False}


def test_a_redaction_job_run_twice_opens_one_request(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera
) -> None:
    seed_shopper(sera, installed)
    post(client, fake_shopify, "customers/redact", load("customers/redact"))
    with sera.uow(installed, readonly=True) as uow:
        event_id = uow.session.execute(select(ShopifyEvent.id)).scalar_one()
    assert process_event(sera, installed, event_id) == "erasure_completed"
    assert process_event(sera, installed, event_id) == "gone"
    jobs.run_pending()
    assert len(requests(sera, installed)) == 1


def test_shop_redact_deletes_the_shop_at_once(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera, clock: FakeClock
) -> None:
    seed_shopper(sera, installed)
    post(client, fake_shopify, "app/uninstalled", load("app/uninstalled"))
    jobs.run_pending()
    clock.advance(hours=2)
    post(client, fake_shopify, "shop/redact", load("shop/redact"))
    jobs.run_pending()

    assert merchant_id_for_domain(sera, SHOP) is None
    counts = row_counts(sera)
    assert counts["customers"] == counts["calls"] == counts["transcripts"] == counts["orders"] == 0
    assert sera.keystore.wrapping_key_ids() == {}  # the shop's key is gone: every backup is unreadable
    assert "shop.deleted" in audit_actions(sera, None)


def test_an_uninstalled_shop_is_deleted_within_48_hours(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera, clock: FakeClock
) -> None:
    seed_shopper(sera, installed)
    uninstalled = clock()
    post(client, fake_shopify, "app/uninstalled", load("app/uninstalled"))
    jobs.run_pending()

    clock.advance(hours=sera.settings.shopify_uninstall_grace_hours - 1)
    jobs.enqueue("shops.pending_deletion")
    jobs.run_pending()
    assert merchant_id_for_domain(sera, SHOP) == installed  # still inside the grace period

    deleted_at = None
    while clock() - uninstalled < WITHIN:  # the sweep runs every 10 minutes
        clock.advance(minutes=10)
        jobs.enqueue("shops.pending_deletion")
        jobs.run_pending()
        if merchant_id_for_domain(sera, SHOP) is None:
            deleted_at = clock()
            break
    assert deleted_at is not None and deleted_at - uninstalled < WITHIN
    assert row_counts(sera)["customers"] == 0
    assert sera.keystore.wrapping_key_ids() == {}


def test_the_uninstall_sweep_spares_active_and_other_shops(
    client: TestClient,
    fake_shopify: FakeShopify,
    installed: str,
    jobs: Any,
    sera: Sera,
    clock: FakeClock,
    personas: Any,
) -> None:
    clock.advance(hours=100)
    jobs.enqueue("shops.pending_deletion")
    jobs.run_pending()
    assert merchant_id_for_domain(sera, SHOP) == installed
    assert merchant_id_for_domain(sera, "northside-cycles.myshopify.com") == personas.northside_id


def test_compliance_webhooks_leave_no_personal_data_in_logs(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera, caplog: Any
) -> None:
    seed_shopper(sera, installed)
    with caplog.at_level("DEBUG"):
        for topic in ("customers/data_request", "customers/redact", "shop/redact"):
            post(client, fake_shopify, topic, load(topic))
            jobs.run_pending()
    for secret in (SHOPPER_EMAIL, SHOPPER_PHONE, SHOPPER_NAME, "3125550188"):
        assert secret not in caplog.text
    assert json.dumps(load("customers/redact")) not in caplog.text


# -- the copies at Twilio --------------------------------------------------------------------

TWILIO_ACCOUNT = "AC0f5ab0e7a4d2c1b8e9f6a3d4c2b1a0e9"
SHOP_NUMBER = "+13125550100"


@pytest.fixture
def fake_twilio(sera: Sera) -> Iterator[TwilioServer]:
    with TwilioServer() as fake:
        fake.add_account(TWILIO_ACCOUNT, "9f2c4e6a8b0d1f3e5a7c9b2d4f6e8a0c")
        sera.settings.twilio_account_sid = TWILIO_ACCOUNT
        sera.settings.twilio_auth_token = SecretStr("9f2c4e6a8b0d1f3e5a7c9b2d4f6e8a0c")
        sera.settings.twilio_api_base = fake.url
        yield fake


def seed_twilio_copies(sera: Sera, merchant_id: str, fake: TwilioServer, phone: str, customer_id: str) -> set[str]:
    """The shopper texted the shop and was recorded on a call: both are copies at Twilio."""
    call_sid = fake.incoming_call(TWILIO_ACCOUNT, caller=phone, to=SHOP_NUMBER)
    text_sid = fake.received_text(TWILIO_ACCOUNT, sender=phone, to=SHOP_NUMBER, body="has my order shipped")
    with sera.uow(merchant_id) as uow:
        start_call(
            uow,
            channel="voice",
            direction="inbound",
            provider="twilio",
            from_number=phone,
            to_number=SHOP_NUMBER,
            started_at=sera.clock(),
            customer_id=customer_id,
            provider_call_id=call_sid,
        )
        record_message(
            uow,
            direction="inbound",
            provider="twilio",
            provider_message_id=text_sid,
            body="has my order shipped",
            status="received",
            customer_id=customer_id,
            call_id=None,
            now=sera.clock(),
        )
        uow.commit()
    fake.set_status(call_sid, "completed")
    recording = fake.recorded(TWILIO_ACCOUNT, call_sid)
    url = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Recordings/{recording}"
    assert recording_ready(sera, merchant_id, RecordingEvent(call_sid, recording, "completed", url))
    return {text_sid, recording}


def test_a_redaction_deletes_the_shoppers_recording_and_texts_at_twilio(
    client: TestClient,
    fake_shopify: FakeShopify,
    fake_twilio: TwilioServer,
    installed: str,
    jobs: Any,
    sera: Sera,
    clock: FakeClock,
) -> None:
    shopper = seed_shopper(sera, installed)
    with sera.uow(installed) as uow:
        other = find_or_create_customer(uow, name="Priya Shah", phone="+13125550171").id
        uow.commit()
    hers = seed_twilio_copies(sera, installed, fake_twilio, SHOPPER_PHONE, shopper)
    theirs = seed_twilio_copies(sera, installed, fake_twilio, "+13125550171", other)
    received = clock()
    post(client, fake_shopify, "customers/redact", load("customers/redact"))
    clock.advance(minutes=2)
    jobs.run_pending()
    assert sorted(sid for _, sid in fake_twilio.state.deleted) == sorted(hers)
    assert all(fake_twilio.state.holds(sid) for sid in theirs)
    copies = copies_of(sera, installed, customer_id=shopper)
    assert all(c.deleted_at is not None and c.deleted_at - received < WITHIN for c in copies)
    assert "provider_copy.deleted" in audit_actions(sera, installed)


def test_shop_redact_deletes_every_copy_at_twilio(
    client: TestClient,
    fake_shopify: FakeShopify,
    fake_twilio: TwilioServer,
    installed: str,
    jobs: Any,
    sera: Sera,
    clock: FakeClock,
) -> None:
    shopper = seed_shopper(sera, installed)
    copies = seed_twilio_copies(sera, installed, fake_twilio, SHOPPER_PHONE, shopper)
    post(client, fake_shopify, "app/uninstalled", load("app/uninstalled"))
    jobs.run_pending()
    clock.advance(hours=2)
    post(client, fake_shopify, "shop/redact", load("shop/redact"))
    jobs.run_pending()
    assert merchant_id_for_domain(sera, SHOP) is None
    assert sorted(sid for _, sid in fake_twilio.state.deleted) == sorted(copies)
    assert {c.reason for c in copies_of(sera, installed)} == {"shop_deletion"}
