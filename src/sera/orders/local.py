"""Orders kept by Sera itself (from the shop file), for shops without Shopify."""

from __future__ import annotations

from sqlalchemy import select

from sera.orders.ports import OrderInfo, OrderItemInfo
from sera.storage.database import UnitOfWork
from sera.storage.models import Customer, Merchant, Order


class LocalOrders:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def _currency(self) -> str:
        return self._uow.session.execute(
            select(Merchant.currency).where(Merchant.id == self._uow.merchant_id)
        ).scalar_one()

    def _info(self, order: Order, currency: str) -> OrderInfo:
        fields = self._uow.vault.open_many(order, "customer_phone", "customer_email")
        return OrderInfo(
            number=order.number,
            status=order.status,
            placed_on=order.placed_on,
            items=tuple(OrderItemInfo(i["title"], int(i.get("quantity", 1))) for i in order.items),
            total=None if order.total_cents is None else order.total_cents / 100,
            currency=currency,
            customer_phone=fields["customer_phone"],
            customer_email=fields["customer_email"],
            tracking_carrier=order.tracking_carrier,
            tracking_number=order.tracking_number,
            tracking_eta=order.tracking_eta,
        )

    def by_number(self, number: str) -> OrderInfo | None:
        order = self._uow.session.execute(select(Order).where(Order.number == number.lstrip("#"))).scalar_one_or_none()
        return None if order is None else self._info(order, self._currency())

    def by_phone(self, phone: str) -> list[OrderInfo]:
        merchant_id = self._uow.merchant_id
        assert merchant_id is not None
        index = self._uow.vault.phone_index(merchant_id, phone)
        orders = self._uow.session.execute(
            select(Order)
            .join(Customer, Customer.id == Order.customer_id)
            .where(Customer.phone_bidx == index)
            .order_by(Order.placed_on.desc())
        ).scalars()
        currency = self._currency()
        return [self._info(order, currency) for order in orders]
