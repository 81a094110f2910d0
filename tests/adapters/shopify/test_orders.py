"""Orders read live from Shopify's Admin GraphQL API (the fake), and the agent's lookup_order
choosing Shopify for a connected shop and Sera's own orders otherwise."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sera.adapters.shopify.app import shopify_app
from sera.adapters.shopify.client import ShopifyAdmin
from sera.adapters.shopify.orders import ShopifyOrders
from sera.adapters.shopify.tokens import ShopAccess
from sera.agent.context import Caller, TurnContext, load_shop
from sera.agent.service import Agent, ConversationRef
from sera.agent.tools import ToolRegistry
from sera.bootstrap import Sera
from sera.orders.local import LocalOrders
from sera.orders.ports import OrdersUnavailableError
from sera.orders.source import orders_for
from sera.storage.models import Order
from tests.adapters.shopify.conftest import SHOP, SHOPPER_EMAIL, SHOPPER_PHONE
from tests.conftest import Personas
from tests.fakes.shopify_server import FakeShopify


def order_node(name: str, **changes: Any) -> dict[str, Any]:
    """An Order as the Admin GraphQL API returns it for Sera's query."""
    node: dict[str, Any] = {
        "name": name,
        "createdAt": "2026-11-20T17:02:11Z",
        "processedAt": "2026-11-20T17:02:10Z",
        "cancelledAt": None,
        "email": SHOPPER_EMAIL,
        "phone": None,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "FULFILLED",
        "totalPriceSet": {"shopMoney": {"amount": "1149.0", "currencyCode": "USD"}},
        "customer": {"phone": SHOPPER_PHONE, "email": SHOPPER_EMAIL},
        "lineItems": {"nodes": [{"title": "Gravel King 54", "quantity": 1}]},
        "fulfillments": [
            {
                "displayStatus": "IN_TRANSIT",
                "estimatedDeliveryAt": "2026-11-29T20:00:00Z",
                "trackingInfo": [
                    {
                        "company": "UPS",
                        "number": "1Z999AA10123456784",
                        "url": "https://www.ups.com/track?tracknum=1Z999AA10123456784",
                    }
                ],
            }
        ],
    }
    node.update(changes)
    return node


@pytest.fixture
def orders(fake_shopify: FakeShopify, installed: str, shopify_sera: Sera) -> ShopifyOrders:
    token = next(iter(fake_shopify.shops[SHOP].tokens))
    return ShopifyOrders(ShopifyAdmin(shopify_app(shopify_sera.settings)), lambda: ShopAccess(SHOP, token))


def test_an_order_by_its_number(fake_shopify: FakeShopify, orders: ShopifyOrders) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    fake_shopify.add_order(SHOP, order_node("#10430"))
    order = orders.by_number("1043")
    assert order is not None
    assert (order.number, order.status, order.placed_on, order.total, order.currency) == (
        "1043",
        "shipped",
        date(2026, 11, 20),
        1149.0,
        "USD",
    )
    assert [(i.title, i.quantity) for i in order.items] == [("Gravel King 54", 1)]
    assert (order.tracking_carrier, order.tracking_number, order.tracking_eta) == (
        "UPS",
        "1Z999AA10123456784",
        date(2026, 11, 29),
    )
    assert (order.customer_phone, order.customer_email) == (SHOPPER_PHONE, SHOPPER_EMAIL)
    request = fake_shopify.requests_to(SHOP, "graphql.json")[-1]
    assert request.path == "/admin/api/2025-10/graphql.json"
    assert request.body["variables"] == {"query": 'name:"#1043"'}
    assert request.headers["X-Shopify-Access-Token"].startswith("shpat_")


def test_an_unknown_number_is_none(fake_shopify: FakeShopify, orders: ShopifyOrders) -> None:
    assert orders.by_number("#9999") is None


def test_the_callers_orders_by_phone_newest_first(fake_shopify: FakeShopify, orders: ShopifyOrders) -> None:
    fake_shopify.add_order(SHOP, order_node("#1040", processedAt="2026-10-01T10:00:00Z"))
    fake_shopify.add_order(SHOP, order_node("#1043"))
    fake_shopify.add_order(SHOP, order_node("#1050", customer={"phone": "+13125550111", "email": None}))
    assert [o.number for o in orders.by_phone(SHOPPER_PHONE)] == ["1043", "1040"]
    assert orders.by_phone("+13125550177") == []


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"cancelledAt": "2026-11-21T10:00:00Z"}, "cancelled"),
        ({"displayFinancialStatus": "REFUNDED"}, "refunded"),
        (
            {"fulfillments": [{"displayStatus": "DELIVERED", "estimatedDeliveryAt": None, "trackingInfo": []}]},
            "delivered",
        ),
        ({"displayFulfillmentStatus": "IN_PROGRESS", "fulfillments": []}, "processing"),
        ({"displayFulfillmentStatus": "UNFULFILLED", "fulfillments": []}, "unfulfilled"),
    ],
)
def test_shopify_states_in_the_agents_words(
    fake_shopify: FakeShopify, orders: ShopifyOrders, changes: dict[str, Any], status: str
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043", **changes))
    order = orders.by_number("1043")
    assert order is not None and order.status == status


def test_shopify_unreachable_or_throttled_is_said_so(fake_shopify: FakeShopify, orders: ShopifyOrders) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    fake_shopify.throttle_next()
    with pytest.raises(OrdersUnavailableError):
        orders.by_number("1043")
    for _ in range(3):
        fake_shopify.fail_next(503)
    with pytest.raises(OrdersUnavailableError):
        orders.by_phone(SHOPPER_PHONE)
    assert orders.by_number("1043") is not None  # and it recovers


def _lookup(sera: Sera, merchant_id: str, caller: str | None, args: dict[str, Any]) -> Any:
    with sera.uow(merchant_id) as uow:
        ctx = TurnContext(uow, load_shop(uow), Caller(caller), "voice", sera.clock())
        return ToolRegistry([]).run(ctx, "lookup_order", args)


def test_lookup_order_reads_shopify_for_a_connected_shop(
    client: TestClient, fake_shopify: FakeShopify, installed: str, shopify_sera: Sera
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    with shopify_sera.uow(installed) as uow:
        assert isinstance(orders_for(uow), ShopifyOrders)
    mine = _lookup(shopify_sera, installed, SHOPPER_PHONE, {"order_number": "1043"})
    assert mine.data == {"found": True, "verified": True, "orders": ["1043"]}
    assert "has shipped with UPS" in mine.text
    stranger = _lookup(shopify_sera, installed, "+13125550177", {"order_number": "1043"})
    assert stranger.data["verified"] is False and "UPS" not in stranger.text
    by_email = _lookup(shopify_sera, installed, "+13125550177", {"order_number": "1043", "email": SHOPPER_EMAIL})
    assert by_email.data["verified"] is True
    by_phone = _lookup(shopify_sera, installed, SHOPPER_PHONE, {})
    assert by_phone.data["orders"] == ["1043"]


def test_lookup_order_says_when_shopify_is_down(
    client: TestClient, fake_shopify: FakeShopify, installed: str, shopify_sera: Sera
) -> None:
    for _ in range(3):
        fake_shopify.fail_next(502)
    result = _lookup(shopify_sera, installed, SHOPPER_PHONE, {"order_number": "1043"})
    assert result.data == {"found": False, "unavailable": True}


def test_a_shop_without_shopify_keeps_its_own_orders(
    client: TestClient, fake_shopify: FakeShopify, personas: Personas, shopify_sera: Sera
) -> None:
    with shopify_sera.uow(personas.northside_id) as uow:
        assert isinstance(orders_for(uow), LocalOrders)
    result = _lookup(shopify_sera, personas.northside_id, "+13125550142", {"order_number": "1042"})
    assert result.data["found"] is True
    assert not fake_shopify.requests_to(SHOP, "graphql")


def test_shopify_orders_are_never_stored(
    client: TestClient, fake_shopify: FakeShopify, installed: str, shopify_sera: Sera
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    _lookup(shopify_sera, installed, SHOPPER_PHONE, {"order_number": "1043"})
    with shopify_sera.uow(installed, readonly=True) as uow:
        assert uow.session.query(Order).count() == 0


def test_a_caller_hears_their_shopify_order(
    client: TestClient, fake_shopify: FakeShopify, installed: str, shopify_sera: Sera
) -> None:
    fake_shopify.add_order(SHOP, order_node("#1043"))
    agent = Agent(shopify_sera)
    ref = ConversationRef(installed, "voice", uuid.uuid4().hex)
    agent.start(ref, caller_phone=SHOPPER_PHONE)
    reply = agent.reply(ref, "where is my order 1043")
    assert "1043" in reply.text and "UPS" in reply.text
