"""The agent's view of orders: a port with a local implementation (orders from the shop
file) and Shopify's Admin API (``sera.adapters.shopify.orders``). Orders are read per
call, never cached."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Protocol


@dataclass(frozen=True)
class OrderItemInfo:
    title: str
    quantity: int


@dataclass(frozen=True)
class OrderInfo:
    number: str
    status: str  # unfulfilled | processing | shipped | delivered | cancelled | refunded
    placed_on: date
    items: tuple[OrderItemInfo, ...]
    total: float | None
    currency: str
    customer_phone: str | None
    customer_email: str | None
    tracking_carrier: str | None = None
    tracking_number: str | None = None
    tracking_eta: date | None = None


class OrdersUnavailableError(RuntimeError):
    """The order system could not be reached; the caller should hear that, not "no such order"."""


class OrdersPort(Protocol):
    def by_number(self, number: str) -> OrderInfo | None: ...

    def by_phone(self, phone: str) -> list[OrderInfo]:
        """Orders whose customer has this phone number, newest first."""
        ...
