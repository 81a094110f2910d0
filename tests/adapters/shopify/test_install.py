"""Installing the app through Shopify's OAuth (against the fake), reinstalling, and every
way a forged or stale install is refused."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sera.agent.context import load_shop
from sera.bootstrap import Sera
from sera.merchants.providers import provider_credentials
from sera.merchants.service import merchant_id_for_domain
from sera.storage.models import AuditEntry, Merchant, MerchantPhoneNumber, ProviderAccount
from tests.adapters.shopify.conftest import API_KEY, SHOP, install, load, post, row_counts
from tests.conftest import FakeClock
from tests.fakes.shopify_server import FakeShopify


def _token(sera: Sera, merchant_id: str) -> tuple[str | None, str]:
    with sera.uow(merchant_id, readonly=True) as uow:
        credentials = provider_credentials(uow, "shopify")
        assert credentials is not None
        return credentials.account_id, credentials.secret


def test_install_end_to_end(client: TestClient, fake_shopify: FakeShopify, jobs: Any, shopify_sera: Sera) -> None:
    start = client.get("/shopify/install", params={"shop": SHOP}, follow_redirects=False)
    authorize = urlsplit(start.headers["location"])
    asked = parse_qs(authorize.query)
    assert authorize.path == f"/{SHOP}/admin/oauth/authorize"
    assert asked["client_id"] == [API_KEY]
    assert asked["scope"] == ["read_orders,read_customers,read_products"]
    assert asked["redirect_uri"] == ["https://sera.test/shopify/callback"]

    response = install(client, fake_shopify)

    assert response.status_code == 302
    assert response.headers["location"] == f"https://{SHOP}/admin/apps/{API_KEY}"
    merchant_id = merchant_id_for_domain(shopify_sera, SHOP)
    assert merchant_id is not None
    with shopify_sera.uow(merchant_id, readonly=True) as uow:
        merchant = uow.session.execute(select(Merchant)).scalar_one()
        assert (merchant.name, merchant.timezone, merchant.currency, merchant.status) == (
            "Lakeside Bikes",
            "America/Chicago",
            "USD",
            "active",
        )
        assert uow.session.execute(select(MerchantPhoneNumber)).first() is None
        assert load_shop(uow).name == "Lakeside Bikes"  # a shop without numbers is a valid shop
        sealed = uow.session.execute(select(ProviderAccount.secret)).scalar_one()
    shop, token = _token(shopify_sera, merchant_id)
    assert shop == SHOP and token in fake_shopify.shops[SHOP].tokens
    assert token.encode() not in sealed

    jobs.run_pending()
    subscriptions = fake_shopify.shops[SHOP].subscriptions
    assert {s["topic"] for s in subscriptions} == {
        "APP_UNINSTALLED",
        "CHECKOUTS_CREATE",
        "CHECKOUTS_UPDATE",
        "ORDERS_CREATE",
        "ORDERS_UPDATED",
        "PRODUCTS_CREATE",
        "PRODUCTS_UPDATE",
        "PRODUCTS_DELETE",
    }
    assert {s["uri"] for s in subscriptions} == {"https://sera.test/shopify/webhooks"}


def test_reinstall_replaces_the_token_and_cancels_the_deletion(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, shopify_sera: Sera, clock: FakeClock
) -> None:
    _, first_token = _token(shopify_sera, installed)
    fake_shopify.uninstall(SHOP)
    assert post(client, fake_shopify, "app/uninstalled", load("app/uninstalled")).status_code == 200
    jobs.run_pending()
    with shopify_sera.uow(installed, readonly=True) as uow:
        assert uow.session.execute(select(Merchant.status)).scalar_one() == "uninstalled"
        assert provider_credentials(uow, "shopify") is None

    clock.advance(hours=3)
    assert install(client, fake_shopify).status_code == 302
    jobs.run_pending()

    assert merchant_id_for_domain(shopify_sera, SHOP) == installed
    _, second_token = _token(shopify_sera, installed)
    assert second_token != first_token and second_token in fake_shopify.shops[SHOP].tokens
    with shopify_sera.uow(installed, readonly=True) as uow:
        merchant = uow.session.execute(select(Merchant)).scalar_one()
        assert (merchant.status, merchant.uninstalled_at) == ("active", None)
    assert len(fake_shopify.shops[SHOP].subscriptions) == 8  # registered again after Shopify dropped them

    clock.advance(hours=72)
    jobs.enqueue("shops.pending_deletion")
    jobs.run_pending()
    assert merchant_id_for_domain(shopify_sera, SHOP) == installed  # the scheduled deletion is off


def test_installing_twice_is_one_merchant_and_webhooks_are_not_duplicated(
    client: TestClient, fake_shopify: FakeShopify, installed: str, jobs: Any, shopify_sera: Sera
) -> None:
    assert install(client, fake_shopify).status_code == 302
    jobs.run_pending()
    with shopify_sera.uow(readonly=True) as uow:
        assert uow.session.execute(select(Merchant.id).where(Merchant.domain == SHOP)).scalars().all() == [installed]
    assert len(fake_shopify.shops[SHOP].subscriptions) == 8


@pytest.mark.parametrize(
    "shop",
    [
        "",
        "evil.example.com",
        "lakeside-bikes.myshopify.com.evil.example",
        "https://lakeside-bikes.myshopify.com",
        "lakeside-bikes.myshopify.com/admin",
        "-lakeside.myshopify.com",
        "lakeside_bikes.myshopify.com",
        "lakeside-bikes.myshopify.com:443",
    ],
)
def test_install_refuses_a_shop_that_is_not_a_shopify_domain(client: TestClient, shop: str) -> None:
    response = client.get("/shopify/install", params={"shop": shop}, follow_redirects=False)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_an_install_request_with_a_forged_hmac_is_refused(client: TestClient, fake_shopify: FakeShopify) -> None:
    signed = fake_shopify.sign_query({"shop": SHOP, "timestamp": str(int(time.time()))})
    assert client.get(f"/shopify/install?{signed}", follow_redirects=False).status_code == 302
    forged = signed.replace("hmac=", "hmac=0")
    assert client.get(f"/shopify/install?{forged}", follow_redirects=False).status_code == 401


def _callback(client: TestClient, fake: FakeShopify, state: str, shop: str = SHOP) -> httpx.Response:
    """A callback Shopify really signed, carrying the given state."""
    query = fake.sign_query(
        {"code": "0907a61c0c8d55e99db179b68161bc00", "shop": shop, "state": state, "timestamp": str(int(time.time()))}
    )
    return client.get(f"/shopify/callback?{query}", follow_redirects=False)


def _state_for(client: TestClient, shop: str) -> str:
    location = client.get("/shopify/install", params={"shop": shop}, follow_redirects=False).headers["location"]
    return parse_qs(urlsplit(location).query)["state"][0]


def _nothing_installed(sera: Sera, fake: FakeShopify, before: dict[str, int]) -> None:
    after = row_counts(sera)
    assert after["merchants"] == before["merchants"] and after["provider_accounts"] == before["provider_accounts"]
    assert not fake.requests_to(SHOP, "access_token")


def test_a_forged_state_is_refused(client: TestClient, fake_shopify: FakeShopify, shopify_sera: Sera) -> None:
    before = row_counts(shopify_sera)
    real = _state_for(client, SHOP)
    nonce, expires, signature = real.split(".")
    for forged in ("", "abc", f"{nonce}.{int(expires) + 3600}.{signature}", f"x{nonce}.{expires}.{signature}"):
        assert _callback(client, fake_shopify, forged).status_code == 400
    _nothing_installed(shopify_sera, fake_shopify, before)


def test_a_state_issued_for_another_shop_is_refused(
    client: TestClient, fake_shopify: FakeShopify, shopify_sera: Sera
) -> None:
    fake_shopify.add_shop("attacker.myshopify.com", "Attacker")
    before = row_counts(shopify_sera)
    assert _callback(client, fake_shopify, _state_for(client, "attacker.myshopify.com")).status_code == 400
    _nothing_installed(shopify_sera, fake_shopify, before)


def test_an_expired_state_is_refused(
    client: TestClient, fake_shopify: FakeShopify, shopify_sera: Sera, clock: FakeClock
) -> None:
    state = _state_for(client, SHOP)
    clock.advance(minutes=11)
    before = row_counts(shopify_sera)
    assert _callback(client, fake_shopify, state).status_code == 400
    _nothing_installed(shopify_sera, fake_shopify, before)


def test_a_state_is_good_for_one_callback_only(
    client: TestClient, fake_shopify: FakeShopify, shopify_sera: Sera
) -> None:
    start = client.get("/shopify/install", params={"shop": SHOP}, follow_redirects=False)
    granted = httpx.get(start.headers["location"], follow_redirects=False)
    back = httpx.URL(granted.headers["location"])
    callback = f"{back.path}?{back.query.decode()}"
    assert client.get(callback, follow_redirects=False).status_code == 302
    exchanges = len(fake_shopify.requests_to(SHOP, "access_token"))
    assert client.get(callback, follow_redirects=False).status_code == 400
    assert len(fake_shopify.requests_to(SHOP, "access_token")) == exchanges


def test_a_callback_not_signed_by_shopify_is_refused(
    client: TestClient, fake_shopify: FakeShopify, shopify_sera: Sera
) -> None:
    before = row_counts(shopify_sera)
    state = _state_for(client, SHOP)
    query = f"code=abc&shop={SHOP}&state={state}&timestamp={int(time.time())}"
    assert client.get(f"/shopify/callback?{query}", follow_redirects=False).status_code == 401
    assert client.get(f"/shopify/callback?{query}&hmac={'0' * 64}", follow_redirects=False).status_code == 401
    _nothing_installed(shopify_sera, fake_shopify, before)


def test_a_code_shopify_does_not_know_is_refused(
    client: TestClient, fake_shopify: FakeShopify, shopify_sera: Sera
) -> None:
    before = row_counts(shopify_sera)
    assert _callback(client, fake_shopify, _state_for(client, SHOP)).status_code == 400
    assert row_counts(shopify_sera)["merchants"] == before["merchants"]


def test_the_install_is_audited_without_the_token(installed: str, shopify_sera: Sera) -> None:
    _, token = _token(shopify_sera, installed)
    with shopify_sera.uow(readonly=True) as uow:
        entries = uow.session.execute(select(AuditEntry).where(AuditEntry.merchant_id == installed)).scalars().all()
    actions = [e.action for e in entries]
    assert "shop.installed" in actions and "shopify.webhooks_registered" in actions
    assert all(token not in str(e.details) for e in entries)
