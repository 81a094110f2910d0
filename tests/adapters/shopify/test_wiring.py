"""Live Shopify orders are wired where every Sera is built (``sera.bootstrap``), not by the web
app: `sera chat` and a job worker answer a Shopify shop's callers from Shopify, and no web
app is started here."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from click.testing import CliRunner

from sera import cli
from sera.adapters.shopify.app import shopify_app
from sera.adapters.shopify.client import admin_client
from sera.adapters.shopify.installs import authorize_url, complete_install
from sera.adapters.shopify.orders import ShopifyOrders
from sera.bootstrap import Sera, bootstrap
from sera.orders.local import LocalOrders
from sera.orders.source import orders_for
from tests.adapters.shopify.conftest import SHOP, SHOPPER_PHONE
from tests.adapters.shopify.test_orders import order_node
from tests.conftest import FakeClock, Personas
from tests.fakes.shopify_server import FakeShopify


def _install_without_the_web_app(sera: Sera) -> str:
    """The OAuth install done by its service functions: the merchant approves, Sera trades the code."""
    app = shopify_app(sera.settings)
    granted = httpx.get(authorize_url(app, SHOP, sera.clock()), follow_redirects=False)
    code = parse_qs(urlsplit(granted.headers["location"]).query)["code"][0]
    return complete_install(sera, admin_client(app), SHOP, code).merchant_id


def test_a_worker_chooses_shopify_for_an_installed_shop_and_local_orders_otherwise(
    fake_shopify: FakeShopify, shopify_sera: Sera, personas: Personas, clock: FakeClock
) -> None:
    merchant_id = _install_without_the_web_app(shopify_sera)
    worker = bootstrap(shopify_sera.settings, clock=clock)  # as `sera worker` builds its Sera
    try:
        with worker.uow(merchant_id, readonly=True) as uow:
            assert isinstance(orders_for(uow), ShopifyOrders)
        with worker.uow(personas.northside_id, readonly=True) as uow:
            assert isinstance(orders_for(uow), LocalOrders)
    finally:
        worker.close()


def test_sera_chat_tells_a_caller_about_their_shopify_order(
    fake_shopify: FakeShopify, shopify_sera: Sera, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    _install_without_the_web_app(shopify_sera)
    chat = bootstrap(shopify_sera.settings, clock=clock)  # the Sera `sera chat` builds from the settings
    monkeypatch.setattr(cli, "_sera", lambda generate_secrets=False: chat)
    try:
        result = CliRunner().invoke(
            cli.main, ["chat", "--shop", SHOP, "--caller", SHOPPER_PHONE], input="where is my order 1043\n"
        )
    finally:
        chat.close()
    assert result.exit_code == 0, result.output
    answer = result.stdout.splitlines()[1]
    assert answer.startswith("Agent: ") and "1043" in answer and "UPS" in answer
    assert fake_shopify.requests_to(SHOP, "graphql")[-1].body["variables"] == {"query": 'name:"#1043"'}
