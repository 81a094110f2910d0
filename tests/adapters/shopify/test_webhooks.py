"""One test per webhook topic (the recorded payload, signed as Shopify signs it), and the
bad deliveries: a wrong HMAC, an unknown shop, a duplicate, an unknown topic."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sera.bootstrap import Sera
from sera.merchants.service import merchant_id_for_domain
from sera.storage.models import (
    AuditEntry,
    Checkout,
    Consent,
    Customer,
    Merchant,
    PrivacyRequest,
    Product,
    ShopifyEvent,
)
from tests.adapters.shopify.conftest import (
    API_SECRET,
    SHOP,
    SHOPIFY_CUSTOMER,
    SHOPPER_EMAIL,
    SHOPPER_NAME,
    SHOPPER_PHONE,
    load,
    post,
    row_counts,
)
from tests.fakes.shopify_server import FakeShopify

TOPICS = [
    "app/uninstalled",
    "checkouts/create",
    "checkouts/update",
    "orders/create",
    "orders/updated",
    "products/create",
    "products/update",
    "products/delete",
    "customers/data_request",
    "customers/redact",
    "shop/redact",
]


def deliver(client: TestClient, fake: FakeShopify, jobs: Any, topic: str, payload: Any = None) -> None:
    response = post(client, fake, topic, load(topic) if payload is None else payload)
    assert response.status_code == 200, response.text
    jobs.run_pending()


def checkout(sera: Sera, merchant_id: str) -> tuple[Checkout, dict[str, str | None]]:
    with sera.uow(merchant_id, readonly=True) as uow:
        row = uow.session.execute(select(Checkout)).scalar_one()
        return row, uow.vault.open_many(row, "name", "phone", "email", "recovery_url")


# -- one test per topic --------------------------------------------------------------------------


def test_app_uninstalled(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    deliver(client, fake_shopify, jobs, "app/uninstalled")
    with sera.uow(installed, readonly=True) as uow:
        merchant = uow.session.execute(select(Merchant)).scalar_one()
        assert merchant.status == "uninstalled"
        assert merchant.uninstalled_at == datetime(2026, 11, 27, 16, 0, tzinfo=UTC)
        assert uow.session.execute(select(ShopifyEvent)).first() is None


def test_checkouts_create(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    deliver(client, fake_shopify, jobs, "checkouts/create")
    row, fields = checkout(sera, installed)
    assert fields == {
        "name": SHOPPER_NAME,
        "phone": SHOPPER_PHONE,
        "email": SHOPPER_EMAIL,
        "recovery_url": load("checkouts/create")["abandoned_checkout_url"],
    }
    assert (row.external_id, row.token, row.total_cents, row.currency, row.completed_at) == (
        "29817361154241",
        "7f8e1d9c2b3a4f5e6d7c8b9a0f1e2d3c",
        117800,
        "USD",
        None,
    )
    assert row.items == [
        {"title": "Gravel King 54", "quantity": 1, "price_cents": 114900},
        {"title": "Bottle Cage", "quantity": 2, "price_cents": 1450},
    ]
    with sera.uow(installed, readonly=True) as uow:
        customer = uow.session.execute(select(Customer)).scalar_one()
        assert row.customer_id == customer.id and customer.external_id == SHOPIFY_CUSTOMER
        consents = {(c.channel, c.granted) for c in uow.session.execute(select(Consent)).scalars()}
    assert consents == {("sms", True), ("email", False)}


def test_checkouts_update(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    deliver(client, fake_shopify, jobs, "checkouts/create")
    deliver(client, fake_shopify, jobs, "checkouts/update")
    row, fields = checkout(sera, installed)
    assert row.items == [{"title": "Gravel King 54", "quantity": 1, "price_cents": 114900}]
    assert row.total_cents == 114900
    assert row.provider_updated_at == datetime(2026, 11, 27, 15, 44, 30, tzinfo=UTC)
    assert fields["phone"] == SHOPPER_PHONE
    with sera.uow(installed, readonly=True) as uow:
        assert len(uow.session.execute(select(Consent)).all()) == 2  # unchanged consent is not recorded again


def test_orders_create(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    deliver(client, fake_shopify, jobs, "checkouts/create")
    deliver(client, fake_shopify, jobs, "orders/create")
    row, _ = checkout(sera, installed)
    assert row.completed_at == datetime(2026, 11, 27, 16, 5, 11, tzinfo=UTC)
    assert row.order_ref == "5623418519745"


def test_an_order_after_a_recovery_text_is_announced_once_as_checkout_recovered(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera
) -> None:
    from sera.integrations.webhooks import create_endpoint
    from sera.outbound.drafts import RECOVERY, recovery_key
    from sera.storage.models import OutboundAction, WebhookDelivery, new_id

    deliver(client, fake_shopify, jobs, "checkouts/create")
    row, _ = checkout(sera, installed)
    with sera.uow(installed) as uow:
        create_endpoint(
            uow,
            "https://crm.example/hooks",
            ["checkout.recovered"],
            actor="test",
            allow_private=False,
            require_https=True,
        )
        texted = datetime(2026, 11, 27, 15, 50, tzinfo=UTC)  # the order comes at 16:05:11
        uow.session.add(
            OutboundAction(
                id=new_id("out"), merchant_id=installed, kind=RECOVERY, channel="sms", subject_id=row.id, status="sent",
                due_at=texted, idempotency_key=recovery_key(row.id, 1), created_at=texted, updated_at=texted,
                sent_at=texted,
            )
        )  # fmt: skip
        uow.commit()
    deliver(client, fake_shopify, jobs, "orders/create")
    deliver(client, fake_shopify, jobs, "orders/updated")  # the same order again: no second announcement
    with sera.uow(installed, readonly=True) as uow:
        [event] = uow.session.execute(select(WebhookDelivery)).scalars().all()
        body = json.loads(uow.vault.open(event, "payload") or "{}")
    assert event.event_type == "checkout.recovered"
    assert body["data"]["checkout_id"] == row.id and body["data"]["order"] == "5623418519745"
    assert set(body["data"]) == {"checkout_id", "order", "amount", "currency", "outbound_message_id", "completed_at"}


def test_orders_updated(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    """The order came first (webhooks are not ordered); the checkout's own update cannot reopen it."""
    deliver(client, fake_shopify, jobs, "orders/updated")
    deliver(client, fake_shopify, jobs, "checkouts/update")
    row, fields = checkout(sera, installed)
    assert row.completed_at is not None and row.order_ref == "5623418519745"
    assert fields["email"] == SHOPPER_EMAIL


def test_products_create(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    with sera.uow(installed, readonly=True) as uow:
        version = uow.session.execute(select(Merchant.updated_at)).scalar_one()
    deliver(client, fake_shopify, jobs, "products/create")
    with sera.uow(installed, readonly=True) as uow:
        product = uow.session.execute(select(Product)).scalar_one()
        assert uow.session.execute(select(Merchant.updated_at)).scalar_one() > version
    assert (product.external_id, product.title, product.sku, product.price_cents, product.in_stock) == (
        "7985240195265",
        "Gravel King 54",
        "LB-GK-54-MOSS",
        114900,
        True,
    )
    assert product.description == "Steel gravel frame, 2×11 drivetrain & 45mm tyre clearance."


def test_products_update(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    deliver(client, fake_shopify, jobs, "products/create")
    deliver(client, fake_shopify, jobs, "products/update")
    with sera.uow(installed, readonly=True) as uow:
        product = uow.session.execute(select(Product)).scalar_one()
    assert (product.title, product.price_cents, product.in_stock) == ("Gravel King 54 (2027)", 109900, False)


def test_products_delete(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    deliver(client, fake_shopify, jobs, "products/create")
    deliver(client, fake_shopify, jobs, "products/delete")
    with sera.uow(installed, readonly=True) as uow:
        assert uow.session.execute(select(Product)).first() is None


def test_customers_data_request(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera
) -> None:
    deliver(client, fake_shopify, jobs, "checkouts/create")
    deliver(client, fake_shopify, jobs, "customers/data_request")
    with sera.uow(installed, readonly=True) as uow:
        request = uow.session.execute(select(PrivacyRequest)).scalar_one()
        export = json.loads(uow.vault.open(request, "result") or "{}")
    assert (request.type, request.status, request.source) == ("access", "completed", "shopify")
    assert export["customer"]["email"] == SHOPPER_EMAIL and export["customer"]["phone"] == SHOPPER_PHONE


def test_customers_redact(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    deliver(client, fake_shopify, jobs, "checkouts/create")
    with sera.uow(installed, readonly=True) as uow:
        customer_id = uow.session.execute(select(Customer.id)).scalar_one()
    deliver(client, fake_shopify, jobs, "customers/redact")
    with sera.uow(installed, readonly=True) as uow:
        assert uow.session.execute(select(Customer)).first() is None
        assert uow.session.execute(select(Checkout)).first() is None
        request = uow.session.execute(select(PrivacyRequest)).scalar_one()
    assert (request.type, request.status, request.source) == ("erasure", "completed", "shopify")
    assert sera.keystore.customer_keys(installed, [customer_id]) == {}


def test_shop_redact(client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera) -> None:
    deliver(client, fake_shopify, jobs, "checkouts/create")
    deliver(client, fake_shopify, jobs, "app/uninstalled")
    deliver(client, fake_shopify, jobs, "shop/redact")
    assert merchant_id_for_domain(sera, SHOP) is None
    counts = row_counts(sera)
    assert counts["checkouts"] == counts["customers"] == counts["shopify_events"] == 0
    with sera.uow(readonly=True) as uow:
        deleted = uow.session.execute(select(AuditEntry).where(AuditEntry.action == "shop.deleted")).scalar_one()
    assert deleted.target_id == installed


# -- bad deliveries ------------------------------------------------------------------------------


@pytest.mark.parametrize("topic", TOPICS)
def test_a_wrong_signature_is_401_and_nothing_is_done(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera, topic: str
) -> None:
    before = row_counts(sera)
    body, headers = fake_shopify.webhook(topic, load(topic), SHOP)
    for bad in (
        {
            **headers,
            "X-Shopify-Hmac-Sha256": fake_shopify.webhook(topic, load(topic), SHOP, secret="wrong")[1][
                "X-Shopify-Hmac-Sha256"
            ],
        },
        {k: v for k, v in headers.items() if k != "X-Shopify-Hmac-Sha256"},
        {**headers, "X-Shopify-Hmac-Sha256": ""},
    ):
        assert client.post("/shopify/webhooks", content=body, headers=bad).status_code == 401
    tampered = body.replace(b"Lakeside", b"Lakesidd") if b"Lakeside" in body else body + b" "
    assert client.post("/shopify/webhooks", content=tampered, headers=headers).status_code == 401
    assert jobs.run_pending() == 0
    assert row_counts(sera) == before


def test_an_unknown_shop_is_acknowledged_and_ignored(
    client: TestClient,
    fake_shopify: FakeShopify,
    installed: str,
    jobs: Any,
    sera: Sera,
    caplog: pytest.LogCaptureFixture,
) -> None:
    before = row_counts(sera)
    with caplog.at_level(logging.INFO, logger="sera.shopify"):
        response = post(client, fake_shopify, "customers/redact", load("customers/redact"), shop="gone.myshopify.com")
    assert response.status_code == 200
    assert jobs.run_pending() == 0
    assert row_counts(sera) == before
    assert any(r.getMessage() == "shopify webhook for an unknown shop" for r in caplog.records)
    assert SHOPPER_EMAIL not in caplog.text and SHOPPER_PHONE not in caplog.text


def test_a_duplicate_delivery_acts_once(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera
) -> None:
    for _ in range(3):
        assert (
            post(client, fake_shopify, "customers/redact", load("customers/redact"), event_id="evt-1").status_code
            == 200
        )
    assert jobs.run_pending() == 1
    with sera.uow(installed, readonly=True) as uow:
        assert len(uow.session.execute(select(PrivacyRequest)).all()) == 1


def test_the_same_event_on_two_topics_is_two_deliveries(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera
) -> None:
    post(client, fake_shopify, "products/create", load("products/create"), event_id="evt-9")
    post(client, fake_shopify, "products/update", load("products/update"), event_id="evt-9")
    assert jobs.run_pending() == 2


def test_a_topic_sera_does_not_handle_is_acknowledged(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera
) -> None:
    before = row_counts(sera)
    assert post(client, fake_shopify, "inventory_levels/update", {"inventory_item_id": 1}).status_code == 200
    assert jobs.run_pending() == 0
    assert row_counts(sera) == before


def test_the_queue_carries_ids_and_the_payload_is_sealed(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera
) -> None:
    post(client, fake_shopify, "customers/redact", load("customers/redact"))
    queued = [repr(task.args) for task in jobs.huey.pending()]
    assert queued and all(SHOPPER_EMAIL not in text and SHOPPER_PHONE not in text for text in queued)
    with sera.uow(installed, readonly=True) as uow:
        event = uow.session.execute(select(ShopifyEvent)).scalar_one()
        assert SHOPPER_EMAIL.encode() not in event.payload
        assert json.loads(uow.vault.open(event, "payload") or "")["customer"]["email"] == SHOPPER_EMAIL
    jobs.run_pending()
    with sera.uow(installed, readonly=True) as uow:
        assert uow.session.execute(select(ShopifyEvent)).first() is None


def test_a_lost_enqueue_is_picked_up_by_the_outbox_sweep(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, sera: Sera, clock: Any
) -> None:
    post(client, fake_shopify, "products/create", load("products/create"))
    jobs.huey.flush()  # the queue lost it
    clock.advance(minutes=6)
    jobs.enqueue("shopify.pending_events")
    jobs.run_pending()
    with sera.uow(installed, readonly=True) as uow:
        assert uow.session.execute(select(Product.title)).scalar_one() == "Gravel King 54"


def test_a_body_that_is_not_a_json_object_is_refused(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any
) -> None:
    for body in (b"[1, 2]", b"not json", b'"text"'):
        signed, headers = fake_shopify.webhook("checkouts/create", body, SHOP)
        assert client.post("/shopify/webhooks", content=signed, headers=headers).status_code == 400
    assert jobs.run_pending() == 0


def test_without_an_app_secret_nothing_is_accepted(
    client: TestClient, fake_shopify: FakeShopify, installed: str, sera: Sera
) -> None:
    sera.settings = sera.settings.model_copy(update={"shopify_api_secret": None})
    assert post(client, fake_shopify, "shop/redact", load("shop/redact")).status_code == 401
    assert merchant_id_for_domain(sera, SHOP) == installed
    assert API_SECRET  # the fake still signs with the real one
