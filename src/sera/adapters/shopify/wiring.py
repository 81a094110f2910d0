"""Shopify wired to the capabilities' ports: live orders for every shop installed from Shopify.

``sera.bootstrap`` calls ``connect`` for every Sera it builds, so the web app, `sera chat`,
`sera eval` and the job workers all choose a shop's orders the same way.
"""

from __future__ import annotations

from sqlalchemy import select

from sera.adapters.shopify.app import ShopifyNotConfiguredError, shopify_app
from sera.adapters.shopify.client import ShopifyAdmin, admin_client
from sera.adapters.shopify.orders import ShopifyOrders
from sera.adapters.shopify.tokens import PROVIDER, ShopAccess, ShopifyAccessError, connected_shop, shop_access
from sera.bootstrap import Sera
from sera.customers.phones import region_of_locale
from sera.orders.ports import OrdersPort
from sera.orders.source import Source, connect_source, disconnect_source
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant


def orders_source(sera: Sera) -> Source:
    """A source that answers for shops installed from Shopify (and declines the others).

    A shop whose token Shopify refused still gets the Shopify port: its lookups say the
    orders are unavailable, rather than searching the shop file's (empty) orders.
    """

    def source(uow: UnitOfWork) -> OrdersPort | None:
        merchant_id = uow.merchant_id
        if merchant_id is None or connected_shop(uow) is None:
            return None
        try:
            app = shopify_app(sera.settings)
        except ShopifyNotConfiguredError:
            return None
        admin = admin_client(app)
        locale = uow.session.execute(select(Merchant.locale).where(Merchant.id == merchant_id)).scalar_one()
        return ShopifyOrders(admin, lambda: _access(sera, admin, merchant_id, uow), region_of_locale(locale))

    return source


def _access(sera: Sera, admin: ShopifyAdmin, merchant_id: str, uow: UnitOfWork) -> ShopAccess:
    """The token for the call about to be made, refreshed first when due (in the caller's unit of work)."""
    access = shop_access(sera, admin, merchant_id, uow=uow)
    if access is None:
        raise ShopifyAccessError("the shop was uninstalled")
    return access


def connect(sera: Sera) -> None:
    connect_source(PROVIDER, orders_source(sera))


def disconnect() -> None:
    disconnect_source(PROVIDER)
