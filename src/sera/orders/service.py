"""Changes to the orders Sera keeps itself (shops without a connected store)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import update

from sera.storage.database import UnitOfWork, rows
from sera.storage.models import Order


def redact_orders(uow: UnitOfWork, numbers: Iterable[str]) -> int:
    """Strip the customer from the named local orders (a store's erasure request names them).

    The order stays for the shop's counts; its sealed name, phone and email and its link
    to a customer go. Numbers are compared without a leading '#'. Returns orders changed.
    """
    wanted = {str(number).strip().lstrip("#") for number in numbers if str(number).strip()}
    if not wanted:
        return 0
    return rows(
        uow.session.execute(
            update(Order)
            .where(Order.number.in_(wanted))
            .values(customer_id=None, customer_name=None, customer_phone=None, customer_email=None)
        )
    )
