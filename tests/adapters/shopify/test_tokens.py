"""Shopify's expiring offline tokens: stored sealed at install, refreshed before an Admin API
call once due (saved before the call), one refresh at a time, a refused refresh asking for a
reinstall, and the non-expiring tokens of earlier installs still working."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from sera.adapters.http import PermanentError
from sera.adapters.shopify.app import shopify_app
from sera.adapters.shopify.client import RefreshRefusedError, ShopifyAdmin
from sera.adapters.shopify.installs import register_webhooks
from sera.adapters.shopify.tokens import ShopAccess, refresh_expiring_tokens, shop_access
from sera.agent.context import Caller, TurnContext, load_shop
from sera.agent.tools import ToolRegistry
from sera.bootstrap import Sera, bootstrap
from sera.merchants.providers import ProviderCredentials, provider_credentials, set_provider_account
from sera.storage.models import AuditEntry, ProviderAccount
from tests.adapters.shopify.conftest import SHOP, SHOPPER_PHONE, install
from tests.adapters.shopify.test_orders import order_node
from tests.conftest import FakeClock
from tests.fakes.shopify_server import FakeShopify, RecordedRequest

HOUR = 3600
NINETY_DAYS = 90 * 24 * 3600


def _stored(sera: Sera, merchant_id: str) -> ProviderCredentials:
    with sera.uow(merchant_id, readonly=True) as uow:
        credentials = provider_credentials(uow, "shopify")
    assert credentials is not None
    return credentials


def _admin(sera: Sera) -> ShopifyAdmin:
    return ShopifyAdmin(shopify_app(sera.settings))


def _refreshes(fake: FakeShopify) -> list[RecordedRequest]:
    return [r for r in fake.requests_to(SHOP, "access_token") if r.body.get("grant_type") == "refresh_token"]


def _ask_for_order(sera: Sera, merchant_id: str) -> dict[str, Any]:
    """One agent turn looking up order 1043 for its customer, committed as a turn is."""
    with sera.uow(merchant_id) as uow:
        ctx = TurnContext(uow, load_shop(uow), Caller(SHOPPER_PHONE), "voice", sera.clock())
        result = ToolRegistry([]).run(ctx, "lookup_order", {"order_number": "1043"})
        uow.commit()
    data: dict[str, Any] = result.data
    return data


def test_install_asks_for_an_expiring_token_and_stores_the_pair_sealed(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    exchange = fake_shopify.requests_to(SHOP, "access_token")[0]
    assert exchange.body["expiring"] == "1"
    stored = _stored(shopify_sera, installed)
    assert fake_shopify.shops[SHOP].valid(stored.secret, clock())
    assert stored.refresh_secret in fake_shopify.shops[SHOP].refresh_tokens
    assert stored.expires_at == clock.now + timedelta(seconds=HOUR)
    assert stored.refresh_expires_at == clock.now + timedelta(seconds=NINETY_DAYS)
    with shopify_sera.uow(installed, readonly=True) as uow:
        sealed = uow.session.execute(select(ProviderAccount.refresh_secret)).scalar_one()
    assert sealed is not None and stored.refresh_secret is not None
    assert stored.refresh_secret.encode() not in sealed


@pytest.mark.parametrize("later", [timedelta(minutes=56), timedelta(hours=2)], ids=["about-to-expire", "expired"])
def test_a_due_token_is_refreshed_and_saved_before_the_call(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock, later: timedelta
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    first = _stored(shopify_sera, installed)
    clock.now += later

    assert _ask_for_order(shopify_sera, installed) == {"found": True, "verified": True, "orders": ["1043"]}

    (refresh,) = _refreshes(fake_shopify)
    assert refresh.body["refresh_token"] == first.refresh_secret
    assert refresh.body["client_id"] and refresh.body["client_secret"]
    stored = _stored(shopify_sera, installed)
    assert stored.secret != first.secret and stored.refresh_secret != first.refresh_secret
    assert stored.expires_at == clock.now + timedelta(seconds=HOUR)
    assert stored.refresh_expires_at == clock.now + timedelta(seconds=NINETY_DAYS)
    # the order was read with the new token, after the refresh
    calls = fake_shopify.requests_to(SHOP)
    lookup = calls[-1]
    assert calls.index(refresh) < calls.index(lookup)
    assert lookup.headers["X-Shopify-Access-Token"] == stored.secret
    assert not fake_shopify.shops[SHOP].valid(first.secret, clock())  # Shopify keeps one expiring token


def test_a_fresh_token_is_not_refreshed(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    clock.advance(minutes=54)
    assert _ask_for_order(shopify_sera, installed)["found"] is True
    assert _refreshes(fake_shopify) == []


def test_webhook_registration_refreshes_first(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    fake_shopify.shops[SHOP].subscriptions.clear()
    clock.advance(hours=5)
    assert register_webhooks(shopify_sera, _admin(shopify_sera), installed) == 8
    assert len(_refreshes(fake_shopify)) == 1


def test_concurrent_refreshes_spend_the_refresh_token_once(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    """Two processes find the token due at once: one refreshes, the other uses what it saved."""
    other = bootstrap(shopify_sera.settings, clock=clock)  # a second process: its own engines
    clock.advance(hours=2)
    fake_shopify.delay_token_answers(0.5)  # the first refresh is still under way when the second looks
    start = threading.Barrier(2)
    got: list[ShopAccess | None] = []

    def refresh(sera: Sera) -> None:
        start.wait()
        got.append(shop_access(sera, _admin(sera), installed))

    threads = [threading.Thread(target=refresh, args=(s,)) for s in (shopify_sera, other)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        other.close()

    assert len(_refreshes(fake_shopify)) == 1
    assert len(got) == 2 and got[0] == got[1] and got[0] is not None
    stored = _stored(shopify_sera, installed)
    assert stored.secret == got[0].token and fake_shopify.shops[SHOP].valid(stored.secret, clock())
    assert stored.refresh_secret in fake_shopify.shops[SHOP].refresh_tokens


def test_a_reused_refresh_token_is_refused(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    admin = _admin(shopify_sera)
    first = _stored(shopify_sera, installed).refresh_secret
    assert first is not None
    for _ in range(2):  # the second refresh uses the first one's replacement: the first is retired
        clock.advance(hours=2)
        assert shop_access(shopify_sera, admin, installed) is not None
    with pytest.raises(RefreshRefusedError):
        admin.refresh(SHOP, first)
    refused = fake_shopify.requests_to(SHOP, "access_token")[-1]
    assert refused.body["refresh_token"] == first
    # what Sera holds still works
    stored = _stored(shopify_sera, installed)
    assert stored.refused_at is None and fake_shopify.shops[SHOP].valid(stored.secret, clock())


def test_a_refused_refresh_asks_for_a_reinstall_and_callers_hear_unavailable(
    client: TestClient,
    fake_shopify: FakeShopify,
    installed: str,
    jobs: Any,
    shopify_sera: Sera,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    before = _stored(shopify_sera, installed)
    fake_shopify.revoke_refresh_tokens(SHOP)
    clock.advance(hours=2)

    with caplog.at_level(logging.INFO, logger="sera"):
        assert _ask_for_order(shopify_sera, installed) == {"found": False, "unavailable": True}
    assert _ask_for_order(shopify_sera, installed) == {"found": False, "unavailable": True}
    assert len(_refreshes(fake_shopify)) == 1  # refused once: not asked again until a reinstall

    stored = _stored(shopify_sera, installed)
    assert stored.refused_at == clock.now
    with shopify_sera.uow(readonly=True) as uow:
        (entry,) = uow.session.execute(
            select(AuditEntry).where(AuditEntry.action == "shopify.reinstall_needed")
        ).scalars()
    assert entry.merchant_id == installed and entry.details == {"status": 400}
    warning = next(r for r in caplog.records if "install the app again" in r.getMessage())
    logged = str(warning.__dict__)
    assert installed in logged
    for private in (SHOP, SHOPPER_PHONE, before.secret, str(before.refresh_secret)):
        assert private not in logged

    jobs.enqueue("shopify.register_webhooks", installed)
    jobs.run_pending()  # nothing to do without a token: no error, no retry storm
    assert len(_refreshes(fake_shopify)) == 1

    page = client.get("/shopify/app", params={"id_token": fake_shopify.session_token(SHOP, clock())})
    assert page.status_code == 200
    assert f'<a href="/shopify/install?shop={SHOP}" target="_top">Install Sera again</a>' in page.text

    assert install(client, fake_shopify).status_code == 302  # the merchant installs again
    assert _stored(shopify_sera, installed).refused_at is None
    assert _ask_for_order(shopify_sera, installed)["found"] is True
    page = client.get("/shopify/app", params={"id_token": fake_shopify.session_token(SHOP, clock())})
    assert "Install Sera again" not in page.text


def test_a_refresh_token_past_its_90_days_asks_for_a_reinstall_without_asking_shopify(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    clock.advance(days=91)
    assert _ask_for_order(shopify_sera, installed) == {"found": False, "unavailable": True}
    assert _refreshes(fake_shopify) == []
    assert _stored(shopify_sera, installed).refused_at == clock.now


def test_a_refresh_shopify_cannot_answer_keeps_the_pair(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    first = _stored(shopify_sera, installed)
    clock.advance(minutes=57)  # due, but still valid for three minutes: used meanwhile
    for _ in range(3):
        fake_shopify.fail_next(503)
    assert _ask_for_order(shopify_sera, installed)["found"] is True
    assert _stored(shopify_sera, installed) == first

    clock.advance(minutes=10)  # expired, and Shopify still down
    for _ in range(3):
        fake_shopify.fail_next(503)
    assert _ask_for_order(shopify_sera, installed) == {"found": False, "unavailable": True}
    assert _stored(shopify_sera, installed) == first  # nothing lost, nothing marked

    assert _ask_for_order(shopify_sera, installed)["found"] is True  # Shopify is back
    assert _stored(shopify_sera, installed).secret != first.secret


def test_a_misconfigured_app_is_not_the_shops_fault(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    shopify_sera.settings = shopify_sera.settings.model_copy(
        update={"shopify_api_secret": SecretStr("shpss_" + "0" * 32)}
    )
    clock.advance(hours=2)
    assert _ask_for_order(shopify_sera, installed) == {"found": False, "unavailable": True}  # invalid_client
    assert _stored(shopify_sera, installed).refused_at is None


def test_a_non_expiring_token_from_an_earlier_install_keeps_working(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    legacy = fake_shopify.legacy_token(SHOP)
    set_provider_account(shopify_sera, installed, "shopify", account_id=SHOP, secret=legacy, actor="test")
    fake_shopify.add_order(SHOP, order_node("#1043"))
    clock.advance(days=200)

    assert _ask_for_order(shopify_sera, installed)["found"] is True
    assert fake_shopify.requests_to(SHOP, "graphql")[-1].headers["X-Shopify-Access-Token"] == legacy
    assert _refreshes(fake_shopify) == []
    assert _stored(shopify_sera, installed) == ProviderCredentials(SHOP, legacy)


def test_an_expired_access_token_is_refused_by_shopify(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    """What makes the refresh tests mean something: an hour on, the old token no longer works."""
    token = _stored(shopify_sera, installed).secret
    clock.advance(minutes=61)
    with pytest.raises(PermanentError) as refused:
        _admin(shopify_sera).shop_profile(SHOP, token)
    assert refused.value.status == 401


def test_the_daily_job_refreshes_a_quiet_shop_before_its_refresh_token_runs_out(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    first = _stored(shopify_sera, installed)
    clock.advance(days=80)  # no Admin API call for 80 days: the access token long expired
    assert refresh_expiring_tokens(shopify_sera, _admin(shopify_sera)) == 0  # ten days left: not yet
    assert _refreshes(fake_shopify) == []

    clock.advance(days=4)
    assert refresh_expiring_tokens(shopify_sera, _admin(shopify_sera)) == 1
    (refresh,) = _refreshes(fake_shopify)
    assert refresh.body["refresh_token"] == first.refresh_secret
    stored = _stored(shopify_sera, installed)
    assert stored.refresh_expires_at == clock.now + timedelta(seconds=NINETY_DAYS)
    assert fake_shopify.shops[SHOP].valid(stored.secret, clock())

    clock.advance(days=1)
    assert refresh_expiring_tokens(shopify_sera, _admin(shopify_sera)) == 0


def test_the_daily_job_marks_a_refused_shop_once_and_goes_on(
    fake_shopify: FakeShopify, installed: str, shopify_sera: Sera, clock: FakeClock
) -> None:
    fake_shopify.revoke_refresh_tokens(SHOP)
    clock.advance(days=85)
    assert refresh_expiring_tokens(shopify_sera, _admin(shopify_sera)) == 1
    assert _stored(shopify_sera, installed).refused_at == clock.now
    assert refresh_expiring_tokens(shopify_sera, _admin(shopify_sera)) == 0  # waits for a reinstall
    assert len(_refreshes(fake_shopify)) == 1
