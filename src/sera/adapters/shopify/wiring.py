"""Shopify wired to the capabilities' ports: live orders for every shop with a Shopify token."""

from __future__ import annotations

from sqlalchemy import select

from sera.adapters.shopify.app import ShopifyNotConfiguredError, shopify_app
from sera.adapters.shopify.client import admin_client
from sera.adapters.shopify.installs import PROVIDER
from sera.adapters.shopify.orders import ShopifyOrders
from sera.bootstrap import Sera
from sera.customers.phones import region_of_locale
from sera.merchants.providers import provider_credentials
from sera.orders.ports import OrdersPort
from sera.orders.source import Source, connect_source, disconnect_source
from sera.storage.database import UnitOfWork
from sera.storage.models import Merchant


def orders_source(sera: Sera) -> Source:
    """A source that answers for shops holding a Shopify token (and declines the others)."""

    def source(uow: UnitOfWork) -> OrdersPort | None:
        credentials = provider_credentials(uow, PROVIDER)
        if credentials is None or not credentials.account_id or not credentials.secret:
            return None
        try:
            app = shopify_app(sera.settings)
        except ShopifyNotConfiguredError:
            return None
        locale = uow.session.execute(select(Merchant.locale).where(Merchant.id == uow.merchant_id)).scalar_one()
        return ShopifyOrders(admin_client(app), credentials.account_id, credentials.secret, region_of_locale(locale))

    return source


def connect(sera: Sera) -> None:
    connect_source(PROVIDER, orders_source(sera))


def disconnect() -> None:
    disconnect_source(PROVIDER)
