"""The agent's OrdersPort on Shopify's Admin GraphQL API: orders read live, never stored.

By number: ``orders(query: "name:#1042")``. By the caller's phone: Shopify cannot search
orders by phone, so the customers with that phone are found first and their latest
orders read in the same query. The shop's token is asked for right before each request
(``access``), so an expiring token is refreshed first when due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sera.adapters.http import OutboundError
from sera.adapters.shopify.client import ShopifyAdmin
from sera.adapters.shopify.tokens import ShopAccess
from sera.customers.phones import try_normalize_phone
from sera.orders.ports import OrderInfo, OrderItemInfo, OrdersUnavailableError

log = logging.getLogger("sera.shopify")

ORDER_FIELDS = """
  name createdAt processedAt cancelledAt email phone
  displayFinancialStatus displayFulfillmentStatus
  totalPriceSet { shopMoney { amount currencyCode } }
  customer { phone email }
  lineItems(first: 20) { nodes { title quantity } }
  fulfillments(first: 5) { displayStatus estimatedDeliveryAt trackingInfo(first: 1) { company number url } }
"""
BY_NAME = "query SeraOrderByName($query: String!) { orders(first: 5, query: $query) { nodes {" + ORDER_FIELDS + "} } }"
BY_PHONE = (
    "query SeraOrdersByPhone($query: String!) { customers(first: 5, query: $query) { nodes {"
    " orders(first: 5, sortKey: PROCESSED_AT, reverse: true) { nodes {" + ORDER_FIELDS + "} } } } }"
)
DELIVERED = {"DELIVERED", "PICKED_UP"}
SHIPPED = {"FULFILLED", "PARTIALLY_FULFILLED"}
PROCESSING = {"IN_PROGRESS", "PENDING_FULFILLMENT", "SCHEDULED", "ON_HOLD"}


class ShopifyOrders:
    """One shop's orders; every call is one Admin API request.

    ``access`` gives the shop and a token good for a request now; it raises an
    OutboundError (a PermanentError when the shop has no usable token) otherwise.
    """

    def __init__(self, admin: ShopifyAdmin, access: Callable[[], ShopAccess], region: str = "US") -> None:
        self._admin = admin
        self._access = access
        self._region = region

    def by_number(self, number: str) -> OrderInfo | None:
        name = "#" + number.strip().lstrip("#")
        nodes = _nodes(self._query(BY_NAME, f'name:"{_quote(name)}"').get("orders"))
        exact = [node for node in nodes if str(node.get("name") or "") == name]
        return self._info(exact[0]) if exact else None

    def by_phone(self, phone: str) -> list[OrderInfo]:
        customers = _nodes(self._query(BY_PHONE, f'phone:"{_quote(phone)}"').get("customers"))
        orders = [self._info(node) for customer in customers for node in _nodes(customer.get("orders"))]
        return sorted(orders, key=lambda o: o.placed_on, reverse=True)

    def _query(self, query: str, search: str) -> dict[str, Any]:
        try:
            access = self._access()
            return self._admin.graphql(access.shop, access.token, query, {"query": search})
        except OutboundError as exc:
            log.warning("shopify orders unavailable", extra={"status": exc.status})
            raise OrdersUnavailableError("Shopify could not be reached") from None

    def _info(self, node: dict[str, Any]) -> OrderInfo:
        money = _obj(_obj(node.get("totalPriceSet")).get("shopMoney"))
        customer = _obj(node.get("customer"))
        fulfillment = _latest_fulfillment(node)
        tracking = _obj(next(iter(_list(fulfillment.get("trackingInfo"))), None))
        phone = str(node.get("phone") or customer.get("phone") or "")
        email = node.get("email") or customer.get("email")
        return OrderInfo(
            number=str(node.get("name") or "").lstrip("#"),
            status=_status(node, fulfillment),
            placed_on=_day(node.get("processedAt") or node.get("createdAt")) or date.min,
            items=tuple(
                OrderItemInfo(str(item.get("title") or ""), int(item.get("quantity") or 1))
                for item in _nodes(node.get("lineItems"))
            ),
            total=_amount(money.get("amount")),
            currency=str(money.get("currencyCode") or "USD"),
            customer_phone=try_normalize_phone(phone, self._region) if phone else None,
            customer_email=str(email).lower() if email else None,
            tracking_carrier=tracking.get("company"),
            tracking_number=tracking.get("number"),
            tracking_eta=_day(fulfillment.get("estimatedDeliveryAt")),
        )


def _status(node: dict[str, Any], fulfillment: dict[str, Any]) -> str:
    """Shopify's financial and fulfillment states in the port's words."""
    if node.get("cancelledAt"):
        return "cancelled"
    if node.get("displayFinancialStatus") == "REFUNDED":
        return "refunded"
    if fulfillment.get("displayStatus") in DELIVERED:
        return "delivered"
    state = node.get("displayFulfillmentStatus")
    if state in SHIPPED:
        return "shipped"
    return "processing" if state in PROCESSING else "unfulfilled"


def _latest_fulfillment(node: dict[str, Any]) -> dict[str, Any]:
    fulfillments = [_obj(f) for f in _list(node.get("fulfillments"))]
    return fulfillments[-1] if fulfillments else {}


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _nodes(connection: Any) -> list[dict[str, Any]]:
    return [_obj(node) for node in _list(_obj(connection).get("nodes"))]


def _day(value: Any) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).date()
    except ValueError:
        return None


def _amount(value: Any) -> float | None:
    try:
        return float(Decimal(str(value))) if value is not None else None
    except InvalidOperation:
        return None
